// Supervisor: the snapshot behind /stats and /metrics: per slot the workers' shared counters,
// the steering program's counters, and under `herdless run` each slot's program and what the
// kernel shows of its queue.
#include "herdless/supervisor.h"
#include "supervisor/supervisor_naming.h"

namespace herdless {

StatsSnapshot Supervisor::snapshot() const {
  StatsSnapshot out;
  for (const ListenAddress& address : listeners_.bound_addresses()) out.listeners.push_back(address.url());
  out.mode = mode_name(options_.config.mode);
  out.workers = snapshot_workers(stats_, options_.config.workers);
  out.steer = steer_mode_name(options_.config.steer);
  out.accept = accept_strategy_name(options_.config.accept);
  out.foreign_listeners = port_watch_.foreign();
  out.owns_port = port_owner_ != nullptr;
  const bool udp = listeners_.serves(Transport::udp);
  if (udp) {
    out.udp_steer = udp_steer_name(options_.config.udp.mode);
    const bool per_slot = options_.config.accept == AcceptStrategy::reuseport;
    for (WorkerSnapshot& w : out.workers) {
      if (per_slot || w.id == 0) w.udp_rx_dropped = listeners_.udp_drops(per_slot ? w.id : 0);
    }
  }
  if (runs_programs()) {
    out.mode = "program";
    out.command = options_.config.program->command;
    const int64_t now = monotonic_ns();
    for (WorkerSnapshot& w : out.workers) {
      if (static_cast<size_t>(w.id) >= slots_.size()) continue;
      const SlotState& state = slots_[static_cast<size_t>(w.id)];
      ProgramSnapshot program;
      program.last_exit = state.last_exit;
      program.queued = listeners_.queued(w.id);
      // Counted only where the steering program sees each connection (not under hash).
      program.accepted = steering_ ? static_cast<int64_t>(state.accepted_total) : -1;
      program.open = state.open;
      for (const Handle& h : handles_) {
        if (h.slot != w.id || !h.program || h.stop_sent_ns != 0 || h.generation < program.generation) continue;
        program.generation = h.generation;
        program.ready = h.ready;
      }
      w.accepted = program.accepted >= 0 ? static_cast<uint64_t>(program.accepted) : 0;
      w.active = program.open >= 0 ? program.open : 0;
      // A program has no heartbeat: the age of its last accept progress stands in for it.
      w.heartbeat_age_ms = steering_ ? (now - static_cast<int64_t>(steering_->slot_state(w.id)->progress_ns)) / 1'000'000 : -1;
      w.program = program;
    }
  }
  if (steering_) {
    const auto tcp = steering_->counters(options_.config.workers, Transport::tcp);
    const auto datagrams = steering_->counters(options_.config.workers, Transport::udp);
    for (size_t i = 0; i < out.workers.size() && i < tcp.size(); ++i) {
      if (options_.config.steer != SteerMode::hash) out.workers[i].steer = tcp[i];
      if (udp && options_.config.udp.mode == UdpSteer::session) out.workers[i].udp_steer = datagrams[i];
    }
  }
  return out;
}

}  // namespace herdless
