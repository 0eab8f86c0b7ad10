// WorkerContext: what a worker tells the services it runs: which worker it is, the time of its
// loop, timers on its loop and a mailbox into it. Handed to the service factories; valid for
// the service's life.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "herdless/error.h"
#include "herdless/mailbox.h"
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
  // This worker's mailbox: other threads post tasks to it that run on this worker's thread.
  // Made at the first call (it takes a descriptor, an eventfd), which must come from this
  // worker's thread (the factory or a callback); then the same one for the worker's life. It
  // may outlive the worker (posting then fails). A task that names a connection must expect
  // it closed by then: keep the Connection* in your own table, removed in on_close, and look
  // it up in the task.
  virtual Result<std::shared_ptr<Mailbox>> mailbox() = 0;
};

}  // namespace herdless
