// EventLoop: our own epoll reactor (hand-written on purpose: we need exact control of the
// epoll flags, of how often a worker wakes and of what runs between two epoll_wait calls).
// One loop per worker; not thread-safe except stop(), which any thread may call.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless {

// Something registered with a loop; events are the epoll bits (EPOLLIN, EPOLLOUT, ...).
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_events(uint32_t events) = 0;
};

// An EventHandler that calls a function: for the few non-connection fds (timers, signals).
class CallbackHandler final : public EventHandler {
 public:
  explicit CallbackHandler(std::function<void(uint32_t)> fn) : fn_(std::move(fn)) {}
  void on_events(uint32_t events) override { fn_(events); }

 private:
  std::function<void(uint32_t)> fn_;
};

class EventLoop {
 public:
  static Result<EventLoop> create();

  EventLoop(EventLoop&&) noexcept;
  EventLoop& operator=(EventLoop&&) noexcept;
  ~EventLoop();

  Result<void> add(int fd, uint32_t events, EventHandler* handler);
  Result<void> modify(int fd, uint32_t events, EventHandler* handler);
  void remove(int fd);

  // Waits once (up to timeout_ms, -1 = forever) and dispatches; returns the events handled.
  int run_once(int timeout_ms);
  // Runs until stop() is called.
  void run();
  // Thread-safe and async-signal-safe: makes run() return after the current batch.
  void stop();
  bool stopping() const { return stop_requested_; }

  // Runs `fn` after the current batch of events: the place to free objects closed by a
  // handler while other events of the same batch may still name them.
  void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

  // Counts epoll_wait returns, for the wake-up statistics.
  uint64_t wakeups() const { return wakeups_; }
  int epoll_fd() const { return epoll_.get(); }

 private:
  EventLoop() = default;

  Fd epoll_;
  Fd wake_;  // eventfd for stop()
  std::unique_ptr<CallbackHandler> wake_handler_;
  std::vector<epoll_event> events_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> running_;  // the batch of deferred work being run
  bool stop_requested_ = false;
  uint64_t wakeups_ = 0;
};

}  // namespace herdless
