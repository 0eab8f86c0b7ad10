// The http service driven directly: a Connection on one end of a socketpair, the test on the
// other. Checks the bytes it answers with (custom body, HEAD, pipelined order, 100 Continue,
// byte-at-a-time input) and when it closes (errors, HTTP/1.0, Connection: close, 405).
#include "herdless/tcp_connection.h"
#include "herdless/http/http_service.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "herdless/event_loop.h"

namespace herdless {
namespace {

class FakeOwner final : public ConnectionOwner {
 public:
  explicit FakeOwner(EventLoop& loop) : loop_(loop) {}
  EventLoop& loop() override { return loop_; }
  void on_data(TcpConnection&, std::string_view) override {}
  void on_peer_closed(TcpConnection&) override {}
  void on_activity(TcpConnection&) override {}
  void on_lingering(TcpConnection&) override { lingering = true; }
  void on_closed(TcpConnection&, bool) override { closed = true; }
  bool closed = false;
  bool lingering = false;

 private:
  EventLoop& loop_;
};

class HttpServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(ServiceOptions()); }

  void start(ServiceOptions options) {
    options.kind = ServiceKind::http;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.has_value());
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    owner_ = std::make_unique<FakeOwner>(*loop_);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = Fd(fds[1]);
    conn_ = std::make_unique<TcpConnection>(*owner_, fds[0]);
    service_ = make_service(options);
    service_->on_open(*conn_);
  }

  void send(std::string_view data) { service_->on_data(*conn_, data); }

  // Everything the service has written so far.
  std::string received() {
    std::string out;
    char buffer[65536];
    pollfd readable{peer_.get(), POLLIN, 0};
    while (::poll(&readable, 1, out.empty() ? 200 : 0) > 0) {
      const ssize_t n = ::recv(peer_.get(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

  // After a refusal the connection lingers: its write side is shut (the peer reads EOF after
  // the response), late input is dropped rather than answered with a reset, and it closes
  // once the peer does.
  void expect_lingering_close() {
    EXPECT_TRUE(owner_->lingering);  // the owner was told, to enforce the deadline
    EXPECT_FALSE(owner_->closed);
    char byte = 0;
    EXPECT_EQ(::recv(peer_.get(), &byte, 1, 0), 0);
    EXPECT_EQ(::send(peer_.get(), "late", 4, MSG_NOSIGNAL), 4);
    peer_.reset();
    for (int i = 0; i < 20 && !owner_->closed; ++i) loop_->run_once(100);
    EXPECT_TRUE(owner_->closed);
  }

  // The status codes, bodies and Connection headers of the responses in `stream`.
  struct Parsed {
    std::vector<int> statuses;
    std::vector<std::string> bodies;
  };
  static Parsed parse(std::string_view stream, bool head_first = false) {
    Parsed p;
    while (!stream.empty()) {
      const size_t end = stream.find("\r\n\r\n");
      if (end == std::string_view::npos) break;
      const std::string_view head = stream.substr(0, end + 4);
      p.statuses.push_back(std::stoi(std::string(head.substr(9, 3))));
      const size_t at = head.find("Content-Length: ");
      size_t length = at == std::string_view::npos ? 0 : std::stoul(std::string(head.substr(at + 16)));
      if (p.statuses.back() == 100 || (head_first && p.statuses.size() == 1)) length = 0;
      p.bodies.emplace_back(stream.substr(end + 4, length));
      stream.remove_prefix(std::min(stream.size(), end + 4 + length));
    }
    return p;
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<FakeOwner> owner_;
  Fd peer_;
  std::unique_ptr<TcpConnection> conn_;
  std::unique_ptr<Service> service_;
};

TEST_F(HttpServiceTest, CustomBodyAndHeaders) {
  ServiceOptions options;
  options.http_body = "custom body\n";
  start(options);
  send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string r = received();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\nServer: herdless\r\nDate: ")) << r;
  EXPECT_NE(r.find("\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\ncustom body\n"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\ncustom body\n")) << r;
  EXPECT_FALSE(owner_->closed);
}

TEST_F(HttpServiceTest, PipelinedRequestsAnsweredInOrderInOneWrite) {
  send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  const Parsed p = parse(received(), true);
  EXPECT_EQ(p.statuses, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(p.bodies, (std::vector<std::string>{"", "hello world.", "hello world."}));
  EXPECT_FALSE(owner_->closed);
}

TEST_F(HttpServiceTest, OneByteAtATime) {
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  for (size_t i = 0; i + 1 < request.size(); ++i) {
    send(request.substr(i, 1));
    char byte;
    ASSERT_EQ(::recv(peer_.get(), &byte, 1, MSG_DONTWAIT | MSG_PEEK), -1) << "answered early at byte " << i;
  }
  send(request.substr(request.size() - 1));
  EXPECT_EQ(parse(received()).bodies, std::vector<std::string>{"hello world."});
}

TEST_F(HttpServiceTest, ContinueBeforeTheBody) {
  send("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_EQ(received(), "HTTP/1.1 100 Continue\r\n\r\n");
  send("body");
  EXPECT_EQ(parse(received()).bodies, std::vector<std::string>{"hello world."});
  EXPECT_FALSE(owner_->closed);
}

TEST_F(HttpServiceTest, RefusedExpectationGetsNoContinue) {
  send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  const std::string r = received();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << r;
  EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << r;
  expect_lingering_close();
}

TEST_F(HttpServiceTest, BodyLimitFromOptions) {
  ServiceOptions options;
  options.http_max_body = 8;
  start(options);
  send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n12345678");
  EXPECT_EQ(parse(received()).statuses, std::vector<int>{200});
  send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789");
  const std::string r = received();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 413 Content Too Large\r\n")) << r;
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  expect_lingering_close();
}

TEST_F(HttpServiceTest, ErrorClosesAndIgnoresTheRest) {
  send("GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD REQUEST\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(parse(received()).statuses, (std::vector<int>{200, 400}));
  expect_lingering_close();
}

TEST_F(HttpServiceTest, LingeringDropsAtMostTheByteLimit) {
  send("BAD REQUEST\r\n\r\n");
  EXPECT_EQ(parse(received()).statuses, std::vector<int>{400});
  const std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  for (int i = 0; i < 500 && !owner_->closed; ++i) {
    const ssize_t n = ::send(peer_.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) sent += static_cast<size_t>(n);
    loop_->run_once(10);
  }
  EXPECT_TRUE(owner_->closed);
  EXPECT_GT(sent, TcpConnection::kLingerMaxBytes);
}

TEST_F(HttpServiceTest, ConnectionCloseEndsThePipeline) {
  send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string r = received();
  EXPECT_EQ(parse(r).statuses, std::vector<int>{200});
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  EXPECT_TRUE(owner_->closed);
}

TEST_F(HttpServiceTest, Http10ClosesUnlessKeepAlive) {
  send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const std::string r = received();
  EXPECT_NE(r.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << r;
  EXPECT_FALSE(owner_->closed);
  send("GET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(received().find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(owner_->closed);
}

}  // namespace
}  // namespace herdless
