/* The one header shared by the steering program (bpf/steer.bpf.c) and the C++ loader:
 * plain fixed-width types only. Each worker slot publishes its state in a BPF array the
 * supervisor mmaps before forking, so workers write it with plain stores and the program
 * reads it at every new connection. */
#ifndef HERDLESS_STEER_SHARED_H
#define HERDLESS_STEER_SHARED_H

#include <linux/types.h>

#define HERDLESS_MAX_SLOTS 256
#define HERDLESS_NO_CPU 0xffffffffu
#define HERDLESS_MAX_KEY_BYTES 32 /* longest UDP session key (QUIC connection IDs are <= 20) */

/* The policy the program applies (`hash` attaches no program at all). */
enum herdless_policy {
  HERDLESS_POLICY_LEAST_LOADED = 1, /* two random healthy candidates, the less loaded wins */
  HERDLESS_POLICY_AFFINITY = 2,     /* rendezvous hash of the client address over healthy slots */
  HERDLESS_POLICY_CPU = 3,          /* the slot pinned to the receiving CPU, else least-loaded */
  HERDLESS_POLICY_SESSION = 4,      /* UDP: rendezvous hash of a key read from the datagram */
};

/* How a selection was made; also the index of the per-slot counters. */
enum herdless_reason {
  HERDLESS_REASON_NONE = 0,
  HERDLESS_REASON_LEAST_LOADED = 1,
  HERDLESS_REASON_AFFINITY = 2,
  HERDLESS_REASON_CPU = 3,
  HERDLESS_REASON_FALLBACK_HASH = 4, /* no healthy slot: the kernel's hash over our slots */
  HERDLESS_REASON_SESSION = 5,       /* UDP: the session key's slot */
  HERDLESS_REASON_SHORT_KEY = 6,     /* UDP: datagram too short for the key: its 4-tuple hash's slot */
};

/* One slot, written by its worker (all but `steered`) and by the program (`steered`). */
struct herdless_slot {
  __u64 heartbeat_ns;       /* CLOCK_MONOTONIC of the worker's last loop turn */
  __u64 progress_ns;        /* last time the worker accepted or found its queue empty */
  __u64 steered;            /* connections the program sent to this slot (program, atomic) */
  __u64 steered_mark;       /* `steered` when the worker last found its queue empty */
  __u64 accepted_since;     /* connections the worker accepted since that moment */
  __u32 active;             /* open connections of the worker */
  __u32 cpu;                /* CPU the worker is pinned to, or HERDLESS_NO_CPU */
  __u32 excluded;           /* set by the supervisor: never a candidate (being rescued or removed) */
  __u32 reserved;
};

/* Per-slot counters kept by the program in a per-CPU array. */
struct herdless_slot_counters {
  __u64 selected;        /* connections sent to this slot */
  __u64 skipped_stalled; /* times this slot was a candidate but stalled */
  __u64 fell_back;       /* selections made by the hash fallback that landed here */
  __u64 migrated;        /* requests migrated to this slot from a closed listener */
  __u64 short_key;       /* UDP session: datagrams too short for the key, steered by their 4-tuple */
};

/* Connection accounting (bpf/conn_track.bpf.c, src/steer/conn_tracker.cc). A TCP flow as the
 * server side sees it: addresses and ports in network order; an IPv4 flow (also one reaching
 * an IPv6 socket as a v4-mapped address) has family AF_INET and its address in [0], zeros after. */
struct herdless_flow {
  __u32 family;
  __u16 local_port;
  __u16 remote_port;
  __u32 local[4];
  __u32 remote[4];
};

/* Where a tracked flow goes: the slot the steering program chose (moved when it migrates). */
struct herdless_flow_slot {
  __u32 slot;
  __u32 reserved;
};

/* Per-slot connection counts (one shared entry per slot, atomic adds). open = established +
 * migrated_in - closed - migrated_out: connections of the slot that its server has not yet
 * finished (closed or shut down its side), whether still queued or accepted. */
struct herdless_slot_conns {
  __u64 established;  /* handshakes completed into this slot's accept queue */
  __u64 closed;       /* of those, finished by the server side (FIN or RST sent, or reset) */
  __u64 migrated_in;  /* established connections moved here from a closed listener */
  __u64 migrated_out; /* established connections moved away from this slot */
  __u64 finished_ns;  /* CLOCK_MONOTONIC of the last finish (0: none yet) */
  __u64 selected_ns;  /* CLOCK_MONOTONIC of the steering program's last choice of the slot */
};

#endif
