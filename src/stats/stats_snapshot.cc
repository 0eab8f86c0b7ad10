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
    w.rescues = c.rescues.load(std::memory_order_relaxed);
    w.wakeups = c.wakeups.load(std::memory_order_relaxed);
    w.empty_accepts = c.empty_accepts.load(std::memory_order_relaxed);
    w.datagrams_in = c.datagrams_in.load(std::memory_order_relaxed);
    w.datagrams_out = c.datagrams_out.load(std::memory_order_relaxed);
    w.udp_truncated = c.udp_truncated.load(std::memory_order_relaxed);
    w.udp_tx_dropped = c.udp_tx_dropped.load(std::memory_order_relaxed);
    const int64_t beat = c.heartbeat_ns.load(std::memory_order_relaxed);
    w.heartbeat_age_ms = beat == 0 ? -1 : (now - beat) / 1'000'000;
    out.push_back(w);
  }
  return out;
}

namespace {

nlohmann::json steer_json(const SteerCounters& c, bool udp) {
  nlohmann::json out = {{"selected", c.selected}, {"skipped_stalled", c.skipped_stalled}, {"fell_back", c.fell_back}};
  if (udp) out["short_key"] = c.short_key;
  else out["migrated"] = c.migrated;
  return out;
}

}  // namespace

nlohmann::json to_json(const StatsSnapshot& snapshot) {
  nlohmann::json out;
  out["mode"] = snapshot.mode;
  out["steer"] = snapshot.steer;
  out["accept"] = snapshot.accept;
  if (!snapshot.udp_steer.empty()) out["udp_steer"] = snapshot.udp_steer;
  out["foreign_listeners"] = snapshot.foreign_listeners;
  out["owns_port"] = snapshot.owns_port;
  if (!snapshot.command.empty()) out["command"] = snapshot.command;
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
                              {"rescues", w.rescues},
                              {"wakeups", w.wakeups},
                              {"empty_accepts", w.empty_accepts},
                              {"heartbeat_age_ms", w.heartbeat_age_ms}});
    nlohmann::json& worker = out["workers"].back();
    if (w.steer) worker["steer"] = steer_json(*w.steer, false);
    if (w.program) {
      worker["program"] = {{"generation", w.program->generation}, {"ready", w.program->ready},
                           {"last_exit", w.program->last_exit}, {"queued", w.program->queued}};
      if (w.program->accepted >= 0) worker["program"]["accepted"] = w.program->accepted;
      if (w.program->open >= 0) worker["program"]["open"] = w.program->open;
    }
    if (!snapshot.udp_steer.empty()) {
      worker["udp"] = {{"datagrams_in", w.datagrams_in},
                       {"datagrams_out", w.datagrams_out},
                       {"truncated", w.udp_truncated},
                       {"rx_dropped", w.udp_rx_dropped},
                       {"tx_dropped", w.udp_tx_dropped}};
      if (w.udp_steer) worker["udp"]["steer"] = steer_json(*w.udp_steer, true);
    }
  }
  return out;
}

