// The text table `herdless bench` prints per scenario: one line per strategy with rate,
// latency percentiles (ms), failures, wake-ups per accept, empty accepts, CPU time per
// connection, busiest / mean and Jain's index; "n/a" where a figure is absent.
#pragma once

#include <string>

#include "herdless/bench/bench_report.h"

namespace herdless::bench {

std::string render_table(const ScenarioReport& report);

}  // namespace herdless::bench
