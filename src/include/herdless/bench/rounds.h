// Rounds of `herdless bench`: every strategy of a scenario runs once per round, in the listed
// order in even rounds and reversed in odd ones (A B C, C B A, ...: ABBA), so that a drift of
// the machine's speed during a pair of rounds weighs the same on every strategy, and the
// second strategy (least-loaded) always runs next to the first (hash), the pair the paired
// ratio is about (on a shared VM the rate drifts by 10 % within a minute; rotation put the
// two up to 20 s apart). The reported row of a strategy is its median round by rate (a row
// that was measured, so its figures belong together), with every round's rate and the median
// of its paired ratio to the first strategy of the same round.
#pragma once

#include <cstddef>
#include <vector>

#include "herdless/bench/bench_report.h"

namespace herdless::bench {

// The strategy run at position `i` of round `round` (0-based) among `count`.
std::size_t round_order_index(std::size_t i, std::size_t round, std::size_t count);

// runs[s][r]: strategy s in round r. One row per strategy, as described above.
std::vector<BenchRow> combine_rounds(const std::vector<std::vector<BenchRow>>& runs);

}  // namespace herdless::bench
