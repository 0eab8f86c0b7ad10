/* herdless steering: an SK_REUSEPORT program attached (as SELECT_OR_MIGRATE) to each listen
 * address's reuseport group. It picks worker slot i's socket from `sockets` by the policy in
 * `policy` over the state the workers publish in `slots`, and never lets the kernel fall back
 * to its own choice over the whole group: a foreign socket that joins the group gets nothing. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_shared.h"
#include "conn_maps.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, HERDLESS_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct herdless_slot);
} slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP); /* a SOCKMAP, not a REUSEPORT_SOCKARRAY: the latter claims sk_user_data, and the SK_LOOKUP program (own_port.bpf.c) must hold the same sockets in its own SOCKMAP */
  __uint(max_entries, HERDLESS_MAX_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} sockets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HERDLESS_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct herdless_slot_counters);
} counters SEC(".maps");

/* Set by the supervisor through the skeleton's mmapped .data/.bss. */
__u32 policy = HERDLESS_POLICY_LEAST_LOADED;
__u32 nr_slots = 0;
__u64 stall_threshold_ns = 100000000;
/* HERDLESS_POLICY_SESSION: where the key lies in the UDP payload. */
__u32 key_offset = 0;
__u32 key_length = 0;
/* TCP groups with connection accounting: record each flow's slot in `flows` (conn_maps.h). */
__u32 track_flows = 0;

/* The last run's exit, for tests: the line of the return taken, its slot, reason, error. */
__u32 last_line = 0;
__u32 last_slot = 0;
__u32 last_reason = 0;
__s32 last_error = 0;

static __always_inline const struct herdless_slot *slot_at(__u32 i) { return bpf_map_lookup_elem(&slots, &i); }
#define HERDLESS_SLOT(i) slot_at(i)
/* With connection accounting (programs that publish nothing), a slot's load is what the
 * kernel counts open for it at this instant, queued or accepted: a server whose loop is
 * blocked loses the comparison from its first waiting connection on, without waiting for a
 * sample (the sampled `pending` is for stall detection only: between two samples it counts
 * connections a healthy server already finished). */
#define HERDLESS_SLOT_LOAD(i, s) (track_flows ? herdless_live_open(i) : herdless_load(s))
#define HERDLESS_SLOT_RECENCY(i, s) (track_flows ? herdless_tie_rank(i) : 0)
#include "steer_logic.h"

#define EXIT_WITH(verdict, slot_, reason_, error_) \
  do {                                            \
    last_line = __LINE__;                         \
    last_slot = (slot_);                          \
    last_reason = (reason_);                      \
    last_error = (error_);                        \
    return (verdict);                             \
  } while (0)

/* A hash of the client's address (not its port), read from the IP header. */
static __always_inline __u32 client_key(struct sk_reuseport_md *ctx) {
  if (ctx->eth_protocol == bpf_htons(ETH_P_IP)) {
    __u32 addr = 0;
    if (bpf_skb_load_bytes_relative(ctx, offsetof(struct iphdr, saddr), &addr, sizeof addr, BPF_HDR_START_NET) == 0) {
      return herdless_mix(addr);
    }
  } else if (ctx->eth_protocol == bpf_htons(ETH_P_IPV6)) {
    __u32 addr[4] = {0, 0, 0, 0};
    if (bpf_skb_load_bytes_relative(ctx, offsetof(struct ipv6hdr, saddr), addr, sizeof addr, BPF_HDR_START_NET) ==
        0) {
      return herdless_mix(addr[0] ^ herdless_mix(addr[1] ^ herdless_mix(addr[2] ^ herdless_mix(addr[3]))));
    }
  }
  return ctx->hash; /* no header to read (a migrating request): the 4-tuple hash */
}

/* The session key of a datagram (ctx->data is at its UDP header), hashed; -1 when the
 * datagram is too short to hold it. */
