// The bench's plan and output: worker counts and durations of the scenarios, the serve
// arguments per strategy, the JSON of a scenario (rows, nulls for absent figures), the
// text table (every column, "n/a" rows, footnotes) and the SVG chart.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "herdless/bench/bench_report.h"
#include "herdless/bench/bench_table.h"
#include "herdless/bench/rounds.h"
#include "herdless/bench/scenario.h"
#include "herdless/bench/scenario_runner.h"
#include "herdless/bench/svg_chart.h"

namespace herdless::bench {
namespace {

using namespace std::chrono_literals;

TEST(BenchPlan, WorkerCountsScaleFromTheBase) {
  const auto scenarios = bench_scenarios(PlanOptions{false, 2, 0ms, {}});
  ASSERT_EQ(scenarios.size(), 4u);
  EXPECT_EQ(scenarios[0].name, "steady");
  EXPECT_EQ(scenarios[0].workers, 2);
  EXPECT_EQ(scenarios[1].name, "oversubscribed");
  EXPECT_EQ(scenarios[1].workers, 16);
  EXPECT_EQ(scenarios[2].name, "stalled");
  EXPECT_EQ(scenarios[2].workers, 2);
  EXPECT_EQ(scenarios[2].kind, Scenario::Kind::stalled);
  EXPECT_EQ(scenarios[3].name, "long-lived");
  EXPECT_EQ(scenarios[3].workers, 8);
  EXPECT_EQ(scenarios[3].service, "echo");
  EXPECT_EQ(scenarios[3].hold_connections, 2000);
  EXPECT_EQ(scenarios[0].duration, 5000ms);
  // One worker still gives a stalled scenario with a second worker to take over.
  EXPECT_EQ(bench_scenarios(PlanOptions{false, 1, 0ms, {}})[2].workers, 2);
}

TEST(BenchPlan, QuickDurationOverrideAndFilter) {
  for (const Scenario& s : bench_scenarios(PlanOptions{true, 2, 0ms, {}})) EXPECT_LE(s.duration, 2000ms) << s.name;
  const auto some = bench_scenarios(PlanOptions{true, 2, 300ms, {"stalled", "steady"}});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].name, "steady");  // plan order, not filter order
  EXPECT_EQ(some[1].name, "stalled");
  for (const Scenario& s : some) EXPECT_EQ(s.duration, 300ms);
}

TEST(BenchPlan, StrategiesAndTheirServeArguments) {
  const auto strategies = bench_strategies();
  std::vector<std::string> labels;
  for (const Strategy& s : strategies) labels.push_back(s.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"reuseport hash", "reuseport least-loaded", "shared", "shared-exclusive",
                                              "accept-mutex"}));
  const Scenario steady = bench_scenarios(PlanOptions{})[0];
  const auto reuseport = serve_arguments(steady, strategies[1]);
  EXPECT_EQ(std::count(reuseport.begin(), reuseport.end(), "--accept"), 0);  // the default
  EXPECT_NE(std::find(reuseport.begin(), reuseport.end(), "least-loaded"), reuseport.end());
  const auto shared = serve_arguments(steady, strategies[2], {"--accept-batch=1"});
  const auto accept = std::find(shared.begin(), shared.end(), "--accept");
  ASSERT_NE(accept, shared.end());
  EXPECT_EQ(*(accept + 1), "shared");
  EXPECT_EQ(std::count(shared.begin(), shared.end(), "--steer"), 0);
  EXPECT_EQ(shared.back(), "--accept-batch=1");
  EXPECT_NE(std::find(shared.begin(), shared.end(), "127.0.0.1:0"), shared.end());
}

