// Integration: `herdless serve --service http` with 2 workers, spoken to over real sockets:
// GET and HEAD, keep-alive reuse, pipelining order, a client sending one byte at a time,
// HTTP/1.0 and Connection: close, request bodies (Content-Length, chunked) read and dropped,
// every refusal status (400, 405, 413, 431, 501, 505) followed by a (lingering) close, the idle timeout,
// and the admin endpoint on the same parser.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "herdless/http_get.h"
#include "testutil/client.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// One client connection that reads responses one at a time.
class Client {
 public:
  explicit Client(const ListenAddress& server) {
    auto fd = testutil::connect_to(server, 3s);
    EXPECT_TRUE(fd.has_value()) << fd.error().message();
    if (fd) fd_ = std::move(*fd);
  }

  bool send(std::string_view data) {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }

  // The next response; for a HEAD request its Content-Length announces a body that is not sent.
  std::optional<Response> next(bool head_request = false) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return std::nullopt;
    }
    Response r;
    const std::string head = buffer_.substr(0, end + 2);
    r.status = std::stoi(head.substr(9, 3));
    for (size_t at = head.find("\r\n") + 2; at < head.size();) {
      const size_t eol = head.find("\r\n", at);
      const std::string line = head.substr(at, eol - at);
      const size_t colon = line.find(": ");
      r.headers[line.substr(0, colon)] = line.substr(colon + 2);
      at = eol + 2;
    }
    buffer_.erase(0, end + 4);
    const size_t length = head_request || r.status == 100 ? 0 : std::stoul(r.headers["Content-Length"]);
    while (buffer_.size() < length) {
      if (!read_more()) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // True when the server closes the connection with nothing more to read.
  bool closed_by_server() {
    while (read_more()) {
    }
    return eof_ && buffer_.empty();
  }

  // True when a response (or anything) is readable within `wait`.
  bool readable(std::chrono::milliseconds wait) {
    pollfd p{fd_.get(), POLLIN, 0};
    return !buffer_.empty() || ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }

 private:
  bool read_more() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);  // SO_RCVTIMEO bounds it
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  Fd fd_;
  std::string buffer_;
  bool eof_ = false;
};

const std::string kGet = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

class HttpService : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"serve", "--service", "http", "--listen", "tcp://127.0.0.1:0", "--workers", "2",
                                 "--admin", "127.0.0.1:0"});
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
    // wait_ready() only waits for an admin endpoint once the log names one; it may come later.
    for (int i = 0; i < 250 && server_->log().find("admin on") == std::string::npos; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static const ListenAddress& address() { return server_->listener(); }

  static uint64_t accepted() {
    uint64_t total = 0;
    const nlohmann::json stats = server_->stats();  // kept alive for the loop
    for (const auto& worker : stats["workers"]) total += worker["accepted"].get<uint64_t>();
    return total;
  }

  // Sends `request` on a new connection: the refusal status, and whether the server closed.
  static void expect_refused(const std::string& request, int status) {
    Client c(address());
    ASSERT_TRUE(c.send(request));
    auto r = c.next();
    ASSERT_TRUE(r.has_value()) << request;
    EXPECT_EQ(r->status, status) << request;
    EXPECT_EQ(r->headers["Connection"], "close") << request;
    EXPECT_TRUE(c.closed_by_server()) << request;
  }

  static ServerProcess* server_;
};
ServerProcess* HttpService::server_ = nullptr;

TEST_F(HttpService, GetAnswersWithTheBodyAndHeaders) {
  Client c(address());
  ASSERT_TRUE(c.send(kGet));
  auto r = c.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world.");
  EXPECT_EQ(r->headers["Server"], "herdless");
  EXPECT_EQ(r->headers["Content-Type"], "text/plain");
  EXPECT_EQ(r->headers["Content-Length"], "12");
  EXPECT_EQ(r->headers["Date"].size(), 29u) << r->headers["Date"];
  EXPECT_TRUE(r->headers["Date"].ends_with(" GMT"));
  EXPECT_EQ(r->headers.count("Connection"), 0u);
}

TEST_F(HttpService, HeadHasTheHeadersAndNoBody) {
  Client c(address());
  // The GET after it proves that no body bytes came between the two responses.
  ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n" + kGet));
  auto head = c.next(true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["Content-Length"], "12");
  auto get = c.next();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->body, "hello world.");
}