static __always_inline int session_key(struct sk_reuseport_md *ctx, __u32 *key) {
  const __u32 length = key_length;
  const __u32 offset = key_offset;
  if (length == 0 || length > HERDLESS_MAX_KEY_BYTES || offset > 0xffff) return -1;
  if (ctx->len < sizeof(struct udphdr) + offset + length) return -1;
  __u8 bytes[HERDLESS_MAX_KEY_BYTES] = {};
  if (bpf_skb_load_bytes(ctx, sizeof(struct udphdr) + offset, bytes, length) != 0) return -1;
  *key = herdless_key_hash(bytes, length);
  return 0;
}

static __always_inline void count(__u32 slot, const struct herdless_choice *c, int migrating, int short_key) {
  struct herdless_slot_counters *n = bpf_map_lookup_elem(&counters, &slot);
  if (n) {
    n->selected++;
    if (c->reason == HERDLESS_REASON_FALLBACK_HASH) n->fell_back++;
    if (migrating) n->migrated++;
    if (short_key) n->short_key++; /* also when the fallback hash chose */
  }
  if (c->stalled_seen > 0) {
    __u32 stalled = c->first_stalled;
    struct herdless_slot_counters *s = bpf_map_lookup_elem(&counters, &stalled);
    if (s) s->skipped_stalled += c->stalled_seen;
  }
  struct herdless_slot *state = bpf_map_lookup_elem(&slots, &slot);
  if (state) __sync_fetch_and_add(&state->steered, 1);
}

