// Rounds of `herdless bench`: ABBA order and the median row (see the header).
#include "herdless/bench/rounds.h"

#include <algorithm>

namespace herdless::bench {
namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

}  // namespace

std::size_t round_order_index(std::size_t i, std::size_t round, std::size_t count) {
  if (count == 0) return 0;
  return round % 2 == 0 ? i % count : count - 1 - i % count;
}

std::vector<BenchRow> combine_rounds(const std::vector<std::vector<BenchRow>>& runs) {
  std::vector<BenchRow> rows;
  for (std::size_t s = 0; s < runs.size(); ++s) {
    std::vector<const BenchRow*> measured;
    for (const BenchRow& run : runs[s]) {
      if (run.measured) measured.push_back(&run);
    }
    if (measured.empty()) {
      rows.push_back(runs[s].empty() ? BenchRow{} : runs[s].front());
      continue;
    }
    std::vector<const BenchRow*> by_rate = measured;
    std::sort(by_rate.begin(), by_rate.end(),
              [](const BenchRow* a, const BenchRow* b) { return a->connections_per_second < b->connections_per_second; });
    BenchRow row = *by_rate[(by_rate.size() - 1) / 2];  // the lower middle of an even count
    row.round_rates.clear();
    std::vector<double> ratios;
    for (std::size_t r = 0; r < runs[s].size(); ++r) {
      const BenchRow& run = runs[s][r];
      if (!run.measured) continue;
      row.round_rates.push_back(run.connections_per_second);
      if (!runs.empty() && r < runs[0].size() && runs[0][r].measured && runs[0][r].connections_per_second > 0) {
        ratios.push_back(run.connections_per_second / runs[0][r].connections_per_second);
      }
    }
    if (!ratios.empty() && runs[s].size() > 1) row.rate_vs_first = median(ratios);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace herdless::bench
