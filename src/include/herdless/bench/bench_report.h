// The results of `herdless bench`: one BenchRow per strategy of a scenario, a
// ScenarioReport per scenario, and their JSON (bench-<scenario>.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herdless/bench/scenario.h"
#include "herdless/load/load_result.h"

namespace herdless::bench {

struct BenchRow {
  Strategy strategy;
  // False when the server could not run this strategy (e.g. an unknown --accept) or the
  // run failed; `note` says why and the figures are absent ("n/a").
  bool measured = false;
  std::string note;  // also for measured rows: "steering fell back to hash"
  double connections_per_second = 0;
  uint64_t attempted = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t timed_out = 0;
  uint64_t latency_samples = 0;  // none: the percentiles are "n/a", not 0
  uint64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  std::optional<double> wakeups_per_accept;
  std::optional<uint64_t> wakeups;
  std::optional<uint64_t> empty_accepts;
  uint64_t accepted = 0;  // by the server, from /stats
  std::optional<double> cpu_us_per_connection;
  std::vector<double> per_worker;  // completed (or held) per worker slot, for the balance
  std::optional<double> busiest_over_mean;
  std::optional<double> jain;
  // With several rounds (rounds.h): every round's rate, and the median over rounds of this
  // row's rate over the first strategy's (the kernel's hash) in the same round.
  std::vector<double> round_rates;
  std::optional<double> rate_vs_first;
};

// A row of a strategy the server could not run.
BenchRow unmeasured_row(const Strategy& strategy, std::string note);

// Fills the load figures of `row` (rate, counts, latency) from a load result and the
// balance columns from `per_worker`.
void set_load_figures(BenchRow& row, const load::LoadResult& result);
void set_balance(BenchRow& row, std::vector<double> per_worker);

struct ScenarioReport {
  Scenario scenario;
  std::vector<BenchRow> rows;
  nlohmann::json environment;  // date, kernel, cpus, load averages: copied into the JSON
};

// A null for every absent figure.
nlohmann::json to_json(const BenchRow& row);
nlohmann::json to_json(const ScenarioReport& report);

}  // namespace herdless::bench
