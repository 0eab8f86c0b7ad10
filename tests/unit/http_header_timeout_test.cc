// --http-header-timeout: the http service closes a connection whose request line and headers
// are not all in within the timeout of the request's start (the accept, or the next request's
// first byte), however slowly they trickle; a body, the time between requests (the idle
// timeout's) and a head completed in time are not cut. The service is driven directly: a
// Connection on one end of a socketpair, its reads fed to the service, the worker's tick called
// by the test. Also: the setting's parsing, and its refusal under `herdless run`.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "herdless/tcp_connection.h"
#include "herdless/event_loop.h"
#include "herdless/http/http_service.h"
#include "herdless/serve_config.h"
#include "herdless/worker_counters.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kMs = 1'000'000;

// Feeds what a connection reads to the service, as a worker does.
class ForwardingOwner final : public ConnectionOwner {
 public:
  explicit ForwardingOwner(EventLoop& loop) : loop_(loop) {}
  EventLoop& loop() override { return loop_; }
  void on_data(TcpConnection& conn, std::string_view data) override { service->on_data(conn, data); }
  void on_peer_closed(TcpConnection& conn) override { service->on_peer_closed(conn); }
  void on_activity(TcpConnection&) override {}
  void on_lingering(TcpConnection&) override {}
  void on_closed(TcpConnection&, bool) override { closed = true; }
  Service* service = nullptr;
  bool closed = false;

 private:
  EventLoop& loop_;
};

class HeaderTimeoutTest : public ::testing::Test {
 protected:
  static constexpr auto kTimeout = 300ms;

  void SetUp() override {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.has_value());
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    owner_ = std::make_unique<ForwardingOwner>(*loop_);
    ServiceOptions options;
    options.kind = ServiceKind::http;
    options.http_header_timeout = kTimeout;
    service_ = make_service(options);
    owner_->service = service_.get();
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = Fd(fds[1]);
    conn_ = std::make_unique<TcpConnection>(*owner_, fds[0]);
    opened_ns_ = conn_->last_active_ns();
    service_->on_open(*conn_);
    conn_->refresh_interest();
  }

  // The peer sends `bytes`; the connection reads them (the service sees them).
  void send(std::string_view bytes) {
    ASSERT_EQ(::send(peer_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    loop_->run_once(100);
  }
  void tick(int64_t now_ns) { service_->on_tick(now_ns); }

  std::string received() {
    std::string out;
    char buffer[4096];
    pollfd readable{peer_.get(), POLLIN, 0};
    while (::poll(&readable, 1, out.empty() ? 200 : 0) > 0) {
      const ssize_t n = ::recv(peer_.get(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ForwardingOwner> owner_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<TcpConnection> conn_;
  Fd peer_;
  int64_t opened_ns_ = 0;
};

TEST_F(HeaderTimeoutTest, ATrickledHeadIsClosedAtTheTimeoutOfTheAccept) {
  send("GET / HTTP/1.1\r\n");
  send("Host: a\r\n");  // still trickling: the deadline does not move
  tick(opened_ns_ + 299 * kMs);
  EXPECT_FALSE(owner_->closed);
  tick(opened_ns_ + 300 * kMs);
  EXPECT_TRUE(owner_->closed);
  EXPECT_EQ(received(), "") << "closed without a response, as nginx does";
}

TEST_F(HeaderTimeoutTest, AConnectionThatSendsNothingIsClosedToo) {
  tick(opened_ns_ + 300 * kMs);
  EXPECT_TRUE(owner_->closed);
}

TEST_F(HeaderTimeoutTest, AHeadCompletedInTimeIsServedAndTheConnectionKept) {
  send("GET / HTTP/1.1\r\nHo");
  send("st: a\r\n\r\n");
  EXPECT_NE(received().find("HTTP/1.1 200 OK\r\n"), std::string::npos);
  tick(opened_ns_ + 10'000 * kMs);  // between requests only the idle timeout applies
  EXPECT_FALSE(owner_->closed);
}

TEST_F(HeaderTimeoutTest, TheNextRequestsClockStartsAtItsFirstByte) {
  send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_NE(received().find("200 OK"), std::string::npos);
  std::this_thread::sleep_for(50ms);
  send("GET /second HTTP/1.1\r\n");
  const int64_t second_started = conn_->last_active_ns();
  ASSERT_GE(second_started, opened_ns_ + 50 * kMs);
  tick(second_started + 299 * kMs);
  EXPECT_FALSE(owner_->closed) << "timed from the first request instead of this one";
  tick(second_started + 300 * kMs);
  EXPECT_TRUE(owner_->closed);
}

TEST_F(HeaderTimeoutTest, ABodyIsNotTimedAsAHead) {
  send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
  tick(opened_ns_ + 10'000 * kMs);
  EXPECT_FALSE(owner_->closed);
  send("67890");
  EXPECT_NE(received().find("405"), std::string::npos) << "the request was answered after its body";
}

TEST_F(HeaderTimeoutTest, APipelinedPartialHeadIsTimedFromItsArrival) {
  send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT");
  EXPECT_NE(received().find("200 OK"), std::string::npos);
  tick(conn_->last_active_ns() + 300 * kMs);
  EXPECT_TRUE(owner_->closed);
}

TEST(HeaderTimeoutSetting, DefaultsTo60sAndIsAServeSetting) {
  EXPECT_EQ(default_serve_config().http_header_timeout, 60'000ms);
  auto config = resolve_config({{"http-header-timeout", "5s"}}, {{"http-header-timeout", "1500ms"}}, Subcommand::serve);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->http_header_timeout, 1500ms);
  EXPECT_EQ(config->idle_timeout, 60'000ms) << "separate from the idle timeout";
  for (const char* bad : {"0", "abc", "-1s", ""}) {
    EXPECT_FALSE(resolve_config({}, {{"http-header-timeout", bad}}, Subcommand::serve)) << bad;
  }
  auto run = resolve_config({}, {{"command", "/bin/true"}, {"http-header-timeout", "1s"}}, Subcommand::run);
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message().find("http-header-timeout does not apply to herdless run"), std::string::npos)
      << run.error().message();
}

}  // namespace
}  // namespace herdless
