// Histogram: a log-bucketed value histogram in the manner of HdrHistogram. Each power of
// two is split into 128 linear sub-buckets, so a reported value is within 1/128 (< 0.8%)
// of the recorded one; values below 128 are exact. Fixed memory (~59 KiB), O(1) record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace herdless::load {

class Histogram {
 public:
  Histogram();

  void record(uint64_t value);
  // Adds every value recorded in `other`.
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;

  // The smallest value v such that at least `percentile`% of the recorded values are <= v
  // (within the bucket precision; never below min() nor above max()). 0 when empty.
  // `percentile` is clamped to [0, 100].
  uint64_t value_at_percentile(double percentile) const;

 private:
  static std::size_t index_of(uint64_t value);
  // The largest value that falls into bucket `index`.
  static uint64_t highest_in_bucket(std::size_t index);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace herdless::load
