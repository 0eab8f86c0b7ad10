// The steering decision (bpf/steer_logic.h) as plain C++, from fixture tables: the same code
// the kernel runs, checked here over every pair of random candidates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "steer_shared.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wconversion"
namespace logic {
inline const herdless_slot* g_slots = nullptr;
inline const uint64_t* g_recency = nullptr;  // per slot, as the kernel's last-finish times; null: all 0
#define HERDLESS_SLOT(i) (&logic::g_slots[(i)])
#define HERDLESS_SLOT_RECENCY(i, s) (logic::g_recency ? logic::g_recency[(i)] : 0)
#include "steer_logic.h"  // NOLINT: included inside a namespace on purpose
#undef HERDLESS_SLOT
#undef HERDLESS_SLOT_RECENCY
}  // namespace logic
#pragma GCC diagnostic pop

namespace {

constexpr uint64_t kNow = 10'000'000'000;  // 10 s
constexpr uint64_t kThreshold = 100'000'000;  // 100 ms

herdless_slot healthy(uint32_t active, uint64_t pending = 0) {
  herdless_slot s{};
  s.active = active;
  s.steered = pending;
  s.heartbeat_ns = kNow;
  s.progress_ns = kNow;
  s.cpu = HERDLESS_NO_CPU;
  return s;
}

herdless_slot stalled(uint64_t pending = 3) {
  herdless_slot s = healthy(0, pending);
  s.heartbeat_ns = kNow - 5 * kThreshold;
  s.progress_ns = kNow - 5 * kThreshold;
  return s;
}

logic::herdless_choice least_loaded(const std::vector<herdless_slot>& slots, uint32_t r1, uint32_t r2) {
  logic::g_slots = slots.data();
  logic::herdless_scan scan;
  logic::herdless_scan_init(&scan, static_cast<uint32_t>(slots.size()), kNow, kThreshold);
  logic::herdless_least_loaded(&scan, r1, r2);
  return scan.c;
}

TEST(SteerLogic, PendingIsSteeredMinusAcceptedSinceTheMark) {
  herdless_slot s = healthy(2, 10);
  s.steered_mark = 4;
  s.accepted_since = 3;
  EXPECT_EQ(logic::herdless_pending(&s), 3u);
  EXPECT_EQ(logic::herdless_load(&s), 5u);
  s.accepted_since = 9;  // accepted more than was counted as steered: never negative
  EXPECT_EQ(logic::herdless_pending(&s), 0u);
}

TEST(SteerLogic, StallNeedsWaitingConnectionsAndAnOldHeartbeatOrProgress) {
  const herdless_slot busy = healthy(0, 5);
  EXPECT_FALSE(logic::herdless_stalled(&busy, kNow, kThreshold));
  herdless_slot idle = stalled(0);
  EXPECT_FALSE(logic::herdless_stalled(&idle, kNow, kThreshold)) << "nothing waits for it";
  herdless_slot stuck = stalled(1);
  EXPECT_TRUE(logic::herdless_stalled(&stuck, kNow, kThreshold));
  herdless_slot slow_accepts = healthy(0, 2);
  slow_accepts.progress_ns = kNow - 2 * kThreshold;
  EXPECT_TRUE(logic::herdless_stalled(&slow_accepts, kNow, kThreshold));
  herdless_slot future = healthy(0, 2);
  future.heartbeat_ns = kNow + 5;  // written after `now` was read
  EXPECT_FALSE(logic::herdless_stalled(&future, kNow, kThreshold));
}

TEST(SteerLogic, TwoChoicesNeverPickAStalledSlotAndTakeTheLessLoaded) {
  const std::vector<herdless_slot> slots = {healthy(4), stalled(), healthy(1), healthy(7), stalled()};
  for (uint32_t r1 = 0; r1 < 25; ++r1) {
    for (uint32_t r2 = 0; r2 < 25; ++r2) {
      const auto c = least_loaded(slots, r1, r2);
      ASSERT_EQ(c.reason, HERDLESS_REASON_LEAST_LOADED);
      ASSERT_NE(c.slot, 1u);
      ASSERT_NE(c.slot, 4u);
      // Slot 3 (load 7) is the most loaded healthy slot: every pair of candidates holds a
      // less loaded one (a stalled candidate resolves to the next healthy slot, never to 3
      // twice), so it never wins.
      ASSERT_NE(c.slot, 3u) << "r1=" << r1 << " r2=" << r2;
    }
  }
}

// Guards the two-choice slack: with more slots than a full scan takes, a candidate up to the
// slack more loaded keeps the connection (no worker woken for it); one more, it goes.
TEST(SteerLogic, TwoChoicesMoveOnlyWhenTheOtherIsMoreThanTheSlackLessLoaded) {
  constexpr uint32_t kSlots = HERDLESS_FULL_SCAN_SLOTS + 2;
  std::vector<herdless_slot> slots(kSlots, healthy(9));
  // r1 = 0, r2 = 0: candidates 0 and 1.
  constexpr uint32_t kFirst = HERDLESS_TWO_CHOICE_SLACK + 1;
  slots[0] = healthy(0, kFirst);
  slots[1] = healthy(0, kFirst - HERDLESS_TWO_CHOICE_SLACK);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 0u) << "within the slack: the first candidate keeps it";
  slots[1] = healthy(0, kFirst - HERDLESS_TWO_CHOICE_SLACK - 1);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 1u) << "beyond the slack: the less loaded one";
  slots[0] = healthy(0, 0);
  slots[1] = healthy(5);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 0u);
}

