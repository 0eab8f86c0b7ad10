// Mailbox: hands work from any thread to one worker's loop (WorkerContext::mailbox). A task
// posted from a thread pool, a blocking client library or a timer thread runs on the worker's
// thread in a coming loop turn, where it may touch the worker's services and connections.
#pragma once

#include <functional>

namespace herdless {

class Mailbox {
 public:
  virtual ~Mailbox() = default;
  // Any thread: queues `task` to run on the worker's thread, after the tasks posted before it.
  // Returns false, and drops the task unrun, once the worker has finished (after its drain):
  // a Mailbox may be kept, and posted to, longer than its worker lives.
  virtual bool post(std::function<void()> task) = 0;
};

}  // namespace herdless
