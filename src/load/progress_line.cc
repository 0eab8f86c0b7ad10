// ProgressLine: the in-place status line on a terminal.
#include "herdless/load/progress_line.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace herdless::load {
namespace {

constexpr auto kRefresh = std::chrono::milliseconds(250);

}  // namespace

ProgressLine::ProgressLine() : enabled_(::isatty(STDERR_FILENO) == 1) {}

void ProgressLine::show(const std::string& text, bool now) {
  if (!enabled_) return;
  const auto at = std::chrono::steady_clock::now();
  if (!now && shown_ && at - last_ < kRefresh) return;
  last_ = at;
  shown_ = true;
  // Carriage return, the text, then erase whatever an earlier, longer line left.
  std::fprintf(stderr, "\r%s\033[K", text.c_str());
  std::fflush(stderr);
}

void ProgressLine::clear() {
  if (!enabled_ || !shown_) return;
  shown_ = false;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

std::string with_thousands(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string describe(const LoadProgress& p) {
  const double rate = p.elapsed_seconds > 0 ? static_cast<double>(p.completed) / p.elapsed_seconds : 0.0;
  return fmt::format("{:.1f} s  {} done ({}/s)  {} failed  {} in flight", p.elapsed_seconds,
                     with_thousands(p.completed), with_thousands(static_cast<uint64_t>(rate)),
                     with_thousands(p.failed), with_thousands(p.in_flight));
}

}  // namespace herdless::load