/* The flow of a connection request from its packet: ctx->data is at the TCP header. */
static __always_inline int flow_from_skb(struct sk_reuseport_md *ctx, __u32 eth_protocol, struct herdless_flow *f) {
  __be16 ports[2] = {0, 0}; /* source (the client's), destination (ours) */
  if (bpf_skb_load_bytes(ctx, 0, ports, sizeof ports) != 0) return -1;
  f->remote_port = ports[0];
  f->local_port = ports[1];
  if (eth_protocol == bpf_htons(ETH_P_IP)) {
    __u32 addrs[2] = {0, 0};
    if (bpf_skb_load_bytes_relative(ctx, offsetof(struct iphdr, saddr), addrs, sizeof addrs, BPF_HDR_START_NET) != 0) {
      return -1;
    }
    f->family = HERDLESS_AF_INET;
    f->remote[0] = addrs[0];
    f->local[0] = addrs[1];
    return 0;
  }
  if (eth_protocol == bpf_htons(ETH_P_IPV6)) {
    __u32 addrs[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (bpf_skb_load_bytes_relative(ctx, offsetof(struct ipv6hdr, saddr), addrs, sizeof addrs, BPF_HDR_START_NET) !=
        0) {
      return -1;
    }
    f->family = HERDLESS_AF_INET6;
    __builtin_memcpy(f->remote, &addrs[0], 16);
    __builtin_memcpy(f->local, &addrs[4], 16);
    return 0;
  }
  return -1;
}

/* The flow of a migrating request or child, from its socket (src = ours, dst = the client's). */
static __always_inline int flow_from_sock(struct bpf_sock *sk, struct herdless_flow *f) {
  const __u32 family = sk->family;
  f->local_port = bpf_htons((__u16)sk->src_port);
  f->remote_port = sk->dst_port;
  if (family == HERDLESS_AF_INET) {
    f->family = HERDLESS_AF_INET;
    f->local[0] = sk->src_ip4;
    f->remote[0] = sk->dst_ip4;
    return 0;
  }
  if (family == HERDLESS_AF_INET6) {
    f->family = HERDLESS_AF_INET6;
    f->local[0] = sk->src_ip6[0];
    f->local[1] = sk->src_ip6[1];
    f->local[2] = sk->src_ip6[2];
    f->local[3] = sk->src_ip6[3];
    f->remote[0] = sk->dst_ip6[0];
    f->remote[1] = sk->dst_ip6[1];
    f->remote[2] = sk->dst_ip6[2];
    f->remote[3] = sk->dst_ip6[3];
    herdless_flow_unmap(f);
    return 0;
  }
  return -1;
}

/* Records that a TCP flow goes to `slot`. A new request is added to `flows` (the last
 * selection wins: with syncookies the completing ACK is steered again). A migrating one is
 * moved, with its count when its handshake had already completed. */
static __always_inline void track(struct sk_reuseport_md *ctx, struct bpf_sock *migrating, __u32 eth_protocol,
                                  __u32 slot) {
  struct herdless_flow f;
  __builtin_memset(&f, 0, sizeof f);
  struct herdless_flow_slot to = {slot, 0};
  if (!migrating) {
    if (flow_from_skb(ctx, eth_protocol, &f) == 0) bpf_map_update_elem(&flows, &f, &to, BPF_ANY);
    return;
  }
  if (flow_from_sock(migrating, &f) != 0) return;
  struct herdless_flow_slot *open = bpf_map_lookup_elem(&open_flows, &f);
  if (open) {
    const __u32 from = open->slot;
    if (from == slot) return;
    open->slot = slot;
    HERDLESS_CONNS_ADD(from, migrated_out, 1);
    HERDLESS_CONNS_ADD(slot, migrated_in, 1);
    return;
  }
  struct herdless_flow_slot *pending = bpf_map_lookup_elem(&flows, &f);
  if (pending) pending->slot = slot;
}

SEC("sk_reuseport/migrate")
int herdless_steer(struct sk_reuseport_md *ctx) {
  const __u32 n = nr_slots;
  /* Context fields are read once, here: the verifier rejects a load through a ctx pointer
   * that the compiler offset inside a branch. */
  const __u32 flow_hash = ctx->hash;
  const __u32 eth_protocol = ctx->eth_protocol;
  struct bpf_sock *migrating = ctx->migrating_sk;
  if (n == 0 || n > HERDLESS_MAX_SLOTS) EXIT_WITH(SK_DROP, 0, HERDLESS_REASON_NONE, 0); /* not configured */

  struct herdless_scan scan;
  herdless_scan_init(&scan, n, bpf_ktime_get_ns(), stall_threshold_ns);
  const __u32 r1 = bpf_get_prandom_u32();
  const __u32 r2 = bpf_get_prandom_u32();
  int short_key = 0;
  if (policy == HERDLESS_POLICY_SESSION) {
    /* A key keeps its worker whatever the client's address or port; a datagram without a
     * key keeps its flow's worker (the 4-tuple hash, over the same healthy slots). */
    __u32 key = 0;
    short_key = session_key(ctx, &key) != 0;
    herdless_affinity(&scan, short_key ? flow_hash : key);
    if (scan.c.reason == HERDLESS_REASON_AFFINITY) {
      scan.c.reason = short_key ? HERDLESS_REASON_SHORT_KEY : HERDLESS_REASON_SESSION;
    }
  } else if (policy == HERDLESS_POLICY_AFFINITY) {
    herdless_affinity(&scan, client_key(ctx));
  } else if (policy == HERDLESS_POLICY_CPU) {
    herdless_by_cpu(&scan, bpf_get_smp_processor_id(), r1, r2);
  } else {
    herdless_least_loaded(&scan, r1, r2);
  }
  struct herdless_choice c = scan.c;
  if (c.reason == HERDLESS_REASON_NONE) {
    /* Every slot is stalled: spread by the kernel's hash, but over our slots only. */
    c.slot = (__u32)(((__u64)flow_hash * n) >> 32);
    c.reason = HERDLESS_REASON_FALLBACK_HASH;
  }

  __u32 key = c.slot;
  const long err = bpf_sk_select_reuseport(ctx, &sockets, &key, 0);
  /* No socket in that slot (being replaced): drop rather than return without a choice and
   * let a foreign socket of the group have it. TCP: the client retransmits the SYN. UDP: the
   * datagram is lost (the kernel counts it under Udp NoPorts); UDP slots are never replaced
   * while they serve, so this is only possible while the program is being set up. */
  if (err) EXIT_WITH(SK_DROP, c.slot, c.reason, (__s32)err);
  count(key, &c, migrating != NULL, short_key);
  if (track_flows) {
    herdless_note_selected(key, scan.now);
    track(ctx, migrating, eth_protocol, key);
  }
  EXIT_WITH(SK_PASS, key, c.reason, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
