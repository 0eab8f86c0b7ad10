// EventLoop and Timer: registration dispatches the right events to the right handler,
// deferred work runs after the batch, timers fire once or periodically, stop() from
// another thread ends run(). Waits are bounded; only lower time bounds are asserted.
#include "herdless/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "herdless/loop_timer.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct SocketPair {
  Fd a, b;
};

SocketPair make_socketpair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {Fd(fds[0]), Fd(fds[1])};
}

void send_byte(int fd) { ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1); }

class RecordingHandler final : public EventHandler {
 public:
  void on_events(uint32_t events) override { seen.push_back(events); }
  std::vector<uint32_t> seen;
};

EventLoop make_loop() {
  auto loop = EventLoop::create();
  EXPECT_TRUE(loop.has_value()) << loop.error().message();
  return std::move(*loop);
}

// Turns the loop until `done` or `limit` passes; returns whether `done` became true.
bool run_until(EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    loop.run_once(20);
  }
  return true;
}

// Waits for a thread's result; a hung thread cannot be joined, so that ends the process loudly.
template <class T>
T get_within(std::future<T>& result, std::chrono::milliseconds limit, const char* what) {
  if (result.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << what << " did not finish within " << limit.count() << "ms";
    std::fprintf(stderr, "%s hung; aborting\n", what);
    std::abort();
  }
  return result.get();
}

TEST(EventLoop, AddDispatchesToTheRegisteredHandlerOnly) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  SocketPair q = make_socketpair();
  RecordingHandler hp, hq;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &hp).has_value());
  ASSERT_TRUE(loop.add(q.a.get(), EPOLLIN, &hq).has_value());

  send_byte(p.b.get());
  EXPECT_EQ(loop.run_once(1000), 1);
  ASSERT_EQ(hp.seen.size(), 1u);
  EXPECT_EQ(hp.seen[0], static_cast<uint32_t>(EPOLLIN));
  EXPECT_TRUE(hq.seen.empty());

  send_byte(q.b.get());
  hp.seen.clear();
  // p is still readable (level-triggered), q now is too: one batch, each to its own handler.
  EXPECT_EQ(loop.run_once(1000), 2);
  EXPECT_EQ(hp.seen, std::vector<uint32_t>{EPOLLIN});
  EXPECT_EQ(hq.seen, std::vector<uint32_t>{EPOLLIN});
}

TEST(EventLoop, ModifyChangesEventsAndHandler) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  RecordingHandler first, second;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &first).has_value());
  EXPECT_EQ(loop.run_once(0), 0);  // nothing to read yet
  EXPECT_TRUE(first.seen.empty());

  // Writable only: EPOLLOUT and nothing else, though data is waiting.
  send_byte(p.b.get());
  ASSERT_TRUE(loop.modify(p.a.get(), EPOLLOUT, &first).has_value());
  EXPECT_EQ(loop.run_once(1000), 1);
  EXPECT_EQ(first.seen, std::vector<uint32_t>{EPOLLOUT});

  // Same fd, another handler: only the new one hears of it.
  ASSERT_TRUE(loop.modify(p.a.get(), EPOLLIN | EPOLLOUT, &second).has_value());
  EXPECT_EQ(loop.run_once(1000), 1);
  EXPECT_EQ(first.seen.size(), 1u);
  EXPECT_EQ(second.seen, std::vector<uint32_t>{EPOLLIN | EPOLLOUT});
}

TEST(EventLoop, RemoveStopsDispatch) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  RecordingHandler h;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &h).has_value());
  send_byte(p.b.get());
  loop.remove(p.a.get());
  EXPECT_EQ(loop.run_once(50), 0);
  EXPECT_TRUE(h.seen.empty());
  // Removed fds can be added again.
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &h).has_value());
  EXPECT_EQ(loop.run_once(1000), 1);
  EXPECT_EQ(h.seen.size(), 1u);
}

