// Bucket arithmetic of the log-bucketed Histogram.
#include "herdless/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace herdless::load {
namespace {

constexpr unsigned kSubBucketBits = 7;                       // 128 sub-buckets per octave
constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
constexpr unsigned kMaxShift = 64 - (kSubBucketBits + 1);    // values up to 2^64 - 1
constexpr std::size_t kBucketCount = kSubBuckets * (kMaxShift + 2);

}  // namespace

Histogram::Histogram() : buckets_(kBucketCount, 0) {}

// Values below 128 map to themselves. A larger value v has a shift s such that v >> s lies
// in [128, 256); its bucket is 128 + s * 128 + ((v >> s) - 128), which spans 2^s values.
std::size_t Histogram::index_of(uint64_t value) {
  if (value < kSubBuckets) return static_cast<std::size_t>(value);
  const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (kSubBucketBits + 1);
  const uint64_t top = value >> shift;
  return static_cast<std::size_t>(kSubBuckets + shift * kSubBuckets + (top - kSubBuckets));
}

uint64_t Histogram::highest_in_bucket(std::size_t index) {
  if (index < kSubBuckets) return index;
  const uint64_t shift = (index - kSubBuckets) / kSubBuckets;
  const uint64_t top = kSubBuckets + (index - kSubBuckets) % kSubBuckets;
  const uint64_t low = top << shift;
  return low + ((uint64_t{1} << shift) - 1);
}

void Histogram::record(uint64_t value) {
  ++buckets_[index_of(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double Histogram::mean() const {
  if (count_ == 0) return 0.0;
  return static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t Histogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  const double p = std::clamp(percentile, 0.0, 100.0);
  // Rank of the wanted value, 1-based: ceil(p% of count), at least the first value. The
  // tiny relative shave keeps 99.9% of 1000 at rank 999 despite 99.9 being inexact.
  const double exact_rank = std::ceil(p * static_cast<double>(count_) / 100.0 * (1.0 - 1e-12));
  const uint64_t rank = std::clamp<uint64_t>(static_cast<uint64_t>(exact_rank), 1, count_);
  uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(highest_in_bucket(i), min(), max_);
  }
  return max_;
}

}  // namespace herdless::load
