// BenchRow and ScenarioReport: filling from a load result, and JSON.
#include "herdless/bench/bench_report.h"

#include "herdless/bench/fairness.h"

namespace herdless::bench {
namespace {

template <class T>
nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

const char* kind_name(Scenario::Kind kind) {
  switch (kind) {
    case Scenario::Kind::steady: return "steady";
    case Scenario::Kind::stalled: return "stalled";
    case Scenario::Kind::hold: return "hold";
  }
  return "?";
}

}  // namespace

BenchRow unmeasured_row(const Strategy& strategy, std::string note) {
  BenchRow row;
  row.strategy = strategy;
  row.note = std::move(note);
  return row;
}

void set_load_figures(BenchRow& row, const load::LoadResult& r) {
  row.measured = true;
  row.connections_per_second = r.connections_per_second;
  row.attempted = r.attempted;
  row.completed = r.completed;
  row.failed = r.failed;
  row.timed_out = r.timed_out;
  const load::Histogram& h = r.latency_us;
  row.latency_samples = h.count();
  row.p50_us = h.value_at_percentile(50);
  row.p90_us = h.value_at_percentile(90);
  row.p99_us = h.value_at_percentile(99);
  row.p999_us = h.value_at_percentile(99.9);
  row.max_us = h.max();
}

void set_balance(BenchRow& row, std::vector<double> per_worker) {
  row.per_worker = std::move(per_worker);
  row.busiest_over_mean = busiest_over_mean(row.per_worker);
  row.jain = jain_index(row.per_worker);
}

nlohmann::json to_json(const BenchRow& row) {
  nlohmann::json out = {
      {"strategy", row.strategy.label()},
      {"accept", row.strategy.accept},
      {"steer", row.strategy.steer.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.strategy.steer)},
      {"measured", row.measured},
      {"note", row.note},
  };
  if (!row.measured) return out;
  out.update({
      {"connections_per_second", row.connections_per_second},
      {"attempted", row.attempted},
      {"completed", row.completed},
      {"failed", row.failed},
      {"timed_out", row.timed_out},
      {"latency_us", row.latency_samples == 0 ? nlohmann::json(nullptr)
                                              : nlohmann::json{{"count", row.latency_samples},
                                                               {"p50", row.p50_us},
                                                               {"p90", row.p90_us},
                                                               {"p99", row.p99_us},
                                                               {"p999", row.p999_us},
                                                               {"max", row.max_us}}},
      {"accepted", row.accepted},
      {"wakeups", or_null(row.wakeups)},
      {"empty_accepts", or_null(row.empty_accepts)},
      {"wakeups_per_accept", or_null(row.wakeups_per_accept)},
      {"cpu_us_per_connection", or_null(row.cpu_us_per_connection)},
      {"per_worker", row.per_worker},
      {"busiest_over_mean", or_null(row.busiest_over_mean)},
      {"jain", or_null(row.jain)},
      {"round_rates", row.round_rates},
      {"rate_vs_hash_paired", or_null(row.rate_vs_first)},
  });
  return out;
}

nlohmann::json to_json(const ScenarioReport& report) {
  const Scenario& s = report.scenario;
  nlohmann::json load = {{"mode", s.kind == Scenario::Kind::hold ? "hold" : "connect"},
                         {"concurrency", s.concurrency},
                         {"duration_ms", s.duration.count()},
                         {"timeout_ms", s.timeout.count()}};
  if (s.kind == Scenario::Kind::hold) load["connections"] = s.hold_connections;
  nlohmann::json server = {{"workers", s.workers}, {"service", s.service}, {"listen", "tcp://127.0.0.1:0"}};
  if (s.kind == Scenario::Kind::stalled) server["stopped_worker"] = s.stopped_worker;
  nlohmann::json out = {{"benchmark", "herdless bench"},
                        {"scenario", s.name},
                        {"kind", kind_name(s.kind)},
                        {"title", s.title},
                        {"server", server},
                        {"load", load},
                        {"rows", nlohmann::json::array()}};
  if (report.environment.is_object()) out["environment"] = report.environment;
  for (const BenchRow& row : report.rows) out["rows"].push_back(to_json(row));
  return out;
}

}  // namespace herdless::bench
