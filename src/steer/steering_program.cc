// SteeringProgram: libbpf skeleton lifecycle (open -> configure -> load -> fill sockarray ->
// attach), the shared slot-state mapping, counters.
#include "herdless/steering_program.h"

#include "herdless/libbpf_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstring>

#include "herdless/conn_tracker.h"

#define HERDLESS_SKELETON "steer.skel.h"
#include "steer/include_skeleton.h"

namespace herdless {
namespace {

uint32_t tcp_policy(SteerMode mode) {
  switch (mode) {
    case SteerMode::hash: return 0;
    case SteerMode::affinity: return HERDLESS_POLICY_AFFINITY;
    case SteerMode::cpu: return HERDLESS_POLICY_CPU;
    case SteerMode::least_loaded: return HERDLESS_POLICY_LEAST_LOADED;
  }
  return 0;
}

uint32_t udp_policy(const UdpSteering& udp) { return udp.mode == UdpSteer::session ? HERDLESS_POLICY_SESSION : 0; }

}  // namespace

struct SteeringProgram::Group {
  steer_bpf* skel = nullptr;  // null: the group is left to the kernel's hash
  int attached_fd = -1;  // the socket the program was attached through
  ~Group() {
    if (skel != nullptr) steer_bpf__destroy(skel);
  }
};

SteeringProgram::SteeringProgram(SteerMode mode, const UdpSteering& udp) : mode_(mode), udp_(udp) {}

uint32_t SteeringProgram::policy_for(Transport transport) const {
  return transport == Transport::tcp ? tcp_policy(mode_) : udp_policy(udp_);
}

bool SteeringProgram::wanted(SteerMode mode, const UdpSteering& udp, const ListenerTable& table) {
  for (Transport transport : table.transports()) {
    if ((transport == Transport::tcp ? tcp_policy(mode) : udp_policy(udp)) != 0) return true;
  }
  return false;
}

bool SteeringProgram::steers(size_t group) const {
  return group < groups_.size() && groups_[group]->skel != nullptr;
}

SteeringProgram::~SteeringProgram() {
  if (slots_ != nullptr) ::munmap(slots_, slots_bytes_);
}

Result<std::unique_ptr<SteeringProgram>> SteeringProgram::attach(SteerMode mode, const UdpSteering& udp,
                                                                 const ListenerTable& table,
                                                                 std::chrono::milliseconds stall_threshold,
                                                                 const Inherited* inherited,
                                                                 const ConnTracker* tracker) {
  route_libbpf_messages_to_debug_log();
  std::unique_ptr<SteeringProgram> program(new SteeringProgram(mode, udp));
  if (tracker != nullptr) {
    program->track_flows_fd_.reset(::fcntl(tracker->flows_map_fd(), F_DUPFD_CLOEXEC, 0));
    program->track_open_fd_.reset(::fcntl(tracker->open_flows_map_fd(), F_DUPFD_CLOEXEC, 0));
    program->track_conns_fd_.reset(::fcntl(tracker->conns_map_fd(), F_DUPFD_CLOEXEC, 0));
    if (!program->track_flows_fd_ || !program->track_open_fd_ || !program->track_conns_fd_) {
      return sys_error("fcntl(F_DUPFD_CLOEXEC)", "connection tracking maps");
    }
  }
  auto attached = program->attach_groups(table, stall_threshold, inherited);
  if (!attached) return std::unexpected(attached.error());
  return program;
}

Result<void> SteeringProgram::attach_groups(const ListenerTable& table, std::chrono::milliseconds stall_threshold,
                                           const Inherited* inherited) {
  std::vector<std::unique_ptr<Group>> groups;
  const std::vector<Transport> transports = table.transports();
  for (size_t g = 0; g < table.groups(); ++g) {
    auto group = std::make_unique<Group>();
    const uint32_t policy = policy_for(transports[g]);
    if (policy == 0) {
      groups.push_back(std::move(group));
      continue;
    }
    group->skel = steer_bpf__open();
    if (group->skel == nullptr) return sys_error("bpf open", "steer program");
    const int shared_slots = slots_fd_ >= 0 ? slots_fd_ : inherited != nullptr ? inherited->slots_map_fd : -1;
    if (shared_slots >= 0 && bpf_map__reuse_fd(group->skel->maps.slots, shared_slots) != 0) {
      return sys_error("bpf_map__reuse_fd", "slots");
    }
    const InheritedGroup* handed = inherited ? inherited->group(table.group_requested(g).url()) : nullptr;
    if (handed != nullptr && handed->sockets_map_fd >= 0 &&
        bpf_map__reuse_fd(group->skel->maps.sockets, handed->sockets_map_fd) != 0) {
      return sys_error("bpf_map__reuse_fd", "sockets");
    }
    if (const auto tracked = share_tracking(*group, transports[g]); !tracked) return tracked;
    group->skel->data->policy = policy;
    group->skel->bss->key_offset = udp_.key.offset;
    group->skel->bss->key_length = udp_.key.length;
    if (const int err = steer_bpf__load(group->skel); err != 0) return sys_error("bpf load", "steer program", -err);
    if (slots_fd_ < 0) {
      slots_fd_ = bpf_map__fd(group->skel->maps.slots);
      slots_bytes_ = (sizeof(herdless_slot) * HERDLESS_MAX_SLOTS + 4095) & ~size_t{4095};
      void* memory = ::mmap(nullptr, slots_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd_, 0);
      if (memory == MAP_FAILED) return sys_error("mmap", "bpf slots map");
      slots_ = static_cast<herdless_slot*>(memory);
      if (shared_slots < 0) {
        for (int i = 0; i < HERDLESS_MAX_SLOTS; ++i) slots_[i].cpu = HERDLESS_NO_CPU;
      }
    }
    auto filled = fill_sockets(*group, table.group_fds(g), stall_threshold);
    if (!filled) return filled;
    const int prog_fd = bpf_program__fd(group->skel->progs.herdless_steer);
    const int first = table.group_fds(g).at(0);
    if (::setsockopt(first, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog_fd, sizeof prog_fd) != 0) {
      return sys_error("setsockopt(SO_ATTACH_REUSEPORT_EBPF)", table.bound_addresses().at(g).url());
    }
    group->attached_fd = first;
    groups.push_back(std::move(group));
  }
  groups_ = std::move(groups);  // replaces (and destroys) the previous instances, if any
  addresses_ = table.bound_addresses();
  return {};
}

Result<void> SteeringProgram::share_tracking(Group& group, Transport transport) {
  steer_bpf* skel = group.skel;
  if (!track_flows_fd_ || transport != Transport::tcp) {
    // Unused: the smallest maps (the LRU map would otherwise be preallocated in full).
    bpf_map__set_max_entries(skel->maps.flows, 1);
    bpf_map__set_max_entries(skel->maps.open_flows, 1);
    return {};
  }
  if (bpf_map__reuse_fd(skel->maps.flows, track_flows_fd_.get()) != 0) return sys_error("bpf_map__reuse_fd", "flows");
  if (bpf_map__reuse_fd(skel->maps.open_flows, track_open_fd_.get()) != 0) {
    return sys_error("bpf_map__reuse_fd", "open_flows");
  }
  if (bpf_map__reuse_fd(skel->maps.conns, track_conns_fd_.get()) != 0) return sys_error("bpf_map__reuse_fd", "conns");
  skel->bss->track_flows = 1;
  return {};
}

Result<void> SteeringProgram::fill_sockets(Group& group, const std::vector<int>& fds,
                                           std::chrono::milliseconds stall_threshold) {
  const int map_fd = bpf_map__fd(group.skel->maps.sockets);
  const uint32_t count = static_cast<uint32_t>(fds.size());
  // Growing: sockets first, then the slot count; shrinking: the count first.
  if (count < group.skel->bss->nr_slots) group.skel->bss->nr_slots = count;
  for (uint32_t slot = 0; slot < count; ++slot) {
    // A socket already in the map (a slot kept across a reload) cannot be added twice
    // (EBUSY): the map holds socket cookies, so compare before updating.
    uint64_t cookie = 0;
    socklen_t length = sizeof cookie;
    uint64_t in_map = 0;
    if (::getsockopt(fds[slot], SOL_SOCKET, SO_COOKIE, &cookie, &length) == 0 &&
        bpf_map_lookup_elem(map_fd, &slot, &in_map) == 0 && in_map == cookie) {
      continue;
    }
    const uint64_t fd = static_cast<uint64_t>(fds[slot]);
    if (bpf_map_update_elem(map_fd, &slot, &fd, BPF_ANY) != 0) {
      return sys_error("bpf_map_update_elem(sockets)", "slot " + std::to_string(slot));
    }
  }
  for (uint32_t slot = count; slot < HERDLESS_MAX_SLOTS; ++slot) bpf_map_delete_elem(map_fd, &slot);
  group.skel->data->stall_threshold_ns = static_cast<uint64_t>(stall_threshold.count()) * 1'000'000u;
  group.skel->bss->nr_slots = count;
  return {};
}

Result<void> SteeringProgram::update(const ListenerTable& table, std::chrono::milliseconds stall_threshold) {
  if (table.bound_addresses() != addresses_) return attach_groups(table, stall_threshold);
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g]->skel == nullptr) continue;
    auto filled = fill_sockets(*groups_[g], table.group_fds(g), stall_threshold);
    if (!filled) return filled;
  }
  return {};
}

