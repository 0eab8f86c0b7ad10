/* The steering decision as plain C, compiled into the BPF program and into the C++ unit
 * tests (which drive it from fixture tables). The includer defines HERDLESS_SLOT(i): a
 * `const struct herdless_slot *` for slot i (NULL when unavailable).
 * Scans over the slots are written as one step function each, run by bpf_loop() in the
 * kernel (the verifier then checks a step once, not once per slot) and by a plain loop
 * elsewhere. */
#ifndef HERDLESS_STEER_LOGIC_H
#define HERDLESS_STEER_LOGIC_H

#include "steer_shared.h"

#define HERDLESS_INLINE static inline __attribute__((always_inline))
#ifdef __bpf__
#define HERDLESS_STEP(name) static __attribute__((noinline)) long name(__u32 i, void *arg)
#define HERDLESS_RUN(n, step, scan) bpf_loop((n), (step), (scan), 0)
#else
#define HERDLESS_STEP(name) static inline long name(__u32 i, void *arg)
#define HERDLESS_RUN(n, step, scan)      \
  for (__u32 i_ = 0; i_ < (n); i_++) {  \
    if (step(i_, (scan))) break;         \
  }
#endif

struct herdless_choice {
  __u32 slot;
  __u32 reason;        /* enum herdless_reason; NONE when no slot is healthy */
  __u32 stalled_seen;  /* candidates skipped because they were stalled */
  __u32 first_stalled; /* the first of those (valid when stalled_seen > 0) */
};

/* What a scan reads and what it leaves behind. */
struct herdless_scan {
  __u64 now;
  __u64 threshold;
  __u32 slots;
  __u32 start;      /* healthy scan: first slot to look at */
  __u32 key;        /* affinity: the client's key */
  __u32 cpu;        /* cpu: the receiving CPU */
  __u32 found;      /* the slot found, or `slots` */
  __u32 best_score; /* affinity: score of `found` */
  __u64 best_load;  /* least-loaded scan: load of `found` */
  __u64 best_recency; /* least-loaded scan: recency of `found` */
  struct herdless_choice c;
};

/* Connections steered to the slot that its worker has not accepted yet. */
HERDLESS_INLINE __u64 herdless_pending(const struct herdless_slot *s) {
  const __u64 done = s->steered_mark + s->accepted_since;
  return s->steered > done ? s->steered - done : 0;
}

HERDLESS_INLINE __u64 herdless_load(const struct herdless_slot *s) { return (__u64)s->active + herdless_pending(s); }

/* The load least-loaded compares. The includer may define HERDLESS_SLOT_LOAD(i, s) (e.g. the
 * connections the kernel counts open for slot i right now, with connection accounting);
 * by default the load the slot's worker publishes. */
#ifndef HERDLESS_SLOT_LOAD
#define HERDLESS_SLOT_LOAD(i, s) herdless_load(s)
#endif

/* Among slots of equal load, least-loaded prefers the greatest recency. The includer may
 * define HERDLESS_SLOT_RECENCY(i, s) (e.g. when slot i's server last finished a connection:
 * the server that finished last is the likeliest to be on a CPU, or back in epoll_wait on
 * one, so the connection waits for no wake-up; a random one among equals may wait behind a
 * busy CPU's other work). By default 0 for all: equals are taken from a random start. */
#ifndef HERDLESS_SLOT_RECENCY
#define HERDLESS_SLOT_RECENCY(i, s) 0
#endif

/* Stalled: connections wait for it, and its loop or its accepts have not moved within the
 * threshold. A timestamp newer than `now` (written after `now` was read) is fresh. */
HERDLESS_INLINE int herdless_stalled(const struct herdless_slot *s, __u64 now, __u64 threshold) {
  if (herdless_pending(s) == 0) return 0;
  if (now > s->heartbeat_ns && now - s->heartbeat_ns > threshold) return 1;
  if (now > s->progress_ns && now - s->progress_ns > threshold) return 1;
  return 0;
}

/* Out of selection: excluded by the supervisor, or stalled. */
HERDLESS_INLINE int herdless_unavailable(const struct herdless_slot *s, __u64 now, __u64 threshold) {
  return s->excluded || herdless_stalled(s, now, threshold);
}

