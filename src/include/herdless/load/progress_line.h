// ProgressLine: one status line on stderr that rewrites itself in place ("\r...\033[K"),
// only when stderr is a terminal; at most ~4 refreshes per second; cleared by clear().
#pragma once

#include <chrono>
#include <string>

#include "herdless/load/load_options.h"

namespace herdless::load {

class ProgressLine {
 public:
  // Enabled when stderr is a terminal (isatty(2)).
  ProgressLine();
  // Enabled or not regardless of stderr (tests).
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  // Shows `text` unless the last refresh was less than 250 ms ago and `now` is false.
  void show(const std::string& text, bool now = false);
  // Erases the line, if one is shown.
  void clear();

 private:
  bool enabled_ = false;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// "2.3 s  41,279 done  0 failed  64 in flight" for a run in progress.
std::string describe(const LoadProgress& progress);

// 41279 -> "41,279".
std::string with_thousands(uint64_t value);

}  // namespace herdless::load