TEST_F(HttpService, KeepAliveReusesOneConnection) {
  const uint64_t accepted_before = accepted();
  Client c(address());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send(kGet)) << i;
    auto r = c.next();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->body, "hello world.") << i;
  }
  EXPECT_FALSE(c.readable(50ms));  // still open, nothing extra
  EXPECT_EQ(accepted(), accepted_before + 1);
}

TEST_F(HttpService, PipelinedRequestsAreAnsweredInOrder) {
  Client c(address());
  std::string batch;
  for (int i = 0; i < 50; ++i) {
    batch += (i % 3 == 1 ? "HEAD /" : "GET /") + std::to_string(i) + " HTTP/1.1\r\nHost: test\r\n\r\n";
  }
  batch += "GET /last HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nbody";
  batch += "GET /close HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 50; ++i) {
    auto r = c.next(i % 3 == 1);
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, i % 3 == 1 ? "" : "hello world.") << i;
  }
  ASSERT_TRUE(c.next().has_value());
  auto last = c.next();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->headers["Connection"], "close");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpService, SlowClientSendingOneByteAtATime) {
  Client c(address());
  const std::string request = "GET /slow HTTP/1.1\r\nHost: test\r\nX-Long: some value\r\n\r\n";
  for (size_t i = 0; i < request.size(); ++i) {
    ASSERT_TRUE(c.send(request.substr(i, 1)));
    if (i + 1 < request.size()) {
      std::this_thread::sleep_for(2ms);
      ASSERT_FALSE(c.readable(0ms)) << "answered before byte " << i + 1 << " of " << request.size();
    }
  }
  auto r = c.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hello world.");
}

TEST_F(HttpService, Http10ClosesUnlessAskedToKeepAlive) {
  Client once(address());
  ASSERT_TRUE(once.send("GET / HTTP/1.0\r\n\r\n"));
  auto r = once.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hello world.");
  EXPECT_EQ(r->headers["Connection"], "close");
  EXPECT_TRUE(once.closed_by_server());

  Client kept(address());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto k = kept.next();
    ASSERT_TRUE(k.has_value()) << i;
    EXPECT_EQ(k->headers["Connection"], "keep-alive");
  }
}

TEST_F(HttpService, ConnectionCloseIsHonoured) {
  Client c(address());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
  auto r = c.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["Connection"], "close");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpService, RequestBodiesAreReadAndDropped) {
  Client c(address());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n" + kGet));
  for (int i = 0; i < 2; ++i) {
    auto r = c.next();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->status, 200) << i;
  }
  const std::string body(300 * 1024, 'b');
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
  for (size_t at = 0; at < body.size(); at += 64 * 1024) ASSERT_TRUE(c.send(body.substr(at, 64 * 1024)));
  ASSERT_TRUE(c.send(kGet));
  for (int i = 0; i < 2; ++i) {
    auto r = c.next();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->body, "hello world.") << i;
  }
}

TEST_F(HttpService, HeadersOver8KiBAre431) {
  expect_refused("GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(8200, 'x') + "\r\n\r\n", 431);
}

TEST_F(HttpService, MoreThan100HeadersAre431) {
  std::string request = "GET / HTTP/1.1\r\nHost: test\r\n";
  for (int i = 0; i < 100; ++i) request += "X-" + std::to_string(i) + ": v\r\n";
  expect_refused(request + "\r\n", 431);
}

// The client keeps sending the refused body after the 413: a lingering close drops it, so
// neither the response nor the end of the connection turns into a reset at the client.
TEST_F(HttpService, RefusalWhileTheBodyIsStillArrivingIsReadIntact) {
  Client c(address());
  // Head and the start of the body at once: input is still unread when the 413 is sent.
  const std::string chunk(16 * 1024, 'b');
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 4000000\r\n\r\n" + chunk + chunk + chunk));
  ASSERT_TRUE(c.readable(3s));  // the 413 is out: without lingering the socket is closed now
  for (int i = 0; i < 32; ++i) {
    // A close with unread input resets the connection: the client's next send fails.
    ASSERT_TRUE(c.send(chunk)) << "chunk " << i << ": " << std::strerror(errno);
    std::this_thread::sleep_for(1ms);
  }
  auto r = c.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->headers["Connection"], "close");
  EXPECT_TRUE(c.closed_by_server());  // EOF, not ECONNRESET
}

