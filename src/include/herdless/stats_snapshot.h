// StatsSnapshot: a point-in-time copy of the supervisor's view (listeners, per-worker
// counters) and its two renderings: /stats JSON and /metrics Prometheus text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herdless/steer_counters.h"
#include "herdless/worker_counters.h"

namespace herdless {

// `herdless run`: what herdless knows of a slot's program, all of it from outside the program.
struct ProgramSnapshot {
  uint64_t generation = 0;  // bumped by every reload
  bool ready = false;       // the slot's newest program said READY=1, accepted, or timed out
  std::string last_exit;    // how the slot's last program ended ("exited with code 1", ...)
  uint32_t queued = 0;      // connections waiting in its accept queues (TCP_INFO)
  int64_t accepted = -1;    // connections taken from its queues (-1: not known without the eBPF program)
  int64_t open = -1;        // accepted and still open (-1: not known without kernel accounting)
};

struct WorkerSnapshot {
  int id = 0;
  int pid = 0;
  uint64_t accepted = 0;
  int64_t active = 0;
  uint64_t closed = 0;
  uint64_t errors = 0;
  uint64_t restarts = 0;
  uint64_t rescues = 0;
  uint64_t wakeups = 0;
  uint64_t empty_accepts = 0;
  int64_t heartbeat_age_ms = 0;
  std::optional<SteerCounters> steer;  // present when an eBPF program steers TCP
  // UDP (present in the renderings when the server has udp:// listens).
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t udp_truncated = 0;   // over --udp-max-datagram
  uint64_t udp_rx_dropped = 0;  // dropped by the kernel: the slot's receive buffers were full
  uint64_t udp_tx_dropped = 0;  // replies the socket did not take
  std::optional<SteerCounters> udp_steer;  // present when the eBPF program steers UDP
  std::optional<ProgramSnapshot> program;  // present under `herdless run`
};

struct StatsSnapshot {
  std::vector<std::string> listeners;  // bound URLs
  std::string mode;                    // "process", "thread", or "program" (herdless run)
  std::vector<std::string> command;    // herdless run: the program's command line
  std::string steer = "hash";          // steering policy in force
  std::string accept = "reuseport";    // accept strategy
  std::string udp_steer;               // UDP steering ("hash", "session"); empty: no udp:// listens
  uint64_t foreign_listeners = 0;      // listening sockets on our ports that are not ours
  bool owns_port = false;              // the SK_LOOKUP program keeps our addresses' traffic on our sockets
  std::vector<WorkerSnapshot> workers;
};

// Reads slots [0, workers) of the table.
std::vector<WorkerSnapshot> snapshot_workers(const StatsTable& table, int workers);

nlohmann::json to_json(const StatsSnapshot& snapshot);
std::string to_prometheus(const StatsSnapshot& snapshot);

}  // namespace herdless
