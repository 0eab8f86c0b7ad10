// WorkerCounters: one worker slot's counters, in memory shared by the supervisor and the
// workers (a MAP_SHARED mapping made before fork). Lock-free atomics only: a worker of the
// old generation and its replacement may update the same slot for a while after a reload.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstddef>

#include "herdless/error.h"

namespace herdless {

struct alignas(64) WorkerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> restarts{0};
  std::atomic<uint64_t> rescues{0};        // stall rescues: queue migrated away from a stuck worker
  std::atomic<uint64_t> wakeups{0};        // times a listener woke the worker
  std::atomic<uint64_t> empty_accepts{0};  // wake-ups whose accept found nothing (EAGAIN)
  std::atomic<uint64_t> datagrams_in{0};   // UDP datagrams received
  std::atomic<uint64_t> datagrams_out{0};  // UDP replies sent
  std::atomic<uint64_t> udp_truncated{0};  // datagrams over --udp-max-datagram: counted, not answered
  std::atomic<uint64_t> udp_tx_dropped{0};  // replies not sent (send buffer full or refused)
  std::atomic<int64_t> heartbeat_ns{0};  // CLOCK_MONOTONIC of the worker's last loop turn
  std::atomic<int32_t> pid{0};           // the slot's current worker (0: none)
};

// A fixed-capacity array of WorkerCounters in a shared anonymous mapping.
class StatsTable {
 public:
  static Result<StatsTable> create(size_t capacity);
  StatsTable() = default;
  StatsTable(StatsTable&& other) noexcept;
  StatsTable& operator=(StatsTable&& other) noexcept;
  ~StatsTable();

  size_t capacity() const { return capacity_; }
  WorkerCounters& slot(size_t index) { return slots_[index]; }
  const WorkerCounters& slot(size_t index) const { return slots_[index]; }

 private:
  WorkerCounters* slots_ = nullptr;
  size_t capacity_ = 0;
};

// CLOCK_MONOTONIC in nanoseconds.
int64_t monotonic_ns();

}  // namespace herdless