ScenarioReport sample_report() {
  ScenarioReport report;
  report.scenario = bench_scenarios(PlanOptions{})[0];
  BenchRow measured;
  measured.strategy = {"reuseport", "hash"};
  measured.measured = true;
  measured.connections_per_second = 41279.6;
  measured.attempted = 1000;
  measured.completed = 990;
  measured.failed = 10;
  measured.timed_out = 10;
  measured.latency_samples = 990;
  measured.p50_us = 523;
  measured.p90_us = 3055;
  measured.p99_us = 5695;
  measured.p999_us = 7391;
  measured.max_us = 8878;
  measured.wakeups = 1400;
  measured.empty_accepts = 400;
  measured.accepted = 1000;
  measured.wakeups_per_accept = 1.4;
  measured.cpu_us_per_connection = 21.25;
  set_balance(measured, {600, 390});
  report.rows.push_back(measured);
  BenchRow fell_back = measured;
  fell_back.strategy = {"reuseport", "least-loaded"};
  fell_back.note = "steering fell back to hash";
  fell_back.wakeups_per_accept.reset();
  fell_back.wakeups.reset();
  fell_back.empty_accepts.reset();
  report.rows.push_back(fell_back);
  report.rows.push_back(unmeasured_row({"shared", ""}, "herdless serve rejected its arguments: --accept <x> & y"));
  BenchRow nothing_completed;
  nothing_completed.strategy = {"accept-mutex", ""};
  nothing_completed.measured = true;
  nothing_completed.attempted = nothing_completed.failed = nothing_completed.timed_out = 320;
  report.rows.push_back(nothing_completed);
  return report;
}

TEST(BenchReport, JsonHasEveryRowWithNullsForAbsentFigures) {
  const nlohmann::json j = to_json(sample_report());
  EXPECT_EQ(j["scenario"], "steady");
  EXPECT_EQ(j["server"]["workers"], 2);
  EXPECT_EQ(j["load"]["concurrency"], 64);
  ASSERT_EQ(j["rows"].size(), 4u);
  const auto& first = j["rows"][0];
  EXPECT_EQ(first["strategy"], "reuseport hash");
  EXPECT_EQ(first["steer"], "hash");
  EXPECT_TRUE(first["measured"]);
  EXPECT_EQ(first["latency_us"]["p999"], 7391);
  EXPECT_DOUBLE_EQ(first["wakeups_per_accept"].get<double>(), 1.4);
  EXPECT_EQ(first["per_worker"], nlohmann::json::array({600.0, 390.0}));
  EXPECT_NEAR(first["jain"].get<double>(), 990.0 * 990 / (2 * (600.0 * 600 + 390.0 * 390)), 1e-12);
  EXPECT_NEAR(first["busiest_over_mean"].get<double>(), 600 / 495.0, 1e-12);
  EXPECT_TRUE(j["rows"][1]["wakeups_per_accept"].is_null());
  EXPECT_EQ(j["rows"][1]["note"], "steering fell back to hash");
  EXPECT_FALSE(j["rows"][2]["measured"]);
  EXPECT_TRUE(j["rows"][2]["steer"].is_null());
  EXPECT_FALSE(j["rows"][2].contains("connections_per_second"));
  EXPECT_TRUE(j["rows"][3]["latency_us"].is_null());  // no connection completed: no percentiles
  EXPECT_TRUE(j["rows"][3]["jain"].is_null());
}

TEST(BenchReport, TableShowsEveryColumnAndNotApplicable) {
  const std::string table = render_table(sample_report());
  EXPECT_NE(table.find("== steady:"), std::string::npos);
  for (const char* column : {"conn/s", "p50 ms", "p90 ms", "p99 ms", "p99.9", "failed", "wake/acc", "empty acc",
                             "cpu us/c", "max/mean", "jain"}) {
    EXPECT_NE(table.find(column), std::string::npos) << column;
  }
  EXPECT_NE(table.find("41,280"), std::string::npos) << table;  // rounded, with thousands
  EXPECT_NE(table.find("0.52"), std::string::npos);            // p50 in ms
  EXPECT_NE(table.find("10 (1.0%)"), std::string::npos);
  EXPECT_NE(table.find("1.40"), std::string::npos);
  EXPECT_NE(table.find("21.2"), std::string::npos);  // 21.25 rounds to even
  EXPECT_NE(table.find("0.957"), std::string::npos);  // Jain of 600 and 390
  EXPECT_NE(table.find("reuseport least-loaded *"), std::string::npos);
  EXPECT_NE(table.find("n/a: herdless serve rejected"), std::string::npos);
  EXPECT_NE(table.find("steering fell back to hash"), std::string::npos);
  // The fell-back row has no wake-ups: n/a in that column.
  const auto row = table.find("reuseport least-loaded *");
  EXPECT_NE(table.substr(row, table.find('\n', row) - row).find("n/a"), std::string::npos);
  // Nothing completed: latency n/a, not 0.00.
  const auto mutex = table.find("accept-mutex");
  const std::string line = table.substr(mutex, table.find('\n', mutex) - mutex);
  EXPECT_EQ(line.find("0.00"), std::string::npos) << line;
  EXPECT_NE(line.find("320 (100.0%)"), std::string::npos) << line;
}

