// Parsing of durations as written on the command line and in config files: "500ms", "60s",
// "2m", or a plain number of seconds.
#pragma once

#include <chrono>
#include <string_view>

#include "herdless/error.h"

namespace herdless {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace herdless