TEST(EventLoop, PeerCloseReportsRdhup) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  RecordingHandler h;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN | EPOLLRDHUP, &h).has_value());
  p.b.reset();
  EXPECT_EQ(loop.run_once(1000), 1);
  ASSERT_EQ(h.seen.size(), 1u);
  EXPECT_NE(h.seen[0] & EPOLLRDHUP, 0u);
  EXPECT_NE(h.seen[0] & EPOLLIN, 0u);
}

TEST(EventLoop, RegistrationErrorsCarryErrno) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  RecordingHandler h;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &h).has_value());
  auto twice = loop.add(p.a.get(), EPOLLIN, &h);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().call, "epoll_ctl(ADD)");
  EXPECT_EQ(twice.error().code, EEXIST);

  auto unknown = loop.modify(p.b.get(), EPOLLIN, &h);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().call, "epoll_ctl(MOD)");
  EXPECT_EQ(unknown.error().code, ENOENT);

  auto bad = loop.add(-1, EPOLLIN, &h);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, EBADF);
}

TEST(EventLoop, RunOnceTimesOutAndCountsWakeups) {
  EventLoop loop = make_loop();
  const uint64_t before = loop.wakeups();
  const auto start = Clock::now();
  EXPECT_EQ(loop.run_once(30), 0);
  EXPECT_GE(Clock::now() - start, 25ms);
  EXPECT_EQ(loop.run_once(0), 0);
  EXPECT_EQ(loop.wakeups(), before + 2);
}

TEST(EventLoop, DeferRunsAfterTheWholeBatch) {
  EventLoop loop = make_loop();
  SocketPair p = make_socketpair();
  SocketPair q = make_socketpair();
  std::vector<std::string> log;
  CallbackHandler hp([&](uint32_t) {
    log.push_back("p");
    loop.defer([&] { log.push_back("deferred p"); });
  });
  CallbackHandler hq([&](uint32_t) {
    log.push_back("q");
    loop.defer([&] {
      log.push_back("deferred q");
      loop.defer([&] { log.push_back("deferred from deferred"); });
    });
  });
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &hp).has_value());
  ASSERT_TRUE(loop.add(q.a.get(), EPOLLIN, &hq).has_value());
  send_byte(p.b.get());
  send_byte(q.b.get());
  // Both are ready before the wait, so one batch carries both events.
  ASSERT_EQ(loop.run_once(1000), 2);
  ASSERT_EQ(log.size(), 5u);
  // The handlers (in epoll's order) first, then the deferred work in the order deferred.
  EXPECT_TRUE((log[0] == "p" && log[1] == "q") || (log[0] == "q" && log[1] == "p")) << log[0] << log[1];
  const std::string first_deferred = log[0] == "p" ? "deferred p" : "deferred q";
  const std::string second_deferred = log[0] == "p" ? "deferred q" : "deferred p";
  EXPECT_EQ(log[2], first_deferred);
  EXPECT_EQ(log[3], second_deferred);
  EXPECT_EQ(log[4], "deferred from deferred");
}

