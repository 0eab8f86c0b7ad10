// Jain's fairness index and busiest / mean.
#include "herdless/bench/fairness.h"

#include <algorithm>
#include <numeric>

namespace herdless::bench {

std::optional<double> jain_index(const std::vector<double>& shares) {
  double sum = 0;
  double squares = 0;
  for (double x : shares) {
    sum += x;
    squares += x * x;
  }
  if (shares.empty() || sum <= 0) return std::nullopt;
  return sum * sum / (static_cast<double>(shares.size()) * squares);
}

std::optional<double> busiest_over_mean(const std::vector<double>& shares) {
  const double sum = std::accumulate(shares.begin(), shares.end(), 0.0);
  if (shares.empty() || sum <= 0) return std::nullopt;
  const double mean = sum / static_cast<double>(shares.size());
  return *std::max_element(shares.begin(), shares.end()) / mean;
}

}  // namespace herdless::bench
