/* herdless port ownership: an SK_LOOKUP program attached to the network namespace. It runs
 * before the kernel's own listener lookup (for a TCP SYN, and for every UDP datagram), and
 * for an address and port herdless serves assigns one of herdless's sockets, after which the
 * kernel's reuseport selection (our SK_REUSEPORT program) still picks the worker. A socket
 * bound to a more specific address (127.0.0.1:P while herdless listens on 0.0.0.0:P) would
 * otherwise win the lookup before the reuseport group is consulted. Anything herdless does not
 * serve is left alone (SK_PASS without an assignment). */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "own_port_shared.h"

#define AF_INET 2
#define AF_INET6 10

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HERDLESS_OWNED_MAX);
  __type(key, __u32);
  __type(value, struct herdless_owned);
} owned SEC(".maps");

/* Address i's sockets at keys i * HERDLESS_OWNED_SOCKETS + j. */
struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP);
  __uint(max_entries, HERDLESS_OWNED_MAX * HERDLESS_OWNED_SOCKETS);
  __type(key, __u32);
  __type(value, __u64);
} owned_sockets SEC(".maps");

__u32 nr_owned = 0;
__u64 assigned = 0; /* lookups given to herdless's sockets (relaxed; for tests and stats) */

static __always_inline int serves(const struct herdless_owned *o, struct bpf_sk_lookup *ctx) {
  if (o->protocol != ctx->protocol || o->port != ctx->local_port) return 0;
  if (ctx->family == AF_INET) {
    if (o->family == AF_INET) return o->wildcard || o->ip4 == ctx->local_ip4;
    return o->family == AF_INET6 && o->wildcard && o->v4_too;
  }
  if (ctx->family != AF_INET6 || o->family != AF_INET6) return 0;
  if (o->wildcard) return 1;
  return o->ip6[0] == ctx->local_ip6[0] && o->ip6[1] == ctx->local_ip6[1] && o->ip6[2] == ctx->local_ip6[2] &&
         o->ip6[3] == ctx->local_ip6[3];
}

SEC("sk_lookup")
int herdless_own_port(struct bpf_sk_lookup *ctx) {
  const __u32 n = nr_owned;
  for (__u32 i = 0; i < HERDLESS_OWNED_MAX && i < n; i++) {
    __u32 at = i; /* a copy for the key: `i` stays a register the verifier bounds */
    const struct herdless_owned *o = bpf_map_lookup_elem(&owned, &at);
    if (!o || !serves(o, ctx)) continue;
    for (__u32 j = 0; j < HERDLESS_OWNED_SOCKETS; j++) {
      __u32 key = i * HERDLESS_OWNED_SOCKETS + j;
      struct bpf_sock *sk = bpf_map_lookup_elem(&owned_sockets, &key);
      if (!sk) continue;
      /* Fails for a socket that no longer listens (a rescued slot's old one): try the next. */
      const long err = bpf_sk_assign(ctx, sk, 0);
      bpf_sk_release(sk);
      if (err == 0) {
        __sync_fetch_and_add(&assigned, 1);
        return SK_PASS;
      }
    }
  }
  return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
