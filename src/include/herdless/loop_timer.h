// LoopTimer: the public Timer (timer.h) on an EventLoop: a timerfd that calls a function once or
// periodically.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "herdless/event_loop.h"
#include "herdless/timer.h"

namespace herdless {

class LoopTimer final : public Timer {
 public:
  static Result<std::unique_ptr<LoopTimer>> create(EventLoop& loop, std::function<void()> fn);
  ~LoopTimer() override;
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  // Fires after `delay`, then every `period` if it is non-zero.
  void arm(std::chrono::milliseconds delay, std::chrono::milliseconds period = std::chrono::milliseconds(0)) override;
  void disarm() override;

 private:
  LoopTimer(EventLoop& loop, std::function<void()> fn);
  EventLoop& loop_;
  Fd fd_;
  CallbackHandler handler_;
  std::function<void()> fn_;
};

}  // namespace herdless
