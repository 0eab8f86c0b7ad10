// LoopTimer: timerfd_create/settime behind RAII.
#include "herdless/loop_timer.h"

#include <sys/timerfd.h>

namespace herdless {
namespace {

timespec to_timespec(std::chrono::milliseconds ms) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ms.count() / 1000);
  ts.tv_nsec = static_cast<long>((ms.count() % 1000) * 1'000'000);
  return ts;
}

}  // namespace

LoopTimer::LoopTimer(EventLoop& loop, std::function<void()> fn)
    : loop_(loop),
      handler_([this](uint32_t) {
        uint64_t expirations = 0;
        if (::read(fd_.get(), &expirations, sizeof expirations) > 0) fn_();
      }),
      fn_(std::move(fn)) {}

Result<std::unique_ptr<LoopTimer>> LoopTimer::create(EventLoop& loop, std::function<void()> fn) {
  std::unique_ptr<LoopTimer> timer(new LoopTimer(loop, std::move(fn)));
  timer->fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer->fd_) return sys_error("timerfd_create", "");
  auto added = loop.add(timer->fd_.get(), EPOLLIN, &timer->handler_);
  if (!added) return std::unexpected(added.error());
  return timer;
}

LoopTimer::~LoopTimer() {
  if (fd_) loop_.remove(fd_.get());
}

void LoopTimer::arm(std::chrono::milliseconds delay, std::chrono::milliseconds period) {
  itimerspec spec{};
  spec.it_value = to_timespec(delay.count() > 0 ? delay : std::chrono::milliseconds(1));
  spec.it_interval = to_timespec(period);
  ::timerfd_settime(fd_.get(), 0, &spec, nullptr);
}

void LoopTimer::disarm() {
  itimerspec spec{};
  ::timerfd_settime(fd_.get(), 0, &spec, nullptr);
}

}  // namespace herdless
