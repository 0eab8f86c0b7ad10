// RequestParser: what it accepts and how it reads it (methods, versions, keep-alive, bodies,
// pipelining, one byte at a time), and the status of every refusal: 400 for malformed input,
// 413/431 for limits, 501 for an unknown transfer coding, 505 for another HTTP version.
#include "herdless/http/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herdless::http {
namespace {

using Event = RequestParser::Event;

// What the parser reported for one request (or the error that ended the input).
struct Outcome {
  Event event = Event::need_more;
  int status = 0;  // error status
  Method method = Method::other;
  int minor = -1;
  bool keep_alive = false;
  bool expect_continue = false;
  std::string target;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{event " << static_cast<int>(o.event) << " status " << o.status << " method "
            << static_cast<int>(o.method) << " minor " << o.minor << " keep_alive " << o.keep_alive << " target '"
            << o.target << "'}";
}

// Feeds `input` in pieces of `piece` bytes (0: all at once); returns each complete request
// and a final error, if any. head_done events are not listed.
std::vector<Outcome> parse(std::string_view input, size_t piece = 0, Limits limits = Limits()) {
  RequestParser parser(limits, true);
  std::vector<Outcome> out;
  while (!input.empty()) {
    std::string_view chunk = piece == 0 ? input : input.substr(0, piece);
    input.remove_prefix(chunk.size());
    while (!chunk.empty()) {
      const auto progress = parser.feed(chunk);
      EXPECT_LE(progress.consumed, chunk.size());
      chunk.remove_prefix(progress.consumed);
      if (progress.event == Event::need_more) {
        EXPECT_TRUE(chunk.empty());
        break;
      }
      if (progress.event == Event::head_done) continue;
      const RequestHead& head = parser.head();
      out.push_back({progress.event, progress.event == Event::error ? parser.error_status() : 0, head.method,
                     head.minor_version, head.keep_alive, head.expect_continue, std::string(parser.target())});
      if (progress.event == Event::error) return out;
    }
  }
  return out;
}

// The status of the first error in `input`, or 0 if none.
int status_of(std::string_view input, Limits limits = Limits()) {
  const auto outcomes = parse(input, 0, limits);
  return !outcomes.empty() && outcomes.back().event == Event::error ? outcomes.back().status : 0;
}

Outcome ok(Method method, int minor, bool keep_alive, std::string target = "/") {
  return {Event::request_done, 0, method, minor, keep_alive, false, std::move(target)};
}

TEST(HttpParser, SimpleGet) {
  const auto r = parse("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], ok(Method::get, 1, true, "/index.html?q=1"));
}

TEST(HttpParser, HeadAndOtherMethods) {
  EXPECT_EQ(parse("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").at(0).method, Method::head);
  for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "get", "GETX", "X-CUSTOM!"}) {
    const auto r = parse(std::string(m) + " / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(r.size(), 1u) << m;
    EXPECT_EQ(r[0].event, Event::request_done) << m;
    EXPECT_EQ(r[0].method, Method::other) << m;
  }
}

TEST(HttpParser, KeepAliveRules) {
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").at(0).keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").at(0).keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n").at(0).keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n").at(0).keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").at(0).keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").at(0).keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").at(0).keep_alive);
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n").at(0).minor, 0);
  EXPECT_EQ(parse("GET / HTTP/1.9\r\nHost: x\r\n\r\n").at(0).minor, 9);  // a later 1.x reads as 1.1
}

TEST(HttpParser, PipelinedRequestsInOrder) {
  const std::string input =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /d HTTP/1.0\r\n\r\n";
  const std::vector<Outcome> want = {ok(Method::get, 1, true, "/a"), ok(Method::head, 1, true, "/b"),
                                     ok(Method::other, 1, true, "/c"), ok(Method::get, 0, false, "/d")};
  EXPECT_EQ(parse(input), want);
  for (size_t piece : {1u, 2u, 3u, 7u, 13u}) EXPECT_EQ(parse(input, piece), want) << "pieces of " << piece;
}

TEST(HttpParser, OneByteAtATimeMatchesAllAtOnceForEveryCase) {
  const char* cases[] = {
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: y\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
  };
  for (const char* c : cases) EXPECT_EQ(parse(c, 1), parse(c)) << c;
}

TEST(HttpParser, LeadingEmptyLinesAreIgnored) {
  EXPECT_EQ(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::vector<Outcome>{ok(Method::get, 1, true)});
}

TEST(HttpParser, ContentLengthBodyIsConsumedAndDropped) {
  const std::string input = "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789";
  RequestParser parser;
  auto p = parser.feed(input);
  EXPECT_EQ(p.event, Event::head_done);
  EXPECT_TRUE(parser.head().has_body);
  p = parser.feed(std::string_view(input).substr(p.consumed));
  EXPECT_EQ(p.event, Event::request_done);
  EXPECT_EQ(p.consumed, 10u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n1234567"), 0);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length:  0 \r\n\r\n"), 0);
}

