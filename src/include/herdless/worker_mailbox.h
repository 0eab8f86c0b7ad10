// WorkerMailbox: the Mailbox of one worker. Posted tasks go into a vector under a mutex and
// an eventfd wakes the worker's loop, which runs them in order (run_posted). The eventfd is the
// mailbox's own, so a post after the worker is gone writes to a descriptor nobody reads
// instead of a closed (or reused) one. Hand-written rather than a library queue: the tasks
// must wake our own epoll loop, and a mutex around a vector swap is all the concurrency needed.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "herdless/error.h"
#include "herdless/fd.h"
#include "herdless/mailbox.h"

namespace herdless {

class WorkerMailbox final : public Mailbox {
 public:
  static Result<std::shared_ptr<WorkerMailbox>> create();

  bool post(std::function<void()> task) override;

  // The worker's side (its thread only).
  int fd() const { return event_fd_.get(); }  // readable while tasks wait
  // Runs the tasks posted so far, oldest first; returns how many. Tasks posted by them run in
  // the next call (a task that re-posts itself cannot starve the loop).
  size_t run_posted();
  // No more posts: later ones return false. Tasks still queued are destroyed unrun, here.
  void close();

 private:
  explicit WorkerMailbox(Fd event_fd) : event_fd_(std::move(event_fd)) {}

  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;  // guarded by mutex_
  bool open_ = true;                          // guarded by mutex_
  Fd event_fd_;
};

}  // namespace herdless
