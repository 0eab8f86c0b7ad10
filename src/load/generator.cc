// The loop of the load generator: when requests start (closed loop, open-loop timetable,
// hold ramp), deadlines, progress reports, and the tally of outcomes.
#include "generator.h"

#include <algorithm>
#include <array>
#include <ctime>

namespace herdless::load {
namespace detail {
namespace {

constexpr auto kLocalErrorPause = std::chrono::milliseconds(1);
constexpr auto kMaxWait = std::chrono::milliseconds(250);
constexpr int kMaxEvents = 256;

timespec to_timespec(Clock::duration wait) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(wait, Clock::duration::zero()));
  return timespec{static_cast<time_t>(ns.count() / 1'000'000'000), static_cast<long>(ns.count() % 1'000'000'000)};
}

}  // namespace

Outcome classify(int error) {
  switch (error) {
    case ECONNREFUSED: return Outcome::refused;
    case ECONNRESET:
    case EPIPE: return Outcome::reset;
    case ETIMEDOUT: return Outcome::timed_out;
    default: return Outcome::other;
  }
}

Generator::Generator(const LoadOptions& options, Fd epoll)
    : options_(options),
      epoll_(std::move(epoll)),
      slots_(static_cast<std::size_t>(hold_mode() ? options.hold_connections : options.concurrency)),
      sources_(options.target, options.spread_sources) {
  result_.split = options.alt_every > 0;
  free_.reserve(slots_.size());
  for (std::size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

bool Generator::may_start() const {
  if (free_.empty()) return false;
  if (!hold_mode()) return true;
  return started_ < static_cast<uint64_t>(options_.hold_connections) &&
         connecting_ < static_cast<uint64_t>(options_.concurrency);
}

void Generator::fill(Clock::time_point now) {
  if (now < paused_until_) return;
  while (may_start()) {
    // A synchronous failure would otherwise refill at once: outside hold, wait a little.
    if (!start_one(Clock::now()) && !hold_mode()) {
      paused_until_ = now + kLocalErrorPause;
      return;
    }
  }
}

void Generator::fill_open_loop(Clock::time_point now) {
  // Arrivals that found every slot busy until their deadline passed fail without a socket.
  while (!schedule_.exhausted() && schedule_.next() + options_.timeout <= now) {
    schedule_.advance();
    ++result_.attempted;
    if (RequestTally* t = tally(alternative_now())) {
      ++t->attempted;
      ++t->failed;
    }
    count(Outcome::timed_out, Error{});
  }
  while (!schedule_.exhausted() && schedule_.next() <= now && !free_.empty()) {
    const auto intended = schedule_.next();
    schedule_.advance();
    start_one(intended);  // a synchronous failure is counted; the timetable paces retries
  }
}

void Generator::expire(Clock::time_point now) {
  while (!deadlines_.empty()) {
    const Deadline d = deadlines_.front();
    const Connection& c = slots_[d.slot];
    const bool live = c.fd && c.serial == d.serial && (!hold_mode() || !c.connected);
    if (live && d.at > now) return;
    deadlines_.pop_front();
    if (live) finish(d.slot, Outcome::timed_out, Error{});
  }
}

void Generator::count(Outcome outcome, const Error& error) {
  LoadResult& r = result_;
  if (outcome == Outcome::completed) {
    ++r.completed;
    return;
  }
  ++r.failed;
  switch (outcome) {
    case Outcome::timed_out: ++r.timed_out; break;
    case Outcome::refused: ++r.refused; break;
    case Outcome::reset: ++r.reset; break;
    case Outcome::closed: ++r.closed; break;
    case Outcome::other:
      ++r.other;
      if (r.first_error.empty()) r.first_error = error.message();
      break;
    case Outcome::completed: break;
  }
}

bool Generator::alternative_now() const {
  return options_.alt_every > 0 && result_.attempted % static_cast<uint64_t>(options_.alt_every) == 0;
}

RequestTally* Generator::tally(bool alt) {
  if (!result_.split) return nullptr;
  return alt ? &result_.alternative : &result_.primary;
}

void Generator::attribute(const std::string& head) {
  const int worker = parse_worker_id(head);
  if (worker >= 0) {
    ++result_.per_worker[worker];
  } else {
    ++result_.unattributed;
  }
}

Clock::time_point Generator::next_wake(Clock::time_point now) const {
  Clock::time_point wake = std::min({now + kMaxWait, next_progress_, hold_end_});
  if (!deadlines_.empty()) wake = std::min(wake, deadlines_.front().at);
  if (open_loop()) {
    // With every slot busy only the deadline of the next arrival matters until one frees.
    if (!schedule_.exhausted()) wake = std::min(wake, schedule_.next() + (free_.empty() ? options_.timeout : Clock::duration::zero()));
    return wake;
  }
  if (now < stop_starting_) wake = std::min(wake, stop_starting_);
  if (now < paused_until_) wake = std::min(wake, paused_until_);
  return wake;
}

void Generator::report_progress(Clock::time_point now) {
  if (!options_.on_progress || now < next_progress_) return;
  next_progress_ = now + options_.progress_interval;
  options_.on_progress(LoadProgress{std::chrono::duration<double>(now - begin_).count(), result_.attempted,
                                    result_.completed, result_.failed, in_flight_});
}

bool Generator::step(Clock::time_point now) {
  if (options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed)) {
    result_.cancelled = true;
    return false;
  }
  expire(now);
  if (open_loop()) {
    fill_open_loop(now);
    return !schedule_.exhausted() || in_flight_ > 0;
  }
  if (!hold_mode()) {
    if (now < stop_starting_) fill(now);
    return now < stop_starting_ || in_flight_ > 0;
  }
  if (hold_end_ == Clock::time_point::max()) {
    fill(now);
    if (started_ < static_cast<uint64_t>(options_.hold_connections) || connecting_ > 0) return true;
    ramp_done_ = now;
    hold_end_ = now + options_.duration;
  }
  return now < hold_end_ && in_flight_ > 0;
}

Result<LoadResult> Generator::run() {
  begin_ = Clock::now();
  if (options_.rate > 0) schedule_ = ArrivalSchedule(options_.rate, begin_, options_.duration);
  if (!hold_mode()) stop_starting_ = begin_ + options_.duration;
  if (options_.on_progress) next_progress_ = begin_ + options_.progress_interval;
  std::array<epoll_event, kMaxEvents> events{};
  for (auto now = begin_; step(now); now = Clock::now()) {
    report_progress(now);
    const timespec wait = to_timespec(next_wake(now) - now);
    const int n = ::epoll_pwait2(epoll_.get(), events.data(), kMaxEvents, &wait, nullptr);
    if (n < 0 && errno != EINTR) return sys_error("epoll_pwait2", options_.target.url());
    for (int i = 0; i < n; ++i) handle(events[static_cast<std::size_t>(i)]);
  }
  const auto end = Clock::now();
  if (hold_mode() && !result_.cancelled) {
    for (const Connection& c : slots_) {
      if (!c.fd) continue;
      ++result_.completed;  // held until the end
      attribute(c.head);
    }
  }
  result_.seconds = std::chrono::duration<double>(end - begin_).count();
  const double rate_seconds =
      hold_mode() ? std::chrono::duration<double>(ramp_done_ - begin_).count() : result_.seconds;
  const uint64_t rate_count = hold_mode() ? result_.connected : result_.completed;
  if (rate_seconds > 0) result_.connections_per_second = static_cast<double>(rate_count) / rate_seconds;
  return std::move(result_);
}

}  // namespace detail

Result<LoadResult> run_load(const LoadOptions& options) {
  if (auto valid = validate_load_options(options); !valid) return std::unexpected(valid.error());
  Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return sys_error("epoll_create1", options.target.url());
  detail::Generator generator(options, std::move(epoll));
  return generator.run();
}

}  // namespace herdless::load
