// WorkerMailbox: posted tasks, an eventfd to wake the loop, and their run on the loop.
#include "herdless/worker_mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace herdless {

Result<std::shared_ptr<WorkerMailbox>> WorkerMailbox::create() {
  Fd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) return sys_error("eventfd", "worker mailbox");
  return std::shared_ptr<WorkerMailbox>(new WorkerMailbox(std::move(fd)));
}

bool WorkerMailbox::post(std::function<void()> task) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!open_) return false;
    wake = tasks_.empty();  // otherwise the loop has been woken already
    tasks_.push_back(std::move(task));
  }
  if (wake) {
    const uint64_t one = 1;
    // Cannot fail short of a counter overflow (2^64 - 1 wake-ups unread): nothing to report.
    [[maybe_unused]] const ssize_t n = ::write(event_fd_.get(), &one, sizeof one);
  }
  return true;
}

size_t WorkerMailbox::run_posted() {
  uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(event_fd_.get(), &count, sizeof count);  // EAGAIN: none
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(tasks_);
  }
  for (auto& task : batch) {
    if (task) task();
  }
  return batch.size();
}

void WorkerMailbox::close() {
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    open_ = false;
    dropped.swap(tasks_);
  }
  // `dropped` goes here, outside the lock: a task's captures may post (and fail) as they die.
}

}  // namespace herdless
