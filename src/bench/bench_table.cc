// The per-scenario text table of `herdless bench`.
#include "herdless/bench/bench_table.h"

#include <fmt/format.h>

#include "herdless/load/progress_line.h"

namespace herdless::bench {
namespace {

std::string ms(const BenchRow& row, uint64_t us) {
  return row.latency_samples == 0 ? std::string("n/a") : fmt::format("{:.2f}", static_cast<double>(us) / 1000.0);
}

template <class T>
std::string or_na(const std::optional<T>& value, const char* format) {
  return value ? fmt::format(fmt::runtime(format), *value) : std::string("n/a");
}

std::string failures(const BenchRow& row) {
  if (row.failed == 0) return "0";
  const double percent = row.attempted == 0 ? 0.0 : 100.0 * static_cast<double>(row.failed) / static_cast<double>(row.attempted);
  return fmt::format("{} ({:.1f}%)", load::with_thousands(row.failed), percent);
}

}  // namespace

std::string render_table(const ScenarioReport& report) {
  const Scenario& s = report.scenario;
  std::string out = fmt::format("== {}: {}\n", s.name, s.title);
  if (s.kind == Scenario::Kind::hold) {
    out += fmt::format("   {} connections, at most {} connecting at once, held {} ms; conn/s and latency are of "
                       "connecting; balance from each worker's active connections in /stats\n",
                       s.hold_connections, s.concurrency, s.duration.count());
  } else {
    out += fmt::format("   {} clients in a closed loop for {} ms, {} ms timeout; balance from the replies' worker=N\n",
                       s.concurrency, s.duration.count(), s.timeout.count());
  }
  constexpr const char* kRow = "{:<24} {:>9} {:>7} {:>7} {:>7} {:>7} {:>15} {:>8} {:>9} {:>9} {:>8} {:>6}\n";
  out += fmt::format(fmt::runtime(kRow), "strategy", "conn/s", "p50 ms", "p90 ms", "p99 ms", "p99.9", "failed",
                     "wake/acc", "empty acc", "cpu us/c", "max/mean", "jain");
  std::string notes;
  for (const BenchRow& row : report.rows) {
    const std::string label = row.strategy.label();
    if (!row.measured) {
      out += fmt::format("{:<24} n/a: {}\n", label, row.note);
      continue;
    }
    if (!row.note.empty()) notes += fmt::format("   {}: {}\n", label, row.note);
    out += fmt::format(fmt::runtime(kRow), label + (row.note.empty() ? "" : " *"),
                       load::with_thousands(static_cast<uint64_t>(row.connections_per_second + 0.5)), ms(row, row.p50_us),
                       ms(row, row.p90_us), ms(row, row.p99_us), ms(row, row.p999_us), failures(row),
                       or_na(row.wakeups_per_accept, "{:.2f}"),
                       row.empty_accepts ? load::with_thousands(*row.empty_accepts) : std::string("n/a"),
                       or_na(row.cpu_us_per_connection, "{:.1f}"), or_na(row.busiest_over_mean, "{:.2f}"),
                       or_na(row.jain, "{:.3f}"));
  }
  if (!notes.empty()) out += " * " + notes.substr(3);
  std::string rounds;
  for (const BenchRow& row : report.rows) {
    if (row.round_rates.size() < 2) continue;
    std::string rates;
    for (double rate : row.round_rates) rates += (rates.empty() ? "" : " / ") + load::with_thousands(static_cast<uint64_t>(rate + 0.5));
    rounds += fmt::format("   {}: {} conn/s{}\n", row.strategy.label(), rates,
                          row.rate_vs_first ? fmt::format(", paired rate vs the first row {:.3f}", *row.rate_vs_first) : "");
  }
  if (!rounds.empty()) out += "   each row is its median round by rate; every round's rate:\n" + rounds;
  return out;
}

}  // namespace herdless::bench
