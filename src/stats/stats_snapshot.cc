// StatsSnapshot collection and rendering.
#include "herdless/stats_snapshot.h"

#include <fmt/format.h>

namespace herdless {

std::vector<WorkerSnapshot> snapshot_workers(const StatsTable& table, int workers) {
  std::vector<WorkerSnapshot> out;
  const int64_t now = monotonic_ns();
  for (int i = 0; i < workers && static_cast<size_t>(i) < table.capacity(); ++i) {
    const WorkerCounters& c = table.slot(static_cast<size_t>(i));
    WorkerSnapshot w;
    w.id = i;
    w.pid = c.pid.load(std::memory_order_relaxed);
    w.accepted = c.accepted.load(std::memory_order_relaxed);
    w.active = c.active.load(std::memory_order_relaxed);
    w.closed = c.closed.load(std::memory_order_relaxed);
    w.errors = c.errors.load(std::memory_order_relaxed);
    w.restarts = c.restarts.load(std::memory_order_relaxed);
    const int64_t beat = c.heartbeat_ns.load(std::memory_order_relaxed);
    w.heartbeat_age_ms = beat == 0 ? -1 : (now - beat) / 1'000'000;
    out.push_back(w);
  }
  return out;
}

nlohmann::json to_json(const StatsSnapshot& snapshot) {
  nlohmann::json out;
  out["mode"] = snapshot.mode;
  out["listeners"] = nlohmann::json::array();
  for (const std::string& url : snapshot.listeners) out["listeners"].push_back({{"url", url}});
  out["workers"] = nlohmann::json::array();
  for (const WorkerSnapshot& w : snapshot.workers) {
    out["workers"].push_back({{"id", w.id},
                              {"pid", w.pid},
                              {"accepted", w.accepted},
                              {"active", w.active},
                              {"closed", w.closed},
                              {"errors", w.errors},
                              {"restarts", w.restarts},
                              {"heartbeat_age_ms", w.heartbeat_age_ms}});
  }
  return out;
}

std::string to_prometheus(const StatsSnapshot& snapshot) {
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const WorkerSnapshot&);
  };
  static const Metric metrics[] = {
      {"herdless_worker_accepted_total", "counter", "Connections accepted by the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.accepted); }},
      {"herdless_worker_active_connections", "gauge", "Connections open in the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.active); }},
      {"herdless_worker_closed_total", "counter", "Connections closed by the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.closed); }},
      {"herdless_worker_errors_total", "counter", "Accept and socket errors in the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.errors); }},
      {"herdless_worker_restarts_total", "counter", "Times the slot's worker was restarted after dying.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.restarts); }},
      {"herdless_worker_heartbeat_age_seconds", "gauge", "Time since the worker's loop last turned.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.heartbeat_age_ms) / 1000.0; }},
  };
  std::string out;
  for (const Metric& m : metrics) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
    for (const WorkerSnapshot& w : snapshot.workers) {
      out += fmt::format("{}{{worker=\"{}\"}} {}\n", m.name, w.id, m.get(w));
    }
  }
  out += "# HELP herdless_listener_info A listening address.\n# TYPE herdless_listener_info gauge\n";
  for (const std::string& url : snapshot.listeners) out += fmt::format("herdless_listener_info{{url=\"{}\"}} 1\n", url);
  return out;
}

}  // namespace herdless