// Guards the awake rule: within the slack, the candidate with connections waiting (already
// woken for them) takes the connection, unless it has been sent more than the lead beyond the
// other; beyond the slack the less loaded wins whatever waits.
TEST(SteerLogic, WithinTheSlackTheCandidateWithConnectionsWaitingWinsUpToTheLead) {
  constexpr uint32_t kSlots = HERDLESS_FULL_SCAN_SLOTS + 2;
  std::vector<herdless_slot> slots(kSlots, healthy(9));
  // r1 = 0, r2 = 0: candidates 0 and 1.
  slots[0] = healthy(1);     // load 1, nothing waiting: asleep in epoll_wait
  slots[1] = healthy(0, 2);  // load 2, two waiting
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 1u) << "more loaded within the slack, but awake";
  slots[0] = healthy(0, 2);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 0u) << "as many waiting: the first candidate keeps it";
  slots[0] = healthy(1);
  slots[1].steered += HERDLESS_AWAKE_LEAD + 1;  // as many waiting, but far more sent in all
  slots[1].steered_mark = HERDLESS_AWAKE_LEAD + 1;
  ASSERT_EQ(logic::herdless_pending(&slots[1]), 2u);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 0u) << "beyond the lead: no preference";
  slots[1] = healthy(0, 1 + HERDLESS_TWO_CHOICE_SLACK + 1);
  EXPECT_EQ(least_loaded(slots, 0, 0).slot, 0u) << "beyond the slack: the less loaded";
}

TEST(SteerLogic, EquallyLoadedSlotsGoToTheMostRecentlyFinishedWhateverTheRandomStart) {
  // Slot 0 finished last but holds a connection; of the idle ones, slot 2 finished last.
  const std::vector<herdless_slot> slots = {healthy(1), healthy(0), healthy(0), healthy(0)};
  const uint64_t recency[] = {900, 300, 700, 500};
  logic::g_recency = recency;
  for (uint32_t r1 = 0; r1 < 8; ++r1) {
    const logic::herdless_choice c = least_loaded(slots, r1, 0);
    EXPECT_EQ(c.slot, 2u) << "random start " << r1;
    EXPECT_EQ(c.reason, static_cast<uint32_t>(HERDLESS_REASON_LEAST_LOADED));
  }
  // Without recency (built-in workers), equals are taken from the random start: all of them.
  logic::g_recency = nullptr;
  std::vector<uint32_t> chosen;
  for (uint32_t r1 = 0; r1 < 8; ++r1) chosen.push_back(least_loaded(slots, r1, 0).slot);
  for (uint32_t idle = 1; idle < 4; ++idle) EXPECT_NE(std::count(chosen.begin(), chosen.end(), idle), 0) << idle;
  EXPECT_EQ(std::count(chosen.begin(), chosen.end(), 0u), 0);
}

TEST(SteerLogic, AllStalledLeavesTheChoiceToTheHashFallback) {
  const auto c = least_loaded({stalled(), stalled(), stalled()}, 7, 9);
  EXPECT_EQ(c.reason, HERDLESS_REASON_NONE);
  EXPECT_GT(c.stalled_seen, 0u);
}

