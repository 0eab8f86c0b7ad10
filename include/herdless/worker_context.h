// WorkerContext: what a worker tells the services it runs: which worker it is, the time of its
// loop, and timers on its loop. Handed to the service factories; valid for the service's life.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "herdless/error.h"
#include "herdless/timer.h"

namespace herdless {

class WorkerContext {
 public:
  virtual ~WorkerContext() = default;
  // This worker's index (slot), 0 .. workers() - 1, and how many workers the server runs.
  virtual int worker() const = 0;
  virtual int workers() const = 0;
  // Monotonic time (CLOCK_MONOTONIC, ns), read at the start of the current loop turn.
  virtual int64_t now_ns() const = 0;
  // A timer whose callback runs on this worker's thread. Destroy it before the loop goes
  // (a service's member is fine: a worker destroys its services before its loop).
  virtual Result<std::unique_ptr<Timer>> make_timer(std::function<void()> callback) = 0;
};

}  // namespace herdless
