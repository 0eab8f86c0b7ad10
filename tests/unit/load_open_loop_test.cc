// Open loop (--rate): arrivals follow the timetable whatever the server does, and latency
// counts from the intended start, so a server that stalls for 200 ms shows in p99 (the
// closed loop, waiting for each reply before the next request, hides the same stall).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "herdless/fd.h"
#include "herdless/listener.h"
#include "herdless/load/load_generator.h"
#include "testutil/polled_server.h"

namespace herdless::load {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Accepts on 127.0.0.1:0 and answers "worker=0\n" at once, except: after `stall_after`
// of serving, it sleeps `stall` once (connections queue in the backlog meanwhile); if
// `silent`, it keeps every connection open without a word.
class StallingServer final : public testutil::PolledServer {
 public:
  StallingServer(std::chrono::milliseconds stall_after, std::chrono::milliseconds stall, bool silent = false)
      : PolledServer("tcp://127.0.0.1:0", 10ms), stall_after_(stall_after), stall_(stall), silent_(silent) {
    start();
  }
  ~StallingServer() override { stop(); }

  uint64_t accepted() const { return accepted_; }

 private:
  void on_turn() override {
    if (!stalled_ && accepted_ > 0 && Clock::now() - first_ >= stall_after_) {
      stalled_ = true;
      std::this_thread::sleep_for(stall_);
    }
  }

  void on_readable() override {
    for (;;) {
      Fd fd(::accept4(socket(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd) return;
      if (accepted_++ == 0) first_ = Clock::now();
      if (silent_) {
        kept_.push_back(std::move(fd));
        continue;
      }
      static constexpr char kReply[] = "worker=0\n";
      EXPECT_EQ(::send(fd.get(), kReply, sizeof kReply - 1, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof kReply - 1));
    }
  }

  std::chrono::milliseconds stall_after_;
  std::chrono::milliseconds stall_;
  bool silent_;
  bool stalled_ = false;
  uint64_t accepted_ = 0;
  Clock::time_point first_;
  std::vector<Fd> kept_;
};

LoadOptions options_for(const ListenAddress& target, double rate, std::chrono::milliseconds duration,
                        std::chrono::milliseconds timeout, int concurrency) {
  LoadOptions o;
  o.target = target;
  o.rate = rate;
  o.duration = duration;
  o.timeout = timeout;
  o.concurrency = concurrency;
  return o;
}

TEST(LoadOpenLoop, StartsExactlyRateTimesDuration) {
  StallingServer server(1h, 0ms);
  auto result = run_load(options_for(server.address(), 200, 500ms, 5s, 100));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->attempted, 100u);
  EXPECT_EQ(result->completed, 100u);
  EXPECT_EQ(result->failed, 0u) << result->first_error;
  EXPECT_EQ(server.accepted(), 100u);
  EXPECT_EQ(result->per_worker.at(0), 100u);
  // The last arrival is due at 495 ms; its reply comes right after.
  EXPECT_GE(result->seconds, 0.49);
  EXPECT_LT(result->seconds, 2.0);
}

TEST(LoadOpenLoop, AServerStallShowsInTheTailLatency) {
  // 1000 arrivals/s for 1 s; the server stops serving for 200 ms after 300 ms. About 200
  // arrivals wait up to 200 ms each, so p99 is close to 200 ms.
  StallingServer server(300ms, 200ms);
  auto result = run_load(options_for(server.address(), 1000, 1000ms, 5s, 1000));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->attempted, 1000u);
  EXPECT_EQ(result->completed, 1000u) << result->first_error;
  EXPECT_GE(result->latency_us.value_at_percentile(99), 150'000u);
  EXPECT_GE(result->latency_us.value_at_percentile(90), 50'000u);
  EXPECT_GE(result->latency_us.max(), 180'000u);
}

TEST(LoadOpenLoop, TheClosedLoopHidesTheSameStall) {
  // One connection at a time: during the stall only one request waits, so p99 stays small
  // although the server served nothing for 200 ms. The open loop above does not hide it.
  StallingServer server(300ms, 200ms);
  LoadOptions options = options_for(server.address(), 0, 1000ms, 5s, 1);
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_GT(result->completed, 500u);  // enough samples that one slow request is above p99
  EXPECT_GE(result->latency_us.max(), 150'000u);
  EXPECT_LT(result->latency_us.value_at_percentile(99), 100'000u);
}

TEST(LoadOpenLoop, ArrivalsWithoutAFreeSlotTimeOutOnSchedule) {
  // Silent server, one slot, 50 ms timeout: each arrival either gets the slot and times out
  // or waits for it past its own deadline; all 200 scheduled arrivals count as timed out,
  // and the run ends near duration + timeout, not 200 x timeout.
  StallingServer server(1h, 0ms, /*silent=*/true);
  auto result = run_load(options_for(server.address(), 1000, 200ms, 50ms, 1));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->attempted, 200u);
  EXPECT_EQ(result->timed_out, 200u);
  EXPECT_EQ(result->failed, 200u);
  EXPECT_EQ(result->completed, 0u);
  EXPECT_LE(server.accepted(), 200u);  // a late arrival gets only what is left of its 50 ms
  EXPECT_LT(result->seconds, 0.2 + 0.05 + 1.0);
}

TEST(LoadOpenLoop, RejectsARateOutOfRangeOrWithHold) {
  LoadOptions options = options_for(*parse_listen_url("tcp://127.0.0.1:1"), -1, 100ms, 1s, 1);
  EXPECT_FALSE(validate_load_options(options));
  options.rate = 1e12;
  EXPECT_FALSE(validate_load_options(options));
  options.rate = 10;
  options.mode = LoadOptions::Mode::hold;
  options.hold_connections = 1;
  EXPECT_FALSE(validate_load_options(options));
  options.mode = LoadOptions::Mode::connect;
  EXPECT_TRUE(validate_load_options(options));
}

TEST(LoadOpenLoop, ReportsProgressAndStopsWhenCancelled) {
  StallingServer server(1h, 0ms);
  std::atomic<bool> cancel{false};
  std::vector<LoadProgress> seen;
  LoadOptions options = options_for(server.address(), 500, 10s, 1s, 100);
  options.progress_interval = 100ms;
  options.cancel = &cancel;
  options.on_progress = [&](const LoadProgress& p) {
    seen.push_back(p);
    if (p.elapsed_seconds >= 0.45) cancel = true;
  };
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->cancelled);
  EXPECT_LT(result->seconds, 2.0);
  ASSERT_GE(seen.size(), 4u);
  EXPECT_NEAR(seen[0].elapsed_seconds, 0.1, 0.08);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].attempted, seen[i - 1].attempted);
  EXPECT_NEAR(static_cast<double>(seen.back().attempted), 500 * seen.back().elapsed_seconds, 30);
}

}  // namespace
}  // namespace herdless::load
