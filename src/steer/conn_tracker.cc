// ConnTracker: conn_track skeleton lifecycle (open -> load -> attach) and the counter reads.
#include "herdless/conn_tracker.h"

#include "herdless/libbpf_log.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer_shared.h"

#define HERDLESS_SKELETON "conn_track.skel.h"
#include "steer/include_skeleton.h"

namespace herdless {

Result<std::unique_ptr<ConnTracker>> ConnTracker::attach() {
  route_libbpf_messages_to_debug_log();
  std::unique_ptr<ConnTracker> tracker(new ConnTracker());
  tracker->skel_ = conn_track_bpf__open();
  if (tracker->skel_ == nullptr) return sys_error("bpf open", "conn_track program");
  if (const int err = conn_track_bpf__load(tracker->skel_); err != 0) {
    return sys_error("bpf load", "conn_track program", -err);
  }
  if (const int err = conn_track_bpf__attach(tracker->skel_); err != 0) {
    return sys_error("bpf attach", "raw_tracepoint inet_sock_set_state", -err);
  }
  return tracker;
}

ConnTracker::~ConnTracker() {
  if (skel_ != nullptr) conn_track_bpf__destroy(skel_);
}

int ConnTracker::flows_map_fd() const { return bpf_map__fd(skel_->maps.flows); }
int ConnTracker::open_flows_map_fd() const { return bpf_map__fd(skel_->maps.open_flows); }
int ConnTracker::conns_map_fd() const { return bpf_map__fd(skel_->maps.conns); }

std::vector<ConnTracker::SlotConns> ConnTracker::read(int slots) const {
  std::vector<SlotConns> out(static_cast<size_t>(slots > 0 ? slots : 0));
  const int map_fd = conns_map_fd();
  for (uint32_t slot = 0; slot < out.size(); ++slot) {
    herdless_slot_conns c{};
    if (bpf_map_lookup_elem(map_fd, &slot, &c) != 0) continue;
    SlotConns& s = out[slot];
    s.migrated_in = c.migrated_in;
    s.migrated_out = c.migrated_out;
    s.established = c.established + c.migrated_in;
    s.closed = c.closed + c.migrated_out;
  }
  return out;
}

void ConnTracker::set_ports(const std::vector<uint16_t>& ports) {
  constexpr size_t kMax = sizeof skel_->bss->ports / sizeof skel_->bss->ports[0];
  if (ports.size() > kMax) {
    __atomic_store_n(&skel_->bss->nr_ports, 0U, __ATOMIC_RELAXED);
    return;
  }
  // Rewritten in place: a state change that races a reload changing the ports may be missed.
  for (size_t i = 0; i < ports.size(); ++i) skel_->bss->ports[i] = htons(ports[i]);
  __atomic_store_n(&skel_->bss->nr_ports, static_cast<uint32_t>(ports.size()), __ATOMIC_RELEASE);
}

uint64_t ConnTracker::untracked() const { return __atomic_load_n(&skel_->bss->untracked, __ATOMIC_RELAXED); }

uint64_t ConnTracker::lost() const {
  uint64_t lost = untracked();
  bpf_prog_info info{};
  uint32_t length = sizeof info;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.herdless_conn_state), &info, &length) == 0) {
    lost += info.recursion_misses;
  }
  return lost;
}

}  // namespace herdless