/* 32-bit mix (the murmur3 finalizer). */
HERDLESS_INLINE __u32 herdless_mix(__u32 h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* Hash of a session key: FNV-1a over the key bytes (`bytes` holds HERDLESS_MAX_KEY_BYTES,
 * zero past `length`), then mixed with the length. Equal keys give equal hashes wherever read. */
HERDLESS_INLINE __u32 herdless_key_hash(const __u8 *bytes, __u32 length) {
  __u32 h = 2166136261u;
  for (__u32 i = 0; i < HERDLESS_MAX_KEY_BYTES; i++) {
    if (i >= length) break;
    h = (h ^ bytes[i]) * 16777619u;
  }
  return herdless_mix(h ^ length);
}

HERDLESS_INLINE void herdless_note_stalled(struct herdless_choice *c, __u32 slot) {
  if (c->stalled_seen == 0) c->first_stalled = slot;
  c->stalled_seen++;
}

/* Step: is slot (start + i) mod slots healthy? Stops at the first that is. */
HERDLESS_STEP(herdless_healthy_step) {
  struct herdless_scan *s = (struct herdless_scan *)arg;
  __u32 slot = s->start + i;
  if (slot >= s->slots) slot -= s->slots;
  const struct herdless_slot *state = HERDLESS_SLOT(slot);
  if (!state) return 0;
  if (herdless_unavailable(state, s->now, s->threshold)) return 0;
  s->found = slot;
  return 1;
}

/* Step: the load of slot (start + i) mod slots; keeps the least loaded healthy one (the first
 * of equals from a random start, so ties spread). */
HERDLESS_STEP(herdless_least_step) {
  struct herdless_scan *s = (struct herdless_scan *)arg;
  __u32 slot = s->start + i;
  if (slot >= s->slots) slot -= s->slots;
  const struct herdless_slot *state = HERDLESS_SLOT(slot);
  if (!state) return 0;
  if (herdless_unavailable(state, s->now, s->threshold)) {
    herdless_note_stalled(&s->c, slot);
    return 0;
  }
  const __u64 load = HERDLESS_SLOT_LOAD(slot, state);
  const __u64 recency = HERDLESS_SLOT_RECENCY(slot, state);
  if (s->found == s->slots || load < s->best_load || (load == s->best_load && recency > s->best_recency)) {
    s->found = slot;
    s->best_load = load;
    s->best_recency = recency;
  }
  return 0;
}

/* Step: rendezvous score of slot i for the key; keeps the best healthy one. */
HERDLESS_STEP(herdless_affinity_step) {
  struct herdless_scan *s = (struct herdless_scan *)arg;
  const struct herdless_slot *state = HERDLESS_SLOT(i);
  if (!state) return 0;
  const __u32 score = herdless_mix(s->key ^ herdless_mix(i + 0x9e3779b9u));
  if (s->found != s->slots && score <= s->best_score) return 0;
  if (herdless_unavailable(state, s->now, s->threshold)) return 0;
  s->best_score = score;
  s->found = i;
  return 0;
}

/* Step: rendezvous score of slot i, health ignored: where the key would go if all were well. */
HERDLESS_STEP(herdless_top_score_step) {
  struct herdless_scan *s = (struct herdless_scan *)arg;
  const __u32 score = herdless_mix(s->key ^ herdless_mix(i + 0x9e3779b9u));
  if (s->start != s->slots && score <= s->best_score) return 0;
  s->best_score = score;
  s->start = i;
  return 0;
}

/* Step: is slot i pinned to the receiving CPU (and healthy)? */
HERDLESS_STEP(herdless_cpu_step) {
  struct herdless_scan *s = (struct herdless_scan *)arg;
  const struct herdless_slot *state = HERDLESS_SLOT(i);
  if (!state || state->cpu != s->cpu) return 0;
  if (herdless_unavailable(state, s->now, s->threshold)) return 0;
  s->found = i;
  return 1;
}

HERDLESS_INLINE void herdless_scan_init(struct herdless_scan *s, __u32 slots, __u64 now, __u64 threshold) {
  s->now = now;
  s->threshold = threshold;
  s->slots = slots;
  s->start = 0;
  s->key = 0;
  s->cpu = 0;
  s->found = slots;
  s->best_score = 0;
  s->best_load = 0;
  s->best_recency = 0;
  s->c.slot = 0;
  s->c.reason = HERDLESS_REASON_NONE;
  s->c.stalled_seen = 0;
  s->c.first_stalled = 0;
}

/* The first healthy slot at or after `start` (cyclically), or `slots`. */
HERDLESS_INLINE __u32 herdless_first_healthy(struct herdless_scan *s, __u32 start) {
  s->start = start;
  s->found = s->slots;
  HERDLESS_RUN(s->slots, herdless_healthy_step, s);
  return s->found;
}

/* Up to this many slots least-loaded looks at every one: with live counts the least loaded
 * of all is cheap to find and beats two random candidates, which keep sending a blocked
 * slot the connections that tie it (measured: a 4-slot server whose loop blocks 50 ms). */
#define HERDLESS_FULL_SCAN_SLOTS 8

/* Two choices: the second candidate wins only when it is more than this many connections
 * less loaded. With more workers than CPUs the less loaded of two is most often a worker asleep
 * in epoll_wait, so a strict comparison wakes one for nearly every connection, while the other
 * candidate, awake or about to run with connections waiting, would take it in the same turn.
 * Measured, 16 workers on 2 CPUs, one accept per wake-up, short connections, runs alternated:
 * worker voluntary context switches per connection strict 0.70, slack 1 0.77-0.79, slack 3
 * 0.72-0.74, the kernel's hash 0.72-0.73; rate vs hash (median of 6 cycles) slack 1 0.979,
 * slack 3 0.995, busiest/mean <= 1.03. A worker whose loop blocks keeps at most this many more
 * connections than the other candidate waiting for it (full scans, <= 8 slots, have no slack). */
#define HERDLESS_TWO_CHOICE_SLACK 3

/* Within the slack, the candidate with more connections waiting wins: it has been woken for
 * them already (or is running), so it takes this one in the same turn, where the other is
 * most often asleep and would need a wake-up of its own. So that this cannot feed one slot
 * for good, it holds only while that candidate has been sent at most this many connections
 * more than the other since the program was loaded. Measured, 16 workers on 2 CPUs, runs
 * alternated with hash: worker voluntary switches per connection 0.63-0.65 (hash 0.74-0.76,
 * without this rule 0.75), worker CPU per connection 0.95-0.97x hash's, busiest/mean <= 1.02
 * (without the lead bound 1.43). */
#define HERDLESS_AWAKE_LEAD 64

/* Two choices, a first: does b take the connection? */
HERDLESS_INLINE int herdless_second_wins(const struct herdless_slot *sa, __u64 la, const struct herdless_slot *sb,
                                         __u64 lb) {
  if (lb + HERDLESS_TWO_CHOICE_SLACK < la) return 1;
  if (lb > la + HERDLESS_TWO_CHOICE_SLACK) return 0;
  return herdless_pending(sb) > herdless_pending(sa) && sb->steered <= sa->steered + HERDLESS_AWAKE_LEAD;
}

/* The least loaded healthy slot (all of them up to HERDLESS_FULL_SCAN_SLOTS, else the power
 * of two choices); r1 and r2 are random numbers. */
HERDLESS_INLINE void herdless_least_loaded(struct herdless_scan *s, __u32 r1, __u32 r2) {
  const __u32 n = s->slots;
  if (n == 0 || n > HERDLESS_MAX_SLOTS) return;
  if (n <= HERDLESS_FULL_SCAN_SLOTS) {
    s->start = r1 % n;
    s->found = n;
    HERDLESS_RUN(n, herdless_least_step, s);
    if (s->found == n) return; /* no healthy slot */
    s->c.slot = s->found;
    s->c.reason = HERDLESS_REASON_LEAST_LOADED;
    return;
  }
  const __u32 a0 = r1 % n;
  const __u32 b0 = n > 1 ? (a0 + 1 + r2 % (n - 1)) % n : a0;
  const __u32 a = herdless_first_healthy(s, a0);
  if (a != a0) herdless_note_stalled(&s->c, a0);
  if (a == n) return; /* no healthy slot */
  const __u32 b = herdless_first_healthy(s, b0);
  if (b != b0 && b0 != a0) herdless_note_stalled(&s->c, b0);
  s->c.slot = a;
  s->c.reason = HERDLESS_REASON_LEAST_LOADED;
  if (b == n || b == a) return;
  const struct herdless_slot *sa = HERDLESS_SLOT(a);
  const struct herdless_slot *sb = HERDLESS_SLOT(b);
  if (sa && sb && herdless_second_wins(sa, HERDLESS_SLOT_LOAD(a, sa), sb, HERDLESS_SLOT_LOAD(b, sb))) s->c.slot = b;
}

/* Rendezvous (highest random weight) hash of `key` over healthy slots: a key stays on its
 * slot; when that slot stalls or goes away only its keys move. */
HERDLESS_INLINE void herdless_affinity(struct herdless_scan *s, __u32 key) {
  if (s->slots == 0 || s->slots > HERDLESS_MAX_SLOTS) return;
  s->key = key;
  s->found = s->slots;
  HERDLESS_RUN(s->slots, herdless_affinity_step, s);
  const __u32 found = s->found;
  /* Count a skip on the key's own slot when it was passed over (stalled or excluded). */
  s->start = s->slots;
  s->best_score = 0;
  HERDLESS_RUN(s->slots, herdless_top_score_step, s);
  if (s->start != s->slots && s->start != found) herdless_note_stalled(&s->c, s->start);
  if (found == s->slots) return;
  s->c.slot = found;
  s->c.reason = HERDLESS_REASON_AFFINITY;
}

/* The healthy slot pinned to `cpu`, else the least-loaded choice. */
HERDLESS_INLINE void herdless_by_cpu(struct herdless_scan *s, __u32 cpu, __u32 r1, __u32 r2) {
  if (s->slots == 0 || s->slots > HERDLESS_MAX_SLOTS) return;
  s->cpu = cpu;
  s->found = s->slots;
  HERDLESS_RUN(s->slots, herdless_cpu_step, s);
  if (s->found != s->slots) {
    s->c.slot = s->found;
    s->c.reason = HERDLESS_REASON_CPU;
    return;
  }
  herdless_least_loaded(s, r1, r2);
}

#endif