TEST(BenchReport, SvgHasABarPerMeasuredFigureAndEscapesText) {
  const std::string svg = render_svg(sample_report());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("reuseport least-loaded"), std::string::npos);
  EXPECT_NE(svg.find(">n/a<"), std::string::npos);
  EXPECT_EQ(svg.find("& y"), std::string::npos);  // the note is not in the chart, nor unescaped text
  std::size_t bars = 0;
  for (auto at = svg.find("<rect x="); at != std::string::npos; at = svg.find("<rect x=", at + 1)) ++bars;
  // Steady has 4 panels (rate, p99, wake-ups, CPU). Two full rows: 8 bars, less the
  // wake-ups of the fell-back row; the row where nothing completed has a rate bar only.
  EXPECT_EQ(bars, 8u);
}

}  // namespace
}  // namespace herdless::bench

namespace {

herdless::bench::BenchRow rate_row(const char* steer, double rate) {
  herdless::bench::BenchRow row;
  row.strategy = {"reuseport", steer};
  row.measured = true;
  row.connections_per_second = rate;
  row.p99_us = static_cast<uint64_t>(rate);  // marks which round's row was taken
  return row;
}

}  // namespace

TEST(BenchRounds, RoundsAlternateForwardAndReversedSoTheFirstTwoAreAlwaysNeighbours) {
  using herdless::bench::round_order_index;
  constexpr std::size_t kCount = 5;
  std::vector<std::size_t> position_sum(kCount, 0);
  for (std::size_t round = 0; round < 4; ++round) {
    std::vector<int> seen(kCount, 0);
    std::vector<std::size_t> position(kCount, 0);
    for (std::size_t i = 0; i < kCount; ++i) {
      const std::size_t s = round_order_index(i, round, kCount);
      ASSERT_LT(s, kCount);
      seen[s]++;
      position[s] = i;
      position_sum[s] += i;
    }
    EXPECT_EQ(seen, std::vector<int>(kCount, 1)) << "round " << round << " runs every strategy once";
    EXPECT_EQ(position[0] > position[1] ? position[0] - position[1] : position[1] - position[0], 1u)
        << "round " << round << ": the first two strategies run next to each other";
    EXPECT_EQ(position[0], round % 2 == 0 ? 0u : kCount - 1) << "round " << round;
  }
  // Over every pair of rounds each strategy's mean position is the middle: a drift weighs alike.
  EXPECT_EQ(position_sum, std::vector<std::size_t>(kCount, 2 * (kCount - 1)));
}

TEST(BenchRounds, TheMedianRoundIsReportedWithThePairedRatio) {
  using herdless::bench::BenchRow;
  // hash, then least-loaded, three rounds each.
  const std::vector<std::vector<BenchRow>> runs = {
      {rate_row("hash", 100), rate_row("hash", 80), rate_row("hash", 120)},
      {rate_row("least-loaded", 95), rate_row("least-loaded", 84), rate_row("least-loaded", 90)},
  };
  const std::vector<BenchRow> rows = herdless::bench::combine_rounds(runs);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].connections_per_second, 100);
  EXPECT_EQ(rows[0].p99_us, 100u) << "the median round's own figures";
  EXPECT_EQ(rows[1].connections_per_second, 90);
  EXPECT_EQ(rows[1].round_rates, (std::vector<double>{95, 84, 90}));
  ASSERT_TRUE(rows[1].rate_vs_first.has_value());
  EXPECT_DOUBLE_EQ(*rows[1].rate_vs_first, 0.95);  // 0.95, 1.05, 0.75 -> 0.95
  EXPECT_DOUBLE_EQ(*rows[0].rate_vs_first, 1.0);
  // An unmeasured round is left out; a single round gives no ratio.
  const std::vector<BenchRow> one = herdless::bench::combine_rounds({{rate_row("hash", 10)}});
  EXPECT_FALSE(one[0].rate_vs_first.has_value());
  EXPECT_TRUE(one[0].round_rates == std::vector<double>{10});
}
