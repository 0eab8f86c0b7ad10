/* Shared by bpf/own_port.bpf.c and the supervisor (src/steer/port_owner.cc): the served
 * addresses the SK_LOOKUP program captures, and where each one's sockets sit in the sockmap. */
#ifndef HERDLESS_OWN_PORT_SHARED_H
#define HERDLESS_OWN_PORT_SHARED_H

#include <linux/types.h>

#define HERDLESS_OWNED_MAX 64     /* served addresses (listen URLs) */
#define HERDLESS_OWNED_SOCKETS 8  /* sockets kept per address: the first still listening is used */

struct herdless_owned {
  __u32 family;   /* AF_INET or AF_INET6: the family of herdless's sockets */
  __u32 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
  __u32 port;     /* host order, as bpf_sk_lookup.local_port */
  __u32 wildcard; /* bound to 0.0.0.0 or [::]: every local address of the family */
  __u32 v4_too;   /* [::] without IPV6_V6ONLY: IPv4 lookups too */
  __u32 ip4;      /* network order, when not wildcard */
  __u32 ip6[4];   /* network order, when not wildcard */
};

#endif
