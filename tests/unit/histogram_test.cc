// Histogram: percentiles against exact answers from sorted data, within the promised
// precision (a reported value v' for a true value v satisfies v <= v' <= v + v/128).
#include "herdless/load/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace herdless::load {
namespace {

// The value at `percentile` of `sorted` by the same rank rule: the ceil(p% * n)-th value.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double percentile) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(percentile / 100.0 * n - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_precision(const Histogram& h, std::vector<uint64_t> values) {
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t exact = exact_percentile(values, p);
    const uint64_t got = h.value_at_percentile(p);
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got, exact + exact / 128) << "p" << p;
  }
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  EXPECT_EQ(h.value_at_percentile(50), 50u);
  EXPECT_EQ(h.value_at_percentile(90), 90u);
  EXPECT_EQ(h.value_at_percentile(99), 99u);
  EXPECT_EQ(h.value_at_percentile(99.9), 100u);
  EXPECT_EQ(h.value_at_percentile(100), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, UniformDistributionWithinOnePercent) {
  Histogram h;
  std::vector<uint64_t> values;
  for (uint64_t v = 1; v <= 100'000; ++v) {
    h.record(v);
    values.push_back(v);
  }
  expect_within_precision(h, values);
  EXPECT_NEAR(static_cast<double>(h.value_at_percentile(50)), 50'000.0, 500.0);
  EXPECT_NEAR(static_cast<double>(h.value_at_percentile(99.9)), 99'900.0, 999.0);
  EXPECT_DOUBLE_EQ(h.mean(), 50'000.5);
}

TEST(Histogram, LongTailedDistributionWithinPrecision) {
  // A deterministic heavy tail: mostly ~1 ms, every 100th ~50 ms, every 1000th ~2 s.
  Histogram h;
  std::vector<uint64_t> values;
  uint64_t state = 12345;
  for (int i = 0; i < 200'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const uint64_t jitter = (state >> 33) % 1000;
    uint64_t v = 800 + jitter;
    if (i % 100 == 0) v = 50'000 + jitter * 37;
    if (i % 1000 == 0) v = 2'000'000 + jitter * 1013;
    h.record(v);
    values.push_back(v);
  }
  expect_within_precision(h, values);
}

TEST(Histogram, EveryMagnitudeWithinPrecision) {
  // One small and one huge value per case: p50 is the small one, rounded up within its bucket.
  for (unsigned bits = 0; bits < 63; ++bits) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{12345}}) {
      const uint64_t v = (uint64_t{1} << bits) + (offset % (uint64_t{1} << bits));
      Histogram h;
      h.record(v);
      h.record(UINT64_MAX);
      const uint64_t got = h.value_at_percentile(50);
      EXPECT_GE(got, v) << v;
      EXPECT_LE(got, v + v / 128) << v;
      EXPECT_EQ(h.value_at_percentile(100), UINT64_MAX);
    }
  }
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram a;
  Histogram b;
  Histogram all;
  for (uint64_t v = 1; v <= 5000; v += 3) {
    (v % 2 == 0 ? a : b).record(v * 17);
    all.record(v * 17);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
}

}  // namespace
}  // namespace herdless::load