TEST_F(HttpService, BodyOverTheLimitIs413) {
  expect_refused("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1048577\r\n\r\n", 413);
  expect_refused("GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413);
}

TEST_F(HttpService, MalformedRequestsAre400AndClose) {
  for (const std::string request : {
           "G@T / HTTP/1.1\r\nHost: test\r\n\r\n",                                        // bad method token
           "GET / HTTP/1.x\r\nHost: test\r\n\r\n",                                        // bad version
           "GET / HTTP/1.1\r\nHost: test\rX: y\r\n\r\n",                                  // bare CR
           "GET / HTTP/1.1\r\nHost: test\r\nNo colon here\r\n\r\n",                       // header without colon
           "GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // conflicting
           "GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",  // no Host
       }) {
    expect_refused(request, 400);
  }
}

TEST_F(HttpService, OtherRefusals) {
  expect_refused("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi", 405);
  expect_refused("GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
  expect_refused("GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505);
}

TEST_F(HttpService, AdminEndpointUsesTheSharedParser) {
  auto stats = http_get(server_->admin(), "/stats");
  ASSERT_TRUE(stats.has_value()) << stats.error().message();
  EXPECT_NE(stats->find("\"workers\""), std::string::npos);
  auto metrics = http_get(server_->admin(), "/metrics");
  ASSERT_TRUE(metrics.has_value()) << metrics.error().message();
  EXPECT_NE(metrics->find("herdless_"), std::string::npos);

  Client slow(server_->admin());
  const std::string request = "GET /stats HTTP/1.1\r\nHost: admin\r\n\r\n";
  for (char ch : request) ASSERT_TRUE(slow.send(std::string(1, ch)));
  auto r = slow.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);

  Client bad(server_->admin());
  ASSERT_TRUE(bad.send("GET /stats HTTP/1.1\r\nHost: admin\r\nBad Header: x\r\n\r\n"));
  auto refused = bad.next();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400);
  EXPECT_TRUE(bad.closed_by_server());
}

TEST(HttpServiceOptions, IdleKeepAliveConnectionsTimeOut) {
  ServerProcess server({"serve", "--service", "http", "--listen", "tcp://127.0.0.1:0", "--workers", "1",
                        "--idle-timeout", "200ms", "--admin", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  Client c(server.listener());
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(c.next().has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_server());  // within the 3 s receive timeout
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

// A refused client that neither closes nor sends is closed at the end of the lingering
// time (5 s) by the worker, not left to the idle timeout (60 s here).
TEST(HttpServiceOptions, ASilentPeerOfALingeringCloseIsClosedAtTheLingerDeadline) {
  ServerProcess server({"serve", "--service", "http", "--listen", "tcp://127.0.0.1:0", "--workers", "1",
                        "--idle-timeout", "60s", "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  Client c(server.listener());
  ASSERT_TRUE(c.send("BAD REQUEST\r\n\r\n"));
  auto refused = c.next();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400);
  const auto start = std::chrono::steady_clock::now();
  auto active = [&] { return server.stats()["workers"][0]["active"].get<int64_t>(); };
  EXPECT_EQ(active(), 1);  // lingering: the client has not closed
  while (active() != 0 && std::chrono::steady_clock::now() - start < 10s) std::this_thread::sleep_for(100ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(active(), 0);
  EXPECT_GE(waited, 4s);
  EXPECT_LT(waited, 8s);
}

TEST(HttpServiceOptions, BodyAndBodyLimitFlagsReachTheWorkers) {
  ServerProcess server({"serve", "--service", "http", "--listen", "tcp://127.0.0.1:0", "--workers", "2",
                        "--http-body", "custom\\n", "--http-max-body", "10", "--admin", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  Client c(server.listener());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789"));
  auto r = c.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "custom\n");
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\n"));
  auto refused = c.next();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413);
}

}  // namespace
}  // namespace herdless

namespace herdless {
namespace {

// --http-header-timeout through the command line: a head still incomplete after it is closed,
// while a head that completes in time is answered.
TEST(HttpHeaderTimeout, TheFlagReachesTheWorkers) {
  ServerProcess server({"serve", "--service", "http", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin",
                        "off", "--http-header-timeout", "600ms"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  Client trickler(server.listener());
  Client prompt(server.listener());
  ASSERT_TRUE(trickler.send("GET / HTTP/1.1\r\n"));
  ASSERT_TRUE(prompt.send("GET / HTTP/1.1\r\n"));
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(prompt.send("Host: test\r\n\r\n"));
  auto r = prompt.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30 && !trickler.readable(0ms); ++i) {
    ASSERT_TRUE(trickler.send("X"));  // never finishes its head
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(trickler.closed_by_server()) << "closed at the header timeout";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

}  // namespace
}  // namespace herdless
