// Rounds of `herdless bench`: every strategy of a scenario runs once per round, the order
// rotated from round to round (A B C, B C A, ...), so that no strategy always runs first or
// last (a run leaves TIME_WAIT sockets and a warmer or busier machine to the next). The
// reported row of a strategy is its median round by rate (a row that was measured, so its
// figures belong together), with every round's rate and the median of its paired ratio to
// the first strategy of the same round.
#pragma once

#include <cstddef>
#include <vector>

#include "herdless/bench/bench_report.h"

namespace herdless::bench {

// The strategy run at position `i` of round `round` (0-based) among `count`.
std::size_t rotated_index(std::size_t i, std::size_t round, std::size_t count);

// runs[s][r]: strategy s in round r. One row per strategy, as described above.
std::vector<BenchRow> combine_rounds(const std::vector<std::vector<BenchRow>>& runs);

}  // namespace herdless::bench
