// The chart of a scenario as a self-contained SVG (no external tool): three panels of
// horizontal bars, one bar per strategy: connections/s, p99 latency, and wake-ups per
// accepted connection. Unmeasured rows and absent figures are labelled "n/a".
#pragma once

#include <string>

#include "herdless/bench/bench_report.h"

namespace herdless::bench {

std::string render_svg(const ScenarioReport& report);

}  // namespace herdless::bench
