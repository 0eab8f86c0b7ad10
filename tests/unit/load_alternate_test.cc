// Alternate requests (LoadOptions::send_alt, alt_every): every Nth request sends another
// text, and its outcome and latency are tallied apart from the others, so that a few slow
// requests (the "event loop blocked" benchmark's /slow) do not hide in, nor hide, the
// latency of the fast ones. The in-test server answers "GET /" at once and "GET /slow"
// after 50 ms.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "herdless/fd.h"
#include "herdless/listener.h"
#include "herdless/load/load_generator.h"
#include "testutil/polled_server.h"

namespace herdless::load {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kSlow = 50ms;

class PathServer final : public testutil::PolledServer {
 public:
  PathServer() : PolledServer("tcp://127.0.0.1:0", 2ms) { start(); }
  ~PathServer() override { stop(); }

  int fast() const { return fast_; }
  int slow() const { return slow_; }

 private:
  struct Waiting {
    Fd fd;
    Clock::time_point due;
  };

  static void reply(const Fd& fd, std::string_view text) {
    EXPECT_EQ(::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  }

  void on_turn() override {
    const auto now = Clock::now();
    std::erase_if(waiting_, [&](const Waiting& w) {
      if (w.due > now) return false;
      reply(w.fd, "worker=1\n");
      return true;
    });
  }

  void on_readable() override {
    for (;;) {
      Fd fd(::accept4(socket(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!fd) return;
      // The request is on its way right after the handshake: a blocking read, 1 s at most.
      const timeval limit{1, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      std::string request;
      char buffer[256];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      if (request.starts_with("GET /slow ")) {
        ++slow_;
        waiting_.push_back({std::move(fd), Clock::now() + kSlow});
      } else if (request.starts_with("GET / ")) {
        ++fast_;
        reply(fd, "worker=0\n");
      }
    }
  }

  std::vector<Waiting> waiting_;
  int fast_ = 0;
  int slow_ = 0;
};

LoadOptions alternating(const ListenAddress& target, int every) {
  LoadOptions o;
  o.target = target;
  o.rate = 200;
  o.duration = 500ms;  // 100 arrivals
  o.timeout = 2s;
  o.concurrency = 100;
  o.send = "GET / HTTP/1.0\r\n\r\n";
  o.send_alt = "GET /slow HTTP/1.0\r\n\r\n";
  o.alt_every = every;
  return o;
}

TEST(LoadAlternate, EveryNthRequestSendsTheAlternativeAndIsTalliedApart) {
  PathServer server;
  auto result = run_load(alternating(server.address(), 5));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->completed, 100u) << result->first_error;
  EXPECT_EQ(server.fast(), 80);
  EXPECT_EQ(server.slow(), 20);
  // The slow replies say worker=1: the alternative requests are exactly those.
  EXPECT_EQ(result->per_worker[0], 80u);
  EXPECT_EQ(result->per_worker[1], 20u);

  ASSERT_TRUE(result->split);
  const RequestTally& fast = result->primary;
  const RequestTally& slow = result->alternative;
  EXPECT_EQ(fast.attempted, 80u);
  EXPECT_EQ(fast.completed, 80u);
  EXPECT_EQ(fast.failed, 0u);
  EXPECT_EQ(slow.attempted, 20u);
  EXPECT_EQ(slow.completed, 20u);
  EXPECT_EQ(slow.failed, 0u);
  EXPECT_EQ(fast.latency_us.count(), 80u);
  EXPECT_EQ(slow.latency_us.count(), 20u);
  EXPECT_EQ(result->latency_us.count(), 100u);  // the whole, as before
  EXPECT_GE(slow.latency_us.min(), 45'000u);
  // One in five is slow, so the combined p90 is a slow one; the fast ones' p90 is not.
  EXPECT_GE(result->latency_us.value_at_percentile(90), 45'000u);
  EXPECT_LT(fast.latency_us.value_at_percentile(90), 40'000u);

  const nlohmann::json json = to_json(*result);
  ASSERT_TRUE(json.contains("primary")) << json.dump();
  ASSERT_TRUE(json.contains("alternative")) << json.dump();
  EXPECT_EQ(json["primary"]["attempted"], 80u);
  EXPECT_EQ(json["alternative"]["completed"], 20u);
  EXPECT_EQ(json["alternative"]["latency_us"]["count"], 20u);
  EXPECT_GE(json["alternative"]["latency_us"]["p50"].get<uint64_t>(), 45'000u);
}

TEST(LoadAlternate, FailuresCountForTheirOwnKind) {
  // Nothing listens: every request is refused, 1 in 4 of them an alternative one.
  auto target = *parse_listen_url("tcp://127.0.0.1:0");
  {
    PathServer gone;
    target = gone.address();
  }  // closed: the port refuses now
  LoadOptions options = alternating(target, 4);
  options.duration = 100ms;  // 20 arrivals
  auto result = run_load(options);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->attempted, 20u);
  EXPECT_EQ(result->refused, 20u);
  EXPECT_EQ(result->primary.attempted, 15u);
  EXPECT_EQ(result->primary.failed, 15u);
  EXPECT_EQ(result->alternative.attempted, 5u);
  EXPECT_EQ(result->alternative.failed, 5u);
  EXPECT_EQ(result->alternative.completed, 0u);
}

TEST(LoadAlternate, NoSplitWithoutAlternative) {
  PathServer server;
  LoadOptions options = alternating(server.address(), 0);
  options.duration = 100ms;
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(server.slow(), 0);
  EXPECT_FALSE(result->split);
  EXPECT_FALSE(to_json(*result).contains("primary"));
}

TEST(LoadAlternate, Validation) {
  LoadOptions options = alternating(*parse_listen_url("tcp://127.0.0.1:1"), -1);
  EXPECT_FALSE(validate_load_options(options));
  options.alt_every = 3;
  EXPECT_TRUE(validate_load_options(options));
  options.rate = 0;
  options.mode = LoadOptions::Mode::hold;
  options.hold_connections = 1;
  EXPECT_FALSE(validate_load_options(options));  // a held connection sends once, at most
  options.mode = LoadOptions::Mode::connect;
  options.send_alt.clear();
  EXPECT_FALSE(validate_load_options(options));  // nothing to send every third time
}

}  // namespace
}  // namespace herdless::load
