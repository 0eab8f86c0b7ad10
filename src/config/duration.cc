// parse_duration: "<number>[ms|s|m]".
#include "herdless/duration.h"

#include <charconv>
#include <cmath>
#include <string>

namespace herdless {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || value < 0) {
    return input_error("invalid duration (want e.g. 500ms, 60s, 2m)", std::string(text));
  }
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double ms = 0;
  if (unit == "ms") {
    ms = value;
  } else if (unit == "s" || unit.empty()) {
    ms = value * 1000.0;
  } else if (unit == "m") {
    ms = value * 60'000.0;
  } else {
    return input_error("invalid duration unit (want ms, s or m)", std::string(text));
  }
  constexpr double kMaxMs = 366.0 * 24 * 3600 * 1000;  // a year: keeps every ns conversion in range
  if (!std::isfinite(ms) || ms > kMaxMs) {
    return input_error("invalid duration (at most a year)", std::string(text));
  }
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

}  // namespace herdless
