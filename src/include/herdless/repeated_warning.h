// RepeatedWarning: a condition that clients can cause again and again (accept failing for
// want of descriptors, connections closed for a slow request head, ...) said in two log lines
// instead of a flood: one when it starts, one once it has not recurred for a quiet period,
// with how many times it occurred and over how long. One object per condition and worker;
// not thread-safe: it belongs to one event loop, like the worker that owns it.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace herdless {

class RepeatedWarning {
 public:
  static constexpr std::chrono::milliseconds kDefaultQuiet{2000};

  // `what` starts both lines, e.g. "worker 0: accept failed, pausing accepts".
  explicit RepeatedWarning(std::string what, spdlog::level::level_enum level = spdlog::level::warn,
                           std::chrono::milliseconds quiet = kDefaultQuiet);
  // A run still going on is ended with its line.
  ~RepeatedWarning();
  RepeatedWarning(const RepeatedWarning&) = delete;
  RepeatedWarning& operator=(const RepeatedWarning&) = delete;

  // `count` occurrences at `now_ns` (monotonic). The first of a run logs
  // "<what>: <detail> (repeats are counted; one line when it stops)"; the others only count.
  void occurred(int64_t now_ns, std::string_view detail = {}, uint64_t count = 1);
  // Call periodically: once `quiet` has passed since the last occurrence, logs
  // "<what>: stopped; N times in D s" and the next occurrence starts a new run.
  void poll(int64_t now_ns);
  // Ends the run now (with its line) if one is going on.
  void end();

  bool active() const { return count_ > 0; }
  uint64_t count() const { return count_; }  // occurrences of the current run
  uint64_t runs() const { return runs_; }    // runs started so far

 private:
  std::string what_;
  spdlog::level::level_enum level_;
  int64_t quiet_ns_;
  uint64_t count_ = 0;
  uint64_t runs_ = 0;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace herdless
