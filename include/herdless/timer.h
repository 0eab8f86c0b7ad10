// Timer: a one-shot or periodic callback on a worker's own loop (thread), made by
// WorkerContext::make_timer. Destroying it cancels it.
#pragma once

#include <chrono>

namespace herdless {

class Timer {
 public:
  virtual ~Timer() = default;
  // Fires after `delay`, then every `period` if it is non-zero. Re-arming replaces the last arm.
  virtual void arm(std::chrono::milliseconds delay, std::chrono::milliseconds period = std::chrono::milliseconds(0)) = 0;
  virtual void disarm() = 0;
};

}  // namespace herdless