TEST(HttpParser, ChunkedBodyIsDecodedAndDropped) {
  const std::string input =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5 ; name=\"v\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<Outcome> want = {ok(Method::other, 1, true), ok(Method::get, 1, true, "/next")};
  EXPECT_EQ(parse(input), want);
  EXPECT_EQ(parse(input, 1), want);
}

TEST(HttpParser, ExpectContinueOnlyWithABody) {
  RequestParser parser;
  auto p = parser.feed("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(p.event, Event::head_done);
  EXPECT_TRUE(parser.head().expect_continue);
  EXPECT_EQ(parser.feed("ok").event, Event::request_done);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").at(0).expect_continue);
}

TEST(HttpParser, HeadOver8KiBIs431) {
  const std::string start = "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: ";
  const std::string end = "\r\n\r\n";
  const std::string exact = start + std::string(8192 - start.size() - end.size(), 'a') + end;
  ASSERT_EQ(exact.size(), 8192u);
  EXPECT_EQ(status_of(exact), 0);
  const std::string over = start + std::string(8193 - start.size() - end.size(), 'a') + end;
  EXPECT_EQ(status_of(over), 431);
  EXPECT_EQ(parse(over, 1).back().status, 431);
  EXPECT_EQ(status_of("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n"), 431);  // a long target too
}

TEST(HttpParser, MoreThan100FieldsIs431) {
  auto with_fields = [](int n) {
    std::string s = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 1; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    return s + "\r\n";
  };
  EXPECT_EQ(status_of(with_fields(100)), 0);
  EXPECT_EQ(status_of(with_fields(101)), 431);
}

TEST(HttpParser, BodyOverTheLimitIs413) {
  Limits limits;
  limits.max_body_bytes = 16;
  EXPECT_EQ(status_of("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123456789abcdef", limits), 0);
  EXPECT_EQ(status_of("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", limits), 413);
  EXPECT_EQ(status_of("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 413);
  const std::string chunked = "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(status_of(chunked + "10\r\n0123456789abcdef\r\n0\r\n\r\n", limits), 0);
  EXPECT_EQ(status_of(chunked + "10\r\n0123456789abcdef\r\n1\r\n", limits), 413);
  EXPECT_EQ(status_of(chunked + "ffffffffffffffff\r\n"), 413);
}

TEST(HttpParser, UnsupportedFramingAndVersions) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
}

// Each malformed request: 400, and the parser refuses anything after it.
TEST(HttpParser, MalformedRequestsAre400) {
  const char* cases[] = {
      "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",           // bad method token
      " GET / HTTP/1.1\r\nHost: x\r\n\r\n",          // no method
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",          // empty target
      "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n",      // control character in the target
      "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",          // trailing space
      "GET / HTTPS/1.1\r\nHost: x\r\n\r\n",          // bad version
      "GET / HTTP/1.x\r\nHost: x\r\n\r\n",           //
      "GET / HTTP/11\r\nHost: x\r\n\r\n",            //
      "GET / http/1.1\r\nHost: x\r\n\r\n",           //
      "GET /\r\n\r\n",                               // HTTP/0.9 style
      "GET / HTTP/1.1\nHost: x\r\n\r\n",             // bare LF
      "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",     // bare CR
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",  // bare CR in a value
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n",  // DEL in a value
      "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",  // header without a colon
      "GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n",    // space before the colon
      "GET / HTTP/1.1\r\nHost: x\r\nX: y\r\n z\r\n\r\n",  // obs-fold
      "GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n",      // empty name
      "GET / HTTP/1.1\r\n\r\n",                        // HTTP/1.1 without Host
      "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",  // two Hosts
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // conflicting
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",  // both
      "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",                                  // TE in 1.0
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",  // chunked not last
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",       // bad chunk size
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",        // no chunk size
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",  // data too long
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n",      // bare LF
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello
  };
  for (const char* c : cases) {
    EXPECT_EQ(status_of(c), 400) << "'" << c << "'";
    EXPECT_EQ(parse(c, 1).back().status, 400) << "byte by byte: '" << c << "'";
  }
  RequestParser parser;
  EXPECT_EQ(parser.feed("BAD\r\n").event, Event::error);
  const auto again = parser.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(again.event, Event::error);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_FALSE(parser.head().keep_alive);
}

TEST(HttpParser, ValuesMayHoldObsTextAndTabs) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: x\r\nX:\tcaf\xc3\xa9 \t\r\n\r\n"), 0);
}

TEST(HttpParser, TargetBufferIsReusedAcrossRequests) {
  RequestParser parser(Limits(), true);
  std::string many;
  for (int i = 0; i < 3; ++i) many += "GET /" + std::string(100, 'a' + static_cast<char>(i)) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string_view rest = many;
  for (int i = 0; i < 3; ++i) {
    const auto p = parser.feed(rest);
    ASSERT_EQ(p.event, Event::request_done);
    EXPECT_EQ(parser.target(), "/" + std::string(100, 'a' + static_cast<char>(i)));
    rest.remove_prefix(p.consumed);
  }
}

}  // namespace
}  // namespace herdless::http
