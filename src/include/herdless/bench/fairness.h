// Balance measures over per-worker shares (connections completed or held per worker):
// Jain's fairness index and busiest / mean. Both are nullopt without a positive total.
#pragma once

#include <optional>
#include <vector>

namespace herdless::bench {

// (sum x)^2 / (n * sum x^2): 1 when every worker has the same share, 1/n when one has all.
std::optional<double> jain_index(const std::vector<double>& shares);

// max x / mean x: 1 when even, n when one worker has everything.
std::optional<double> busiest_over_mean(const std::vector<double>& shares);

}  // namespace herdless::bench
