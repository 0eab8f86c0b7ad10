/* The maps that connection accounting shares between the steering program (which records the
 * slot it chose for each TCP flow, and moves flows that migrate) and bpf/conn_track.bpf.c
 * (which counts a flow when its handshake completes and when the server side finishes it).
 * Both objects declare them identically; the loader creates them once (ConnTracker) and the
 * steering program's skeletons reuse them (bpf_map__reuse_fd). */
#ifndef HERDLESS_CONN_MAPS_H
#define HERDLESS_CONN_MAPS_H

#include "steer_shared.h"

#define HERDLESS_AF_INET 2
#define HERDLESS_AF_INET6 10

/* Flows steered but not yet established (SYN received; handshake or accept-queue entry
 * pending). LRU: a handshake that never completes leaves an entry that ages out. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct herdless_flow);
  __type(value, struct herdless_flow_slot);
} flows SEC(".maps");

/* Established flows, until the server side finishes them. Not LRU, so a SYN flood that
 * churns `flows` cannot evict an open connection (which would lose its close). Preallocated
 * (29 MB memlock while the tracker runs): an element taken from and given back to a per-CPU
 * free list, instead of one allocated and freed through bpf_mem_alloc at every connection,
 * took a fifth off the tracepoint's time per connection (bpf_stats, 2 CPUs). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 262144);
  __type(key, struct herdless_flow);
  __type(value, struct herdless_flow_slot);
} open_flows SEC(".maps");

/* One shared (not per-CPU) entry per slot: the steering program reads a slot's live open
 * count at every selection (least-loaded), so it must see every CPU's additions at once. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HERDLESS_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct herdless_slot_conns);
} conns SEC(".maps");

/* Connections of the slot open right now (queued or accepted, not finished by its server). */
static __always_inline __u64 herdless_live_open(__u32 slot) {
  const struct herdless_slot_conns *c = bpf_map_lookup_elem(&conns, &slot);
  if (!c) return 0;
  const __u64 in = c->established + c->migrated_in;
  const __u64 out = c->closed + c->migrated_out;
  return in > out ? in - out : 0;
}

/* Rank of a slot among equally loaded ones: when its server last finished a connection
 * (CLOCK_MONOTONIC ns), or 0 when it was chosen since (a connection on its way, not counted
 * open until its handshake completes) or never finished one: a burst of requests that arrive
 * before any handshake completes spreads over the idle servers instead of piling onto the
 * one that finished last. */
static __always_inline __u64 herdless_tie_rank(__u32 slot) {
  const struct herdless_slot_conns *c = bpf_map_lookup_elem(&conns, &slot);
  if (!c) return 0;
  const __u64 finished = c->finished_ns;
  return c->selected_ns > finished ? 0 : finished;
}

/* Notes that the steering program chose `slot` now. */
static __always_inline void herdless_note_selected(__u32 slot, __u64 now) {
  struct herdless_slot_conns *c = bpf_map_lookup_elem(&conns, &slot);
  if (c) c->selected_ns = now;
}

/* An IPv4 peer of an IPv6 socket (::ffff:a.b.c.d on both ends) is keyed as IPv4, so the
 * packet's view (IPv4 header) and the socket's view agree. */
static __always_inline void herdless_flow_unmap(struct herdless_flow *f) {
  if (f->family != HERDLESS_AF_INET6) return;
  const __u32 mapped = bpf_htonl(0xffff);
  if (f->local[0] | f->local[1] | f->remote[0] | f->remote[1]) return;
  if (f->local[2] != mapped || f->remote[2] != mapped) return;
  f->family = HERDLESS_AF_INET;
  f->local[0] = f->local[3];
  f->remote[0] = f->remote[3];
  f->local[2] = f->local[3] = f->remote[2] = f->remote[3] = 0;
}

/* Adds `n` to one counter of a slot (atomic: every CPU adds to the same entry). */
#define HERDLESS_CONNS_ADD(slot, field, n)                                    \
  do {                                                                        \
    __u32 slot_ = (slot);                                                     \
    struct herdless_slot_conns *c_ = bpf_map_lookup_elem(&conns, &slot_);     \
    if (c_) __sync_fetch_and_add(&c_->field, (n));                            \
  } while (0)

#endif
