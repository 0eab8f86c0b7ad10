// The bench's arithmetic: Jain's index and busiest/mean on known shares, /stats parsing
// and the difference of two samples (wake-ups per accept, n/a when a server does not
// count them), and utime + stime out of /proc/PID/stat lines with awkward command names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "herdless/bench/cpu_time.h"
#include "herdless/bench/fairness.h"
#include "herdless/bench/stats_sample.h"

namespace herdless::bench {
namespace {

TEST(BenchFairness, JainIndexOfKnownShares) {
  EXPECT_DOUBLE_EQ(*jain_index({5, 5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(*jain_index({8, 0, 0, 0}), 0.25);  // one of n has everything: 1/n
  EXPECT_DOUBLE_EQ(*jain_index({1, 3}), 16.0 / 20.0);  // (1+3)^2 / (2 * (1+9))
  EXPECT_DOUBLE_EQ(*jain_index({7}), 1.0);
  EXPECT_FALSE(jain_index({}));
  EXPECT_FALSE(jain_index({0, 0}));
}

TEST(BenchFairness, BusiestOverMean) {
  EXPECT_DOUBLE_EQ(*busiest_over_mean({5, 5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(*busiest_over_mean({8, 0, 0, 0}), 4.0);
  EXPECT_DOUBLE_EQ(*busiest_over_mean({1, 3}), 1.5);
  EXPECT_FALSE(busiest_over_mean({}));
  EXPECT_FALSE(busiest_over_mean({0}));
}

nlohmann::json stats_with(const std::vector<nlohmann::json>& workers) {
  return {{"mode", "process"}, {"steer", "hash"}, {"accept", "shared"}, {"workers", workers}};
}

TEST(BenchStats, ParsesWorkersAndOptionalCounters) {
  auto sample = parse_stats(stats_with({{{"id", 0}, {"pid", 100}, {"accepted", 7}, {"active", 2}, {"wakeups", 9},
                                         {"empty_accepts", 2}},
                                        {{"id", 1}, {"pid", 101}, {"accepted", 3}, {"active", 0}}}));
  ASSERT_TRUE(sample) << sample.error().message();
  EXPECT_EQ(sample->mode, "process");
  EXPECT_EQ(sample->steer, "hash");
  EXPECT_EQ(sample->accept, "shared");
  ASSERT_EQ(sample->workers.size(), 2u);
  EXPECT_EQ(sample->workers[0].pid, 100);
  EXPECT_EQ(sample->workers[0].wakeups, 9u);
  EXPECT_EQ(sample->workers[0].empty_accepts, 2u);
  EXPECT_EQ(sample->workers[1].active, 0);
  EXPECT_FALSE(sample->workers[1].wakeups);
  EXPECT_FALSE(parse_stats(nlohmann::json::array()));
  EXPECT_FALSE(parse_stats({{"workers", 3}}));
  EXPECT_FALSE(parse_stats({{"workers", {1, 2}}}));
}

TEST(BenchStats, DeltaSumsOverWorkers) {
  auto before = parse_stats(stats_with({{{"id", 0}, {"accepted", 10}, {"wakeups", 10}, {"empty_accepts", 0}},
                                        {{"id", 1}, {"accepted", 20}, {"wakeups", 25}, {"empty_accepts", 5}}}));
  auto after = parse_stats(stats_with({{{"id", 0}, {"accepted", 110}, {"wakeups", 150}, {"empty_accepts", 40}},
                                       {{"id", 1}, {"accepted", 120}, {"wakeups", 145}, {"empty_accepts", 25}}}));
  ASSERT_TRUE(before && after);
  const StatsDelta delta = stats_delta(*before, *after);
  EXPECT_EQ(delta.accepted, 200u);
  EXPECT_EQ(delta.wakeups, 260u);  // 140 + 120
  EXPECT_EQ(delta.empty_accepts, 60u);
  EXPECT_DOUBLE_EQ(*delta.wakeups_per_accept(), 1.3);
}

TEST(BenchStats, WakeupsAreNotApplicableWhenAnyWorkerLacksThem) {
  auto before = parse_stats(stats_with({{{"id", 0}, {"accepted", 0}}, {{"id", 1}, {"accepted", 0}, {"wakeups", 0}}}));
  auto after = parse_stats(stats_with({{{"id", 0}, {"accepted", 5}}, {{"id", 1}, {"accepted", 5}, {"wakeups", 9}}}));
  ASSERT_TRUE(before && after);
  const StatsDelta delta = stats_delta(*before, *after);
  EXPECT_EQ(delta.accepted, 10u);
  EXPECT_FALSE(delta.wakeups);
  EXPECT_FALSE(delta.empty_accepts);
  EXPECT_FALSE(delta.wakeups_per_accept());
}

TEST(BenchStats, NoAcceptsMeansNoRatio) {
  auto sample = parse_stats(stats_with({{{"id", 0}, {"accepted", 4}, {"wakeups", 4}, {"empty_accepts", 0}}}));
  ASSERT_TRUE(sample);
  const StatsDelta delta = stats_delta(*sample, *sample);
  EXPECT_EQ(delta.wakeups, 0u);
  EXPECT_FALSE(delta.wakeups_per_accept());
}

TEST(BenchCpuTime, ParsesUtimePlusStime) {
  // Fields 14 (utime) = 250 and 15 (stime) = 125.
  const std::string line =
      "1234 (herdless) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 1 0 100 1000000 200 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  EXPECT_EQ(*parse_stat_cpu_ticks(line), 375u);
}

TEST(BenchCpuTime, CommandNamesWithSpacesAndParentheses) {
  const std::string line = "77 (a b) (c)) R 1 77 77 0 -1 0 0 0 0 0 9 1 0 0 20 0 1 0 5 0 0";
  EXPECT_EQ(*parse_stat_cpu_ticks(line), 10u);
}

TEST(BenchCpuTime, RejectsMalformedLines) {
  EXPECT_FALSE(parse_stat_cpu_ticks(""));
  EXPECT_FALSE(parse_stat_cpu_ticks("1 (x) S 1 2 3"));
  EXPECT_FALSE(parse_stat_cpu_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 1 0"));
}

TEST(BenchCpuTime, ReadsThisProcess) {
  // Burn a little CPU so that at least one tick is accounted.
  volatile uint64_t sink = 0;
  for (uint64_t i = 0; i < 50'000'000; ++i) sink = sink + i;
  auto seconds = process_cpu_seconds(static_cast<int>(::getpid()));
  ASSERT_TRUE(seconds) << seconds.error().message();
  EXPECT_GT(*seconds, 0.0);
  EXPECT_TRUE(total_cpu_seconds({static_cast<int>(::getpid())}));
  EXPECT_FALSE(total_cpu_seconds({}));
  EXPECT_FALSE(total_cpu_seconds({static_cast<int>(::getpid()), 0}));
}

}  // namespace
}  // namespace herdless::bench
