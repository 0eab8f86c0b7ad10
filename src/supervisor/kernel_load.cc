// Supervisor: the load of program slots, read from the kernel. A program publishes nothing,
// so every few milliseconds the supervisor reads each slot's accept-queue length (TCP_INFO
// on its own copy of the listener) and writes the slot state the steering program reads,
// with the same meaning a built-in worker gives it: `progress_ns` moves when the queue was
// found empty or connections left it since the last sample; `pending` (steered - mark -
// accepted_since) equals what waits in the queue. A program that stops accepting while
// connections wait (stopped, or its event loop blocked) thus shows no progress and is
// passed over after --stall-threshold, exactly like a stalled worker. With kernel accounting
// (ConnTracker), the steering program adds each slot's live open count (queued or accepted,
// not finished) to its load at every selection, so least-loaded balances long-lived
// connections and avoids a blocked program at once; `active` stays 0 for programs.
#include <algorithm>
#include <cstdint>

#include "herdless/supervisor.h"

namespace herdless {

void Supervisor::sample_slots() {
  if (!steering_ || stopping_) return;
  const uint64_t now = static_cast<uint64_t>(monotonic_ns());
  const int slots = std::min(options_.config.workers, static_cast<int>(slots_.size()));
  const std::vector<ConnTracker::SlotConns> conns = tracker_ ? tracker_->read(slots) : std::vector<ConnTracker::SlotConns>();
  for (int slot = 0; slot < slots; ++slot) {
    SlotState& state = slots_[static_cast<size_t>(slot)];
    herdless_slot* s = steering_->slot_state(slot);
    const uint32_t queued = listeners_.queued(slot);
    const uint64_t steered = __atomic_load_n(&s->steered, __ATOMIC_RELAXED);
    // Connections that left the queue. With the tracker: the handshakes completed into this
    // slot's queue (migrations folded in) minus what waits. Without: steered here minus what
    // waits (handshakes in flight between selection and the queue delay it by a sample).
    uint64_t accepted = steered > queued ? steered - queued : 0;
    if (!conns.empty()) {
      const ConnTracker::SlotConns& c = conns[static_cast<size_t>(slot)];
      const uint64_t arrived = c.established > c.migrated_out ? c.established - c.migrated_out : 0;
      accepted = arrived > queued ? arrived - queued : 0;
      const uint64_t open = c.open() > queued ? c.open() - queued : 0;
      state.open = static_cast<int64_t>(open);  // the program itself reads the live count
    }
    s->heartbeat_ns = now;  // a program's loop is not visible: its accepts are the signal
    if (queued == 0) {
      s->steered_mark = steered;
      s->accepted_since = 0;
      s->progress_ns = now;
    } else {
      if (accepted > state.accepted_total) s->progress_ns = now;
      const uint64_t since_mark = steered > s->steered_mark ? steered - s->steered_mark : 0;
      s->accepted_since = since_mark > queued ? since_mark - queued : 0;
    }
    state.accepted_total = std::max(state.accepted_total, accepted);
    state.queued = queued;
  }
}

}  // namespace herdless