TEST(EventLoop, DeferOutsideABatchRunsOnTheNextTurn) {
  EventLoop loop = make_loop();
  int ran = 0;
  loop.defer([&] { ++ran; });
  EXPECT_EQ(ran, 0);
  loop.run_once(0);
  EXPECT_EQ(ran, 1);
  loop.run_once(0);
  EXPECT_EQ(ran, 1);
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  EventLoop loop = make_loop();
  std::atomic<bool> ticked{false};
  auto timer = LoopTimer::create(loop, [&] { ticked = true; });
  ASSERT_TRUE(timer.has_value()) << timer.error().message();
  (*timer)->arm(1ms);
  auto result = std::async(std::launch::async, [&] {
    loop.run();
    return loop.stopping();
  });
  // Wait until the loop has turned at least once, so stop() meets a loop blocked in epoll_wait.
  const auto deadline = Clock::now() + 3s;
  while (!ticked && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(ticked.load());
  std::thread stopper([&] { loop.stop(); });
  stopper.join();
  EXPECT_TRUE(get_within(result, 5000ms, "EventLoop::run after stop()"));
}

TEST(EventLoop, StopBeforeRunEndsRunAtOnce) {
  EventLoop loop = make_loop();
  EXPECT_FALSE(loop.stopping());
  loop.stop();
  auto result = std::async(std::launch::async, [&] {
    loop.run();
    return true;
  });
  EXPECT_TRUE(get_within(result, 5000ms, "EventLoop::run after an early stop()"));
  EXPECT_TRUE(loop.stopping());
}

TEST(EventLoop, MovedLoopStillStops) {
  EventLoop original = make_loop();
  EventLoop loop = std::move(original);
  SocketPair p = make_socketpair();
  RecordingHandler h;
  ASSERT_TRUE(loop.add(p.a.get(), EPOLLIN, &h).has_value());
  send_byte(p.b.get());
  EXPECT_EQ(loop.run_once(1000), 1);
  loop.stop();
  auto result = std::async(std::launch::async, [&] {
    loop.run();
    return true;
  });
  EXPECT_TRUE(get_within(result, 5000ms, "EventLoop::run of a moved loop"));
}

TEST(Timer, OneShotFiresOnceAfterTheDelay) {
  EventLoop loop = make_loop();
  int fired = 0;
  Clock::time_point fired_at;
  auto timer = LoopTimer::create(loop, [&] {
    ++fired;
    fired_at = Clock::now();
  });
  ASSERT_TRUE(timer.has_value()) << timer.error().message();
  const auto start = Clock::now();
  (*timer)->arm(50ms);
  ASSERT_TRUE(run_until(loop, [&] { return fired > 0; }));
  EXPECT_GE(fired_at - start, 45ms);
  // Nothing more: turn the loop for a while and count again.
  const auto quiet_until = Clock::now() + 150ms;
  while (Clock::now() < quiet_until) loop.run_once(20);
  EXPECT_EQ(fired, 1);
}

TEST(Timer, ZeroDelayStillFires) {
  EventLoop loop = make_loop();
  int fired = 0;
  auto timer = LoopTimer::create(loop, [&] { ++fired; });
  ASSERT_TRUE(timer.has_value());
  (*timer)->arm(0ms);
  ASSERT_TRUE(run_until(loop, [&] { return fired > 0; }));
  EXPECT_EQ(fired, 1);
}

TEST(Timer, PeriodicFiresRepeatedlyUntilDisarmed) {
  EventLoop loop = make_loop();
  int fired = 0;
  auto timer = LoopTimer::create(loop, [&] { ++fired; });
  ASSERT_TRUE(timer.has_value());
  const auto start = Clock::now();
  (*timer)->arm(10ms, 10ms);
  ASSERT_TRUE(run_until(loop, [&] { return fired >= 5; }, 5000ms)) << "fired " << fired;
  // Five firings of a 10ms timer take at least ~50ms (expirations coalesce, never multiply).
  EXPECT_GE(Clock::now() - start, 40ms);
  (*timer)->disarm();
  const int at_disarm = fired;
  const auto quiet_until = Clock::now() + 100ms;
  while (Clock::now() < quiet_until) loop.run_once(20);
  EXPECT_EQ(fired, at_disarm);
}

TEST(Timer, RearmReplacesTheDeadline) {
  EventLoop loop = make_loop();
  int fired = 0;
  auto timer = LoopTimer::create(loop, [&] { ++fired; });
  ASSERT_TRUE(timer.has_value());
  (*timer)->arm(10ms, 10ms);
  (*timer)->arm(10'000ms);  // one-shot, far away: the periodic arm is gone
  const auto quiet_until = Clock::now() + 100ms;
  while (Clock::now() < quiet_until) loop.run_once(20);
  EXPECT_EQ(fired, 0);
}

TEST(Timer, DestroyedTimerLeavesTheLoop) {
  EventLoop loop = make_loop();
  int fired = 0;
  {
    auto timer = LoopTimer::create(loop, [&] { ++fired; });
    ASSERT_TRUE(timer.has_value());
    (*timer)->arm(1ms, 1ms);
  }
  const auto quiet_until = Clock::now() + 50ms;
  while (Clock::now() < quiet_until) loop.run_once(10);
  EXPECT_EQ(fired, 0);
}

}  // namespace
}  // namespace herdless
