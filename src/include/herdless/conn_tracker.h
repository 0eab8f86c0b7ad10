// ConnTracker: per-slot TCP connection accounting from the kernel (bpf/conn_track.bpf.c), for
// servers that publish no load of their own. A raw tracepoint on inet_sock_set_state counts,
// per worker slot, the connections whose handshake completed into the slot's accept queue and
// those the server side has finished (closed or shut down); the steering program records
// which slot each flow went to (SteeringProgram::attach with this tracker) and moves flows
// that migrate. Detached and freed with the object.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "herdless/error.h"

struct conn_track_bpf;

namespace herdless {

class ConnTracker {
 public:
  // One slot's counts, summed over CPUs. Migrations are folded in: a connection moved here
  // from a closed listener counts as established here and as closed on the slot it left.
  // open = established - closed: connections of the slot not yet finished by its server,
  // queued or accepted.
  struct SlotConns {
    uint64_t established = 0;
    uint64_t closed = 0;
    uint64_t migrated_in = 0;   // included in `established`
    uint64_t migrated_out = 0;  // included in `closed`
    uint64_t open() const { return established > closed ? established - closed : 0; }
  };

  // Loads the program and attaches it to the tracepoint. An Error names why not (no
  // privilege, no BTF, no raw tracepoint).
  static Result<std::unique_ptr<ConnTracker>> attach();
  ~ConnTracker();
  ConnTracker(const ConnTracker&) = delete;
  ConnTracker& operator=(const ConnTracker&) = delete;

  // The maps the steering program shares (valid for the tracker's lifetime).
  int flows_map_fd() const;       // steered flows whose handshake has not completed (LRU)
  int open_flows_map_fd() const;  // established flows not yet finished
  int conns_map_fd() const;       // per-slot counters (per-CPU array)

  // Only connections to these local TCP ports are looked at (the program dismisses every
  // other socket's state change after one read); at most 16, more means no filter.
  void set_ports(const std::vector<uint16_t>& ports);

  // Counts of slots [0, slots).
  std::vector<SlotConns> read(int slots) const;
  // Events that could not be counted: handshakes completed with `open_flows` full, plus runs
  // the kernel skipped because the program was already running on that CPU (a softirq
  // interrupting it). Each may leave an open count too high or too low by one.
  // The program runs for every TCP state change of the machine (a raw tracepoint), so the
  // skipped runs may be other sockets' (another network namespace's traffic): a bound, not a
  // count of our losses. untracked() is the first part alone, ours only.
  uint64_t lost() const;
  uint64_t untracked() const;

 private:
  ConnTracker() = default;
  conn_track_bpf* skel_ = nullptr;
};

}  // namespace herdless