// The affinity (and UDP session) choice for `key` over healthy `slots`.
uint32_t affinity_pick(const std::vector<herdless_slot>& slots, uint32_t key) {
  logic::g_slots = slots.data();
  logic::herdless_scan scan;
  logic::herdless_scan_init(&scan, static_cast<uint32_t>(slots.size()), kNow, kThreshold);
  logic::herdless_affinity(&scan, key);
  EXPECT_EQ(scan.c.reason, HERDLESS_REASON_AFFINITY);
  return scan.c.slot;
}

TEST(SteerLogic, AffinityIsStableAndMovesOnlyTheStalledSlotsKeys) {
  std::vector<herdless_slot> slots(6, healthy(0));
  auto pick = [&](uint32_t key) { return affinity_pick(slots, key); };
  std::vector<uint32_t> before;
  std::vector<int> per_slot(slots.size());
  for (uint32_t key = 0; key < 3000; ++key) {
    before.push_back(pick(logic::herdless_mix(key)));
    per_slot[before.back()]++;
  }
  for (int n : per_slot) EXPECT_NEAR(n, 500, 120);  // spread over every slot
  slots[2] = stalled();
  for (uint32_t key = 0; key < 3000; ++key) {
    const uint32_t now = pick(logic::herdless_mix(key));
    if (before[key] == 2) {
      EXPECT_NE(now, 2u);
    } else {
      EXPECT_EQ(now, before[key]) << "key " << key << " moved though its slot is healthy";
    }
  }
}

TEST(SteerLogic, CpuPrefersThePinnedSlotElseLeastLoaded) {
  std::vector<herdless_slot> slots = {healthy(9), healthy(0), healthy(5)};
  slots[0].cpu = 1;
  logic::g_slots = slots.data();
  logic::herdless_scan scan;
  logic::herdless_scan_init(&scan, 3, kNow, kThreshold);
  logic::herdless_by_cpu(&scan, 1, 0, 0);
  EXPECT_EQ(scan.c.reason, HERDLESS_REASON_CPU);
  EXPECT_EQ(scan.c.slot, 0u);
  logic::herdless_scan_init(&scan, 3, kNow, kThreshold);
  logic::herdless_by_cpu(&scan, 3, 0, 0);  // nobody pinned to CPU 3
  EXPECT_EQ(scan.c.reason, HERDLESS_REASON_LEAST_LOADED);
}

}  // namespace

// --- UDP session keys ----------------------------------------------------------------------

uint32_t key_hash(std::string_view key) {
  uint8_t bytes[HERDLESS_MAX_KEY_BYTES] = {};
  // Byte by byte: a memcpy from a temporary string trips GCC 12 -O3's -Warray-bounds.
  for (size_t i = 0; i < std::min<size_t>(key.size(), sizeof bytes); ++i) bytes[i] = static_cast<uint8_t>(key[i]);
  return logic::herdless_key_hash(bytes, static_cast<uint32_t>(key.size()));
}

TEST(SteerLogic, SessionKeyHashDependsOnTheKeyBytesAndLengthOnly) {
  EXPECT_EQ(key_hash("session1"), key_hash("session1"));
  EXPECT_NE(key_hash("session1"), key_hash("session2"));
  EXPECT_NE(key_hash("abc"), key_hash(std::string("abc\0", 4)));  // the length counts
  // Bytes past the length are ignored (the program zero-fills its buffer; here they differ).
  uint8_t a[HERDLESS_MAX_KEY_BYTES] = {'k', 'e', 'y', 'x'};
  uint8_t b[HERDLESS_MAX_KEY_BYTES] = {'k', 'e', 'y', 'y'};
  EXPECT_EQ(logic::herdless_key_hash(a, 3), logic::herdless_key_hash(b, 3));
}

TEST(SteerLogic, ThousandSessionKeysSpreadOverFourSlots) {
  const std::vector<herdless_slot> slots(4, healthy(0));
  std::vector<int> count(slots.size());
  for (int k = 0; k < 1000; ++k) ++count[affinity_pick(slots, key_hash("key-" + std::to_string(k)))];
  for (size_t s = 0; s < count.size(); ++s) {
    EXPECT_GE(count[s], 150) << "slot " << s;  // 15-35 % each
    EXPECT_LE(count[s], 350) << "slot " << s;
  }
}
