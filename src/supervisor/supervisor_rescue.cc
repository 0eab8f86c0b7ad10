// Supervisor: stall rescue. A worker whose heartbeat is older than --stall-timeout while its
// accept queue is not empty has its slot taken out of selection and its listener shut down:
// the kernel migrates the queued connections (through the SELECT_OR_MIGRATE program) to
// healthy workers. The slot gets a fresh listener, sent to the worker over its channel; when
// the worker's heartbeat is fresh again the slot rejoins selection.
#include <sys/socket.h>

#include <algorithm>
#include <spdlog/spdlog.h>

#include "herdless/fd_passing.h"
#include "herdless/listener.h"
#include "herdless/supervisor.h"

namespace herdless {

void Supervisor::check_stalls() {
  // Only TCP queues migrate, and only through the program: no TCP program, no rescue.
  if (stopping_ || !steering_ || options_.config.steer == SteerMode::hash) return;
  const int64_t now = monotonic_ns();
  const ServeConfig& config = options_.config;
  if (runs_programs()) {
    // A program publishes nothing: its accept progress is what sample_slots() read from
    // the kernel. A program still starting is not rescued (it has not accepted yet).
    for (int slot = 0; slot < config.workers && static_cast<size_t>(slot) < slots_.size(); ++slot) {
      const bool ready = std::ranges::any_of(handles_, [slot](const Handle& h) {
        return h.slot == slot && h.program && h.ready && h.stop_sent_ns == 0;
      });
      if (!ready) continue;
      const herdless_slot* state = steering_->slot_state(slot);
      const int64_t progress = static_cast<int64_t>(state->progress_ns);
      const int64_t age_ms = progress == 0 ? 0 : (now - progress) / 1'000'000;
      if (age_ms <= config.stall_timeout.count()) continue;
      const uint32_t queued = listeners_.queued(slot);
      if (queued > 0) rescue_program(slot, age_ms, queued);
    }
    return;
  }
  for (int slot = 0; slot < config.workers && static_cast<size_t>(slot) < slots_.size(); ++slot) {
    const WorkerCounters& counters = stats_.slot(static_cast<size_t>(slot));
    const int64_t beat = counters.heartbeat_ns.load(std::memory_order_relaxed);
    if (beat == 0 || counters.pid.load(std::memory_order_relaxed) == 0) continue;
    const int64_t age_ms = (now - beat) / 1'000'000;
    if (slots_[static_cast<size_t>(slot)].rescued) {
      if (age_ms < config.stall_threshold.count()) {
        steering_->set_excluded(slot, false);
        slots_[static_cast<size_t>(slot)].rescued = false;
        spdlog::info("worker {} is back: rejoins selection", slot);
      }
      continue;
    }
    if (age_ms <= config.stall_timeout.count()) continue;
    const uint32_t queued = listeners_.queued(slot);
    if (queued > 0) rescue(slot, age_ms, queued);
  }
}

std::vector<size_t> Supervisor::unlisten_slot(int slot) {
  // Out of selection first, so that neither new connections nor the migration pick it.
  steering_->set_excluded(slot, true);
  slots_[static_cast<size_t>(slot)].rescued = true;
  std::vector<size_t> replaced_groups;
  for (size_t group = 0; group < listeners_.groups(); ++group) {
    // A UDP socket has no queue to hand over: its datagrams wait for the worker.
    if (!steering_->steers(group) || listeners_.group_address(group).transport != Transport::tcp) continue;
    auto fresh = open_reuseport_socket(listeners_.group_address(group), options_.config.backlog, !runs_programs());
    if (!fresh) {
      spdlog::error("rescue of worker {}: {}", slot, fresh.error().message());
      continue;
    }
    if (auto replaced = steering_->replace_socket(group, slot, fresh->get()); !replaced) {
      spdlog::error("rescue of worker {}: {}", slot, replaced.error().message());
      continue;
    }
    Fd old = listeners_.replace_socket(group, slot, std::move(*fresh));
    // Unlisten: every connection waiting in its queue migrates to another slot's listener.
    // Whoever still holds a copy of it (a stalled program) holds a socket that no longer listens.
    ::shutdown(old.get(), SHUT_RD);
    replaced_groups.push_back(group);
  }
  if (!replaced_groups.empty()) listeners_changed();
  stats_.slot(static_cast<size_t>(slot)).rescues.fetch_add(1, std::memory_order_relaxed);
  return replaced_groups;
}

void Supervisor::rescue(int slot, int64_t heartbeat_age_ms, uint32_t queued) {
  for (size_t group : unlisten_slot(slot)) {
    for (Handle& h : handles_) {
      if (h.slot != slot || h.retiring || !h.channel) continue;
      if (auto sent = send_listener(h.channel.get(), static_cast<uint32_t>(group), listeners_.slot_fds(slot)[group]);
          !sent) {
        spdlog::error("rescue of worker {}: {}", slot, sent.error().message());
      }
    }
  }
  spdlog::warn("worker {} stalled (heartbeat {}ms old, {} queued): its queue migrated to the other workers", slot,
               heartbeat_age_ms, queued);
}

void Supervisor::readmit(int slot) {
  if (static_cast<size_t>(slot) < slots_.size()) slots_[static_cast<size_t>(slot)].rescued = false;
  if (steering_) steering_->set_excluded(slot, false);
}

}  // namespace herdless
