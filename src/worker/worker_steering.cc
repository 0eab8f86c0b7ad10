// Worker: the state of its slot it publishes for the steering program (heartbeat, accepts,
// an empty queue, open connections), with plain atomic stores into the mmapped slot array.
#include "herdless/worker.h"

namespace herdless {

void Worker::heartbeat() {
  now_ns_ = monotonic_ns();
  options_.counters->heartbeat_ns.store(now_ns_, std::memory_order_relaxed);
  if (options_.steer_slot != nullptr) {
    __atomic_store_n(&options_.steer_slot->heartbeat_ns, static_cast<uint64_t>(now_ns_), __ATOMIC_RELAXED);
    // Nothing known to wait: an idle worker is keeping up, so its accept progress is now.
    if (queue_empty_) __atomic_store_n(&options_.steer_slot->progress_ns, static_cast<uint64_t>(now_ns_), __ATOMIC_RELAXED);
  }
}

void Worker::publish_accepted(uint64_t count, bool progress) {
  herdless_slot* slot = options_.steer_slot;
  if (slot == nullptr) return;
  __atomic_store_n(&slot->accepted_since, slot->accepted_since + count, __ATOMIC_RELAXED);
  if (progress) __atomic_store_n(&slot->progress_ns, static_cast<uint64_t>(now_ns_), __ATOMIC_RELAXED);
}

void Worker::publish_queue_empty() {
  herdless_slot* slot = options_.steer_slot;
  if (slot == nullptr) return;
  // Everything steered here so far has been accepted: restart the pending count from now.
  const uint64_t steered = __atomic_load_n(&slot->steered, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->steered_mark, steered, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->accepted_since, uint64_t{0}, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->progress_ns, static_cast<uint64_t>(now_ns_), __ATOMIC_RELAXED);
}

void Worker::publish_active() {
  if (options_.steer_slot == nullptr) return;
  __atomic_store_n(&options_.steer_slot->active, static_cast<uint32_t>(active_), __ATOMIC_RELAXED);
}

}  // namespace herdless
