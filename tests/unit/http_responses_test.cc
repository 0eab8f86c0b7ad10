// FixedResponses and the Date header: the bytes of every response the http service sends
// (status line, Server, Date, Content-Type, Content-Length, Connection), HEAD without a body,
// and the IMF-fixdate format.
#include "herdless/http/fixed_responses.h"

#include <gtest/gtest.h>

#include <string>

#include "herdless/http/http_date.h"

namespace herdless::http {
namespace {

std::string with_date(std::string text, std::string_view date = "Sun, 06 Nov 1994 08:49:37 GMT") {
  const size_t at = text.find("@DATE@");
  return text.replace(at, 6, date);
}

TEST(HttpDate, FormatsImfFixdate) {
  char out[HttpDate::kLength];
  format_http_date(784111777, out);
  EXPECT_EQ(std::string_view(out, sizeof out), "Sun, 06 Nov 1994 08:49:37 GMT");
  format_http_date(951782400, out);  // a leap day
  EXPECT_EQ(std::string_view(out, sizeof out), "Tue, 29 Feb 2000 00:00:00 GMT");
}

TEST(HttpDate, RefreshesOncePerSecond) {
  HttpDate date;
  EXPECT_EQ(date.text().size(), HttpDate::kLength);
  EXPECT_TRUE(date.text().ends_with(" GMT"));
  EXPECT_FALSE(date.refresh() && date.refresh());  // two changes in a row would need two seconds
}

class FixedResponsesTest : public ::testing::Test {
 protected:
  FixedResponsesTest() : responses_("hello world.\n", "text/plain") { responses_.set_date("Sun, 06 Nov 1994 08:49:37 GMT"); }
  FixedResponses responses_;
};

TEST_F(FixedResponsesTest, GetKeepAlive) {
  EXPECT_EQ(responses_.ok(Method::get, Persistence::keep_alive),
            with_date("HTTP/1.1 200 OK\r\nServer: herdless\r\nDate: @DATE@\r\nContent-Type: text/plain\r\n"
                      "Content-Length: 13\r\n\r\nhello world.\n"));
}

TEST_F(FixedResponsesTest, HeadHasTheGetHeadersAndNoBody) {
  EXPECT_EQ(responses_.ok(Method::head, Persistence::keep_alive),
            with_date("HTTP/1.1 200 OK\r\nServer: herdless\r\nDate: @DATE@\r\nContent-Type: text/plain\r\n"
                      "Content-Length: 13\r\n\r\n"));
}

TEST_F(FixedResponsesTest, ConnectionHeaders) {
  EXPECT_NE(responses_.ok(Method::get, Persistence::keep_alive_1_0).find("\r\nConnection: keep-alive\r\n\r\n"),
            std::string_view::npos);
  EXPECT_NE(responses_.ok(Method::get, Persistence::close).find("\r\nConnection: close\r\n\r\n"),
            std::string_view::npos);
  EXPECT_NE(responses_.ok(Method::head, Persistence::close).find("\r\nConnection: close\r\n\r\n"),
            std::string_view::npos);
  EXPECT_EQ(responses_.ok(Method::get, Persistence::keep_alive).find("Connection"), std::string_view::npos);
}

TEST_F(FixedResponsesTest, ErrorsCloseAndCarryTheirStatus) {
  for (int status : FixedResponses::kErrorStatuses) {
    const std::string_view r = responses_.error(status);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 " + std::to_string(status) + " ")) << r;
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string_view::npos) << r;
    const size_t body_at = r.find("\r\n\r\n") + 4;
    const size_t length_at = r.find("Content-Length: ") + 16;
    EXPECT_EQ(std::stoul(std::string(r.substr(length_at))), r.size() - body_at) << r;
  }
  EXPECT_TRUE(responses_.error(400).starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(responses_.error(413).starts_with("HTTP/1.1 413 Content Too Large\r\n"));
  EXPECT_TRUE(responses_.error(431).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_NE(responses_.error(405).find("\r\nAllow: GET, HEAD\r\n"), std::string_view::npos);
  EXPECT_EQ(responses_.error(418), responses_.error(400));
}

TEST_F(FixedResponsesTest, SetDatePatchesEveryResponseInPlace) {
  const std::string date = "Mon, 01 Jan 2024 00:00:00 GMT";
  responses_.set_date(date);
  EXPECT_NE(responses_.ok(Method::get, Persistence::close).find("Date: " + date + "\r\n"), std::string_view::npos);
  EXPECT_NE(responses_.error(431).find("Date: " + date + "\r\n"), std::string_view::npos);
}

}  // namespace
}  // namespace herdless::http
