// Timer: a timerfd registered with an EventLoop that calls a function once or periodically.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "herdless/event_loop.h"

namespace herdless {

class Timer {
 public:
  static Result<std::unique_ptr<Timer>> create(EventLoop& loop, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Fires after `delay`, then every `period` if it is non-zero.
  void arm(std::chrono::milliseconds delay, std::chrono::milliseconds period = std::chrono::milliseconds(0));
  void disarm();

 private:
  Timer(EventLoop& loop, std::function<void()> fn);
  EventLoop& loop_;
  Fd fd_;
  CallbackHandler handler_;
  std::function<void()> fn_;
};

}  // namespace herdless
