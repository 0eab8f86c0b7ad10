// RepeatedWarning: a start line, a count, an end line.
#include "herdless/repeated_warning.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace herdless {

RepeatedWarning::RepeatedWarning(std::string what, spdlog::level::level_enum level, std::chrono::milliseconds quiet)
    : what_(std::move(what)),
      level_(level),
      quiet_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(quiet).count()) {}

RepeatedWarning::~RepeatedWarning() { end(); }

void RepeatedWarning::occurred(int64_t now_ns, std::string_view detail, uint64_t count) {
  if (count == 0) return;
  if (count_ == 0) {
    ++runs_;
    first_ns_ = now_ns;
    if (detail.empty()) spdlog::log(level_, "{} (repeats are counted; one line when it stops)", what_);
    else spdlog::log(level_, "{}: {} (repeats are counted; one line when it stops)", what_, detail);
  }
  count_ += count;
  last_ns_ = now_ns;
}

void RepeatedWarning::poll(int64_t now_ns) {
  if (count_ > 0 && now_ns - last_ns_ >= quiet_ns_) end();
}

void RepeatedWarning::end() {
  if (count_ == 0) return;
  // The run lasted from its first occurrence to its last; the quiet period is not part of it.
  const double seconds = static_cast<double>(last_ns_ - first_ns_) / 1e9;
  spdlog::log(level_, "{}: stopped; {} {} in {:.1f} s", what_, count_, count_ == 1 ? "time" : "times", seconds);
  count_ = 0;
}

}  // namespace herdless