namespace {

// `herdless run`: per slot, its program's state and the kernel's view of its queue.
void render_program_metrics(const StatsSnapshot& snapshot, std::string& out) {
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const ProgramSnapshot&);
  };
  static const Metric metrics[] = {
      {"herdless_program_generation", "gauge", "Generation of the slot's newest program (bumped by every reload).",
       [](const ProgramSnapshot& p) { return static_cast<double>(p.generation); }},
      {"herdless_program_ready", "gauge", "1 when the slot's newest program is ready.",
       [](const ProgramSnapshot& p) { return p.ready ? 1.0 : 0.0; }},
      {"herdless_program_queued_connections", "gauge", "Connections waiting in the slot's accept queues.",
       [](const ProgramSnapshot& p) { return static_cast<double>(p.queued); }},
      {"herdless_program_accepted_total", "counter", "Connections the slot's programs took from its queues.",
       [](const ProgramSnapshot& p) { return static_cast<double>(p.accepted); }},
      {"herdless_program_open_connections", "gauge", "Connections the slot's programs accepted and still hold.",
       [](const ProgramSnapshot& p) { return static_cast<double>(p.open); }},
  };
  for (const Metric& m : metrics) {
    bool header = false;
    for (const WorkerSnapshot& w : snapshot.workers) {
      if (!w.program || (m.get == metrics[3].get && w.program->accepted < 0) ||
          (m.get == metrics[4].get && w.program->open < 0)) {
        continue;
      }
      if (!header) out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
      header = true;
      out += fmt::format("{}{{worker=\"{}\"}} {}\n", m.name, w.id, m.get(*w.program));
    }
  }
}

}  // namespace

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
      {"herdless_worker_rescues_total", "counter", "Stall rescues: the slot's queue migrated to other workers.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.rescues); }},
      {"herdless_worker_wakeups_total", "counter", "Times a listener woke the worker.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.wakeups); }},
      {"herdless_worker_empty_accepts_total", "counter", "Wake-ups whose accept found nothing (the herd).",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.empty_accepts); }},
      {"herdless_worker_heartbeat_age_seconds", "gauge", "Time since the worker's loop last turned.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.heartbeat_age_ms) / 1000.0; }},
  };
  static const Metric udp_metrics[] = {
      {"herdless_worker_datagrams_in_total", "counter", "UDP datagrams received by the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.datagrams_in); }},
      {"herdless_worker_datagrams_out_total", "counter", "UDP replies sent by the worker slot.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.datagrams_out); }},
      {"herdless_worker_udp_truncated_total", "counter", "UDP datagrams over --udp-max-datagram (not answered).",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.udp_truncated); }},
      {"herdless_worker_udp_rx_dropped_total", "counter",
       "UDP datagrams the kernel dropped because the slot's receive buffer was full.",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.udp_rx_dropped); }},
      {"herdless_worker_udp_tx_dropped_total", "counter", "UDP replies the socket did not take (send buffer full).",
       [](const WorkerSnapshot& w) { return static_cast<double>(w.udp_tx_dropped); }},
  };
  std::string out;
  const auto render = [&](const Metric& m) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
    for (const WorkerSnapshot& w : snapshot.workers) {
      out += fmt::format("{}{{worker=\"{}\"}} {}\n", m.name, w.id, m.get(w));
    }
  };
  for (const Metric& m : metrics) render(m);
  if (!snapshot.command.empty()) render_program_metrics(snapshot, out);
  if (!snapshot.udp_steer.empty()) {
    for (const Metric& m : udp_metrics) render(m);
  }
  struct SteerMetric {
    const char* name;
    const char* help;
    uint64_t SteerCounters::*field;
    std::optional<SteerCounters> WorkerSnapshot::*counters = &WorkerSnapshot::steer;
  };
  static const SteerMetric steer_metrics[] = {
      {"herdless_steer_selected_total", "Connections the eBPF program sent to the slot.", &SteerCounters::selected},
      {"herdless_steer_skipped_stalled_total", "Times the slot was skipped as stalled.",
       &SteerCounters::skipped_stalled},
      {"herdless_steer_fell_back_total", "Selections by the hash fallback (every slot stalled).",
       &SteerCounters::fell_back},
      {"herdless_steer_migrated_total", "Queued requests migrated to the slot.", &SteerCounters::migrated},
      {"herdless_udp_steer_selected_total", "UDP datagrams the eBPF program sent to the slot.",
       &SteerCounters::selected, &WorkerSnapshot::udp_steer},
      {"herdless_udp_steer_skipped_stalled_total", "Times the slot was skipped as stalled for a datagram.",
       &SteerCounters::skipped_stalled, &WorkerSnapshot::udp_steer},
      {"herdless_udp_steer_fell_back_total", "Datagrams steered by the hash fallback (every slot stalled).",
       &SteerCounters::fell_back, &WorkerSnapshot::udp_steer},
      {"herdless_udp_steer_short_key_total", "Datagrams too short for the session key, steered by their 4-tuple.",
       &SteerCounters::short_key, &WorkerSnapshot::udp_steer},
  };
  for (const SteerMetric& m : steer_metrics) {
    bool header = false;
    for (const WorkerSnapshot& w : snapshot.workers) {
      const std::optional<SteerCounters>& counters = w.*m.counters;
      if (!counters) continue;
      if (!header) out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", m.name, m.help, m.name);
      header = true;
      out += fmt::format("{}{{worker=\"{}\"}} {}\n", m.name, w.id, (*counters).*m.field);
    }
  }
  out += fmt::format("# HELP herdless_steer_info The steering policy in force.\n# TYPE herdless_steer_info gauge\n"
                     "herdless_steer_info{{policy=\"{}\"}} 1\n",
                     snapshot.steer);
  if (!snapshot.udp_steer.empty()) {
    out += fmt::format("# HELP herdless_udp_steer_info The UDP steering policy in force.\n"
                       "# TYPE herdless_udp_steer_info gauge\nherdless_udp_steer_info{{policy=\"{}\"}} 1\n",
                       snapshot.udp_steer);
  }
  out += fmt::format("# HELP herdless_foreign_listeners Listening sockets on herdless's ports that are not herdless's.\n"
                     "# TYPE herdless_foreign_listeners gauge\nherdless_foreign_listeners {}\n"
                     "# HELP herdless_owns_port 1 when the SK_LOOKUP program keeps the served addresses on herdless's sockets.\n"
                     "# TYPE herdless_owns_port gauge\nherdless_owns_port {}\n",
                     snapshot.foreign_listeners, snapshot.owns_port ? 1 : 0);
  out += "# HELP herdless_listener_info A listening address.\n# TYPE herdless_listener_info gauge\n";
  for (const std::string& url : snapshot.listeners) out += fmt::format("herdless_listener_info{{url=\"{}\"}} 1\n", url);
  return out;
}

}  // namespace herdless