int SteeringProgram::sockets_map_fd(size_t group) const {
  return steers(group) ? bpf_map__fd(groups_[group]->skel->maps.sockets) : -1;
}

Result<void> SteeringProgram::replace_socket(size_t group, int slot, int fd) {
  if (!steers(group)) return {};
  const int map_fd = bpf_map__fd(groups_.at(group)->skel->maps.sockets);
  const uint32_t key = static_cast<uint32_t>(slot);
  const uint64_t value = static_cast<uint64_t>(fd);
  if (bpf_map_update_elem(map_fd, &key, &value, BPF_ANY) != 0) {
    return sys_error("bpf_map_update_elem(sockets)", "slot " + std::to_string(slot));
  }
  return {};
}

void SteeringProgram::set_excluded(int slot, bool excluded) {
  __atomic_store_n(&slots_[slot].excluded, excluded ? 1u : 0u, __ATOMIC_RELAXED);
}

std::vector<SteerCounters> SteeringProgram::counters(int slots, Transport transport) const {
  std::vector<SteerCounters> out(static_cast<size_t>(slots));
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return out;
  std::vector<herdless_slot_counters> per_cpu(static_cast<size_t>(cpus));
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (!steers(g) || addresses_.at(g).transport != transport) continue;
    const int map_fd = bpf_map__fd(groups_[g]->skel->maps.counters);
    for (uint32_t slot = 0; slot < static_cast<uint32_t>(slots); ++slot) {
      if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data()) != 0) continue;
      for (const auto& c : per_cpu) {
        out[slot].selected += c.selected;
        out[slot].skipped_stalled += c.skipped_stalled;
        out[slot].fell_back += c.fell_back;
        out[slot].migrated += c.migrated;
        out[slot].short_key += c.short_key;
      }
    }
  }
  return out;
}

SteerExit SteeringProgram::last_exit(size_t group) const {
  if (!steers(group)) return {};
  const auto* bss = groups_.at(group)->skel->bss;
  return SteerExit{bss->last_line, bss->last_slot, bss->last_reason, bss->last_error};
}

}  // namespace herdless
