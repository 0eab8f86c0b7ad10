// SteeringProgram: the loaded eBPF steering program (bpf/steer.bpf.c). One instance per
// steered listen address's reuseport group, each with its own REUSEPORT_SOCKARRAY (slot i =
// worker i's socket) and policy (TCP groups: --steer; UDP groups: --udp-steer session), all
// sharing one mmapped array of slot states that the workers write. Groups left to the
// kernel's hash (steer hash, udp-steer hash) get no program.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "herdless/error.h"
#include "herdless/fd.h"
#include "herdless/inheritance.h"
#include "herdless/listener_table.h"
#include "herdless/steer_counters.h"
#include "herdless/steer_mode.h"
#include "herdless/udp_steering.h"
#include "steer_shared.h"

namespace herdless {

class ConnTracker;

// Where the last run of a group's program exited (its source line, slot, reason, error).
struct SteerExit {
  uint32_t line = 0;
  uint32_t slot = 0;
  uint32_t reason = 0;
  int32_t error = 0;
};

class SteeringProgram {
 public:
  // True when some group of `table` would get a program under these policies.
  static bool wanted(SteerMode mode, const UdpSteering& udp, const ListenerTable& table);

  // Loads and attaches the program to every steered group of `table`.
  // An Error names why (no privilege, old kernel): the caller then keeps the kernel's hash.
  // With `inherited` (a binary upgrade), the old supervisor's maps are reused: the slot
  // states and the sockarrays carry over, and the new program replaces the old one.
  // With `tracker`, every TCP group records the slot of each connection it steers in the
  // tracker's maps (and moves migrating ones), so ConnTracker::read() counts per slot; the
  // maps are shared (the program keeps its own references), also by groups a later update()
  // adds.
  static Result<std::unique_ptr<SteeringProgram>> attach(SteerMode mode, const UdpSteering& udp,
                                                         const ListenerTable& table,
                                                         std::chrono::milliseconds stall_threshold,
                                                         const Inherited* inherited = nullptr,
                                                         const ConnTracker* tracker = nullptr);
  ~SteeringProgram();
  SteeringProgram(const SteeringProgram&) = delete;
  SteeringProgram& operator=(const SteeringProgram&) = delete;

  // After a reload: the same groups with more or fewer slots, or new groups (reattached).
  Result<void> update(const ListenerTable& table, std::chrono::milliseconds stall_threshold);

  // True when the group has a program (its transport's policy is not the kernel's hash).
  bool steers(size_t group) const;
  // True when the TCP groups record flows for a ConnTracker.
  bool tracks_connections() const { return static_cast<bool>(track_flows_fd_); }
  // Puts a fresh listener into a slot of one group (after a stall rescue).
  Result<void> replace_socket(size_t group, int slot, int fd);
  // Takes a slot out of selection (true) or puts it back.
  void set_excluded(int slot, bool excluded);

  SteerMode mode() const { return mode_; }
  // The maps to hand over in a binary upgrade.
  int slots_map_fd() const { return slots_fd_; }
  int sockets_map_fd(size_t group) const;  // -1 for a group without a program
  // Slot state shared with the workers (valid for the program's lifetime, and in forked
  // children, which inherit the mapping).
  herdless_slot* slot_state(int slot) { return &slots_[slot]; }
  // Counters of slots [0, slots), summed over CPUs and the groups of one transport.
  std::vector<SteerCounters> counters(int slots, Transport transport) const;
  SteerExit last_exit(size_t group = 0) const;

 private:
  struct Group;
  SteeringProgram(SteerMode mode, const UdpSteering& udp);
  // The program's policy for a group of this transport, or 0: no program.
  uint32_t policy_for(Transport transport) const;
  Result<void> attach_groups(const ListenerTable& table, std::chrono::milliseconds stall_threshold,
                             const Inherited* inherited = nullptr);
  // Points a TCP group's program at the tracker's maps (or shrinks its unused ones).
  Result<void> share_tracking(Group& group, Transport transport);
  Result<void> fill_sockets(Group& group, const std::vector<int>& fds, std::chrono::milliseconds stall_threshold);

  SteerMode mode_;
  UdpSteering udp_;
  std::vector<std::unique_ptr<Group>> groups_;
  int slots_fd_ = -1;  // owned by the first group's skeleton
  herdless_slot* slots_ = nullptr;
  size_t slots_bytes_ = 0;
  std::vector<ListenAddress> addresses_;
  // A ConnTracker's maps, when tracking (duplicates: the tracker may go first).
  Fd track_flows_fd_;
  Fd track_open_fd_;
  Fd track_conns_fd_;
};

}  // namespace herdless
