/* herdless connection accounting: a raw tracepoint on inet_sock_set_state. A TCP flow that
 * the steering program recorded in `flows` is counted as established to its slot when its
 * handshake completes (SYN_RECV -> ESTABLISHED) and moved to `open_flows`; it is counted as
 * closed when the server side finishes it (ESTABLISHED or CLOSE_WAIT -> FIN_WAIT1, LAST_ACK
 * or CLOSE) and forgotten. Other sockets cost a comparison of the two states, or one lookup. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_shared.h"
#include "conn_maps.h"

/* The fields read, relocated by name against the running kernel's BTF (CO-RE). */
struct sock_common {
  __be32 skc_daddr;     /* remote IPv4 address */
  __be32 skc_rcv_saddr; /* local IPv4 address */
  __be16 skc_dport;     /* remote port, network order */
  unsigned short skc_family;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
  struct sock_common __sk_common;
  __u16 sk_protocol;
} __attribute__((preserve_access_index));

/* The local port is read from inet_sport, not skc_num: on a move to CLOSE, tcp_set_state()
 * releases the port (inet_put_port() zeroes skc_num) before the tracepoint fires. */
struct inet_sock {
  struct sock sk;
  __be16 inet_sport; /* local port, network order */
} __attribute__((preserve_access_index));

enum {
  TCP_ESTABLISHED = 1,
  TCP_SYN_RECV = 3,
  TCP_FIN_WAIT1 = 4,
  TCP_CLOSE = 7,
  TCP_CLOSE_WAIT = 8,
  TCP_LAST_ACK = 9,
};

/* Handshakes that completed but could not be tracked (`open_flows` full). */
__u64 untracked = 0;

/* The TCP ports herdless serves (network order), set by the loader: a state change of any
 * other socket (the clients' ends on loopback, every other server of the host) is dismissed
 * after one read, before the flow key is built and looked up. 0 ports: no filter. */
#define HERDLESS_MAX_TRACKED_PORTS 16
__u16 ports[HERDLESS_MAX_TRACKED_PORTS] = {};
__u32 nr_ports = 0;

static __always_inline int served_port(__u16 port) {
  const __u32 n = nr_ports;
  if (n == 0) return 1;
#pragma unroll
  for (__u32 i = 0; i < HERDLESS_MAX_TRACKED_PORTS; i++) {
    if (i < n && ports[i] == port) return 1;
  }
  return 0;
}

static __always_inline int flow_of(const struct sock *sk, struct herdless_flow *f) {
  const unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  f->local_port = BPF_CORE_READ((const struct inet_sock *)sk, inet_sport);
  f->remote_port = BPF_CORE_READ(sk, __sk_common.skc_dport);
  if (family == HERDLESS_AF_INET) {
    f->family = HERDLESS_AF_INET;
    f->local[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    f->remote[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    return 0;
  }
  if (family == HERDLESS_AF_INET6) {
    f->family = HERDLESS_AF_INET6;
    BPF_CORE_READ_INTO(&f->local, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&f->remote, sk, __sk_common.skc_v6_daddr);
    herdless_flow_unmap(f);
    return 0;
  }
  return -1;
}

SEC("raw_tp/inet_sock_set_state")
int herdless_conn_state(struct bpf_raw_tracepoint_args *ctx) {
  const struct sock *sk = (const struct sock *)ctx->args[0];
  const int from = (int)ctx->args[1];
  const int to = (int)ctx->args[2];
  const int completed = from == TCP_SYN_RECV && to == TCP_ESTABLISHED;
  const int abandoned = from == TCP_SYN_RECV && to != TCP_ESTABLISHED;
  const int finished = (from == TCP_ESTABLISHED || from == TCP_CLOSE_WAIT) &&
                       (to == TCP_FIN_WAIT1 || to == TCP_LAST_ACK || to == TCP_CLOSE);
  if (!completed && !abandoned && !finished) return 0;
  if (!served_port(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport))) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  struct herdless_flow f;
  __builtin_memset(&f, 0, sizeof f);
  if (flow_of(sk, &f) != 0) return 0;

  if (completed) {
    const struct herdless_flow_slot *pending = bpf_map_lookup_elem(&flows, &f);
    if (!pending) return 0; /* not steered by a tracking program */
    const struct herdless_flow_slot open = *pending;
    if (bpf_map_delete_elem(&flows, &f) != 0) return 0; /* counted by a concurrent run */
    if (bpf_map_update_elem(&open_flows, &f, &open, BPF_NOEXIST) != 0) {
      __sync_fetch_and_add(&untracked, 1);
      return 0;
    }
    HERDLESS_CONNS_ADD(open.slot, established, 1);
    return 0;
  }
  if (abandoned) {
    bpf_map_delete_elem(&flows, &f);
    return 0;
  }
  const struct herdless_flow_slot *open = bpf_map_lookup_elem(&open_flows, &f);
  if (!open) return 0;
  const __u32 slot = open->slot;
  if (bpf_map_delete_elem(&open_flows, &f) != 0) return 0;
  struct herdless_slot_conns *c = bpf_map_lookup_elem(&conns, &slot);
  if (!c) return 0;
  __sync_fetch_and_add(&c->closed, 1);
  c->finished_ns = bpf_ktime_get_ns(); /* a plain store: the newest of racing finishes is as good */
  return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
