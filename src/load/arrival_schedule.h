// ArrivalSchedule: the fixed timetable of an open-loop run. Arrival k is due at
// begin + k / rate, for every k with k / rate < duration; a closed-loop run has none.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>

namespace herdless::load::detail {

using Clock = std::chrono::steady_clock;

class ArrivalSchedule {
 public:
  // Closed loop: no timetable.
  ArrivalSchedule() = default;
  ArrivalSchedule(double rate, Clock::time_point begin, std::chrono::milliseconds duration)
      : open_loop_(true),
        interval_ns_(1e9 / rate),
        begin_(begin),
        count_(static_cast<uint64_t>(std::ceil(static_cast<double>(duration.count()) * rate / 1000.0 - 1e-9))) {}

  bool open_loop() const { return open_loop_; }
  // Arrivals in the whole run.
  uint64_t count() const { return count_; }
  bool exhausted() const { return next_ >= count_; }
  // The intended start of the next arrival (time_point::max() once exhausted).
  Clock::time_point next() const {
    if (exhausted()) return Clock::time_point::max();
    const auto offset = static_cast<int64_t>(static_cast<double>(next_) * interval_ns_);
    return begin_ + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(offset));
  }
  void advance() { ++next_; }

 private:
  bool open_loop_ = false;
  double interval_ns_ = 0;
  Clock::time_point begin_{};
  uint64_t count_ = 0;
  uint64_t next_ = 0;
};

}  // namespace herdless::load::detail
