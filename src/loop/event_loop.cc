// EventLoop: epoll_wait, dispatch, deferred work.
#include "herdless/event_loop.h"

#include <sys/eventfd.h>

#include <memory>

namespace herdless {

Result<EventLoop> EventLoop::create() {
  EventLoop loop;
  loop.epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop.epoll_) return sys_error("epoll_create1", "");
  loop.wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!loop.wake_) return sys_error("eventfd", "");
  loop.events_.resize(256);
  return loop;
}

EventLoop::EventLoop(EventLoop&&) noexcept = default;
EventLoop& EventLoop::operator=(EventLoop&&) noexcept = default;
EventLoop::~EventLoop() = default;

Result<void> EventLoop::add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return sys_error("epoll_ctl(ADD)", "fd " + std::to_string(fd));
  return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) return sys_error("epoll_ctl(MOD)", "fd " + std::to_string(fd));
  return {};
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EventLoop::run_once(int timeout_ms) {
  if (!wake_handler_) {
    // Registered lazily so that the handler's address is stable (the loop may have moved).
    wake_handler_ = std::make_unique<CallbackHandler>([this](uint32_t) {
      uint64_t value = 0;
      [[maybe_unused]] auto n = ::read(wake_.get(), &value, sizeof value);
      stop_requested_ = true;
    });
    (void)add(wake_.get(), EPOLLIN, wake_handler_.get());
  }
  const int n = ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  ++wakeups_;
  for (int i = 0; i < n; ++i) {
    auto* handler = static_cast<EventHandler*>(events_[static_cast<size_t>(i)].data.ptr);
    handler->on_events(events_[static_cast<size_t>(i)].events);
  }
  while (!deferred_.empty()) {
    // Swap with a kept buffer, so neither vector loses its capacity between batches.
    running_.swap(deferred_);
    for (auto& fn : running_) fn();
    running_.clear();
  }
  return n < 0 ? 0 : n;
}

void EventLoop::run() {
  while (!stop_requested_) run_once(-1);
}

void EventLoop::stop() {
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

}  // namespace herdless
