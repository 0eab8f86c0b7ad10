// SteerMode names.
#include "herdless/steer_mode.h"

#include <fmt/format.h>

#include <string>

namespace herdless {

const char* steer_mode_name(SteerMode mode) {
  switch (mode) {
    case SteerMode::hash: return "hash";
    case SteerMode::least_loaded: return "least-loaded";
    case SteerMode::affinity: return "affinity";
    case SteerMode::cpu: return "cpu";
  }
  return "?";
}

Result<SteerMode> parse_steer_mode(std::string_view text) {
  for (SteerMode mode : {SteerMode::hash, SteerMode::least_loaded, SteerMode::affinity, SteerMode::cpu}) {
    if (text == steer_mode_name(mode)) return mode;
  }
  return input_error("invalid steer", fmt::format("'{}' (want hash, least-loaded, affinity or cpu)", text));
}

}  // namespace herdless
