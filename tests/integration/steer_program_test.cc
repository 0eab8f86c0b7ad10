// The steering program in the kernel, driven from a table of fixtures: each case publishes
// slot states (loads, pending connections, heartbeat and accept-progress ages), makes one
// connection, and checks which slot's socket received it. A failing case prints the line of
// the program's exit path that was taken. Runs as root in its own network namespace.
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include "herdless/listener_table.h"
#include "herdless/steering_program.h"
#include "herdless/worker_counters.h"
#include "testutil/netns.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wconversion"
namespace fixture_logic {
inline const herdless_slot* g_slots = nullptr;
#define HERDLESS_SLOT(i) (&fixture_logic::g_slots[(i)])
#include "steer_logic.h"
#undef HERDLESS_SLOT
}  // namespace fixture_logic
#pragma GCC diagnostic pop

namespace herdless {
namespace {

using namespace std::chrono_literals;

struct SlotFixture {
  uint32_t active = 0;
  uint64_t pending = 0;            // steered but not accepted
  int64_t heartbeat_age_ms = 0;    // how old the heartbeat is
  int64_t progress_age_ms = 0;     // how old the last accept progress is
  uint32_t cpu = HERDLESS_NO_CPU;
};

struct Case {
  const char* name;
  SteerMode mode;
  std::vector<SlotFixture> slots;
  int expected_slot;      // -1: any slot, check the reason only
  uint32_t expected_reason;
};

// gtest prints a failing case's parameter with this, not as a hex dump of its bytes.
void PrintTo(const Case& c, std::ostream* out) { *out << '"' << c.name << '"'; }

// "less loaded of two wins (mirror)" -> "LessLoadedOfTwoWinsMirror": a test name gtest accepts.
std::string test_name(const char* words) {
  std::string out;
  bool upper = true;
  for (const char* p = words; *p != '\0'; ++p) {
    const unsigned char ch = static_cast<unsigned char>(*p);
    if (std::isalnum(ch) == 0) {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(ch)) : static_cast<char>(ch);
    upper = false;
  }
  return out;
}

constexpr int64_t kStale = 500;  // ms, well past the 100ms stall threshold

const Case kCases[] = {
    {"less loaded of two wins", SteerMode::least_loaded, {{5, 0, 0, 0}, {1, 0, 0, 0}}, 1, HERDLESS_REASON_LEAST_LOADED},
    {"less loaded of two wins (mirror)", SteerMode::least_loaded, {{1, 0, 0, 0}, {5, 0, 0, 0}}, 0,
     HERDLESS_REASON_LEAST_LOADED},
    {"pending connections count as load", SteerMode::least_loaded, {{1, 6, 0, 0}, {3, 0, 0, 0}}, 1,
     HERDLESS_REASON_LEAST_LOADED},
    {"stalled heartbeat with waiting connections is skipped", SteerMode::least_loaded,
     {{0, 3, kStale, kStale}, {10, 0, 0, 0}}, 1, HERDLESS_REASON_LEAST_LOADED},
    {"stalled accepts (fresh heartbeat) are skipped", SteerMode::least_loaded, {{0, 2, 0, kStale}, {9, 0, 0, 0}}, 1,
     HERDLESS_REASON_LEAST_LOADED},
    {"an old heartbeat with nothing waiting is no stall", SteerMode::least_loaded,
     {{0, 0, kStale, kStale}, {3, 0, 0, 0}}, 0, HERDLESS_REASON_LEAST_LOADED},
    {"the one healthy slot of four", SteerMode::least_loaded,
     {{0, 1, kStale, kStale}, {0, 1, kStale, kStale}, {7, 0, 0, 0}, {0, 1, kStale, kStale}}, 2,
     HERDLESS_REASON_LEAST_LOADED},
    {"every slot stalled falls back to the hash over our slots", SteerMode::least_loaded,
     {{0, 1, kStale, kStale}, {0, 1, kStale, kStale}}, -1, HERDLESS_REASON_FALLBACK_HASH},
    {"cpu: the slot pinned to the receiving CPU (1), however loaded", SteerMode::cpu,
     {{0, 0, 0, 0, 0}, {9, 0, 0, 0, 1}}, 1, HERDLESS_REASON_CPU},
    {"cpu: a stalled pinned slot gives way to least-loaded", SteerMode::cpu,
     {{9, 0, 0, 0, 0}, {0, 4, kStale, kStale, 1}}, 0, HERDLESS_REASON_LEAST_LOADED},
};

class SteerProgramTest : public ::testing::TestWithParam<Case> {};

// Publishes a fixture into the program's slot states.
void publish(SteeringProgram& program, const std::vector<SlotFixture>& slots) {
  const auto now = static_cast<uint64_t>(monotonic_ns());
  for (size_t i = 0; i < slots.size(); ++i) {
    herdless_slot* s = program.slot_state(static_cast<int>(i));
    s->active = slots[i].active;
    s->steered = slots[i].pending;
    s->steered_mark = 0;
    s->accepted_since = 0;
    s->heartbeat_ns = now - static_cast<uint64_t>(slots[i].heartbeat_age_ms) * 1'000'000u;
    s->progress_ns = now - static_cast<uint64_t>(slots[i].progress_age_ms) * 1'000'000u;
    s->cpu = slots[i].cpu;
  }
}

// Connects once and returns the slot whose socket got the connection (-1: none within 2s).
int connect_and_find_slot(const ListenerTable& table) {
  const ListenAddress target = table.bound_addresses().at(0);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(client.get(), target.sockaddr_ptr(), target.length) != 0) return -1;
  const auto fds = table.group_fds(0);
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back(pollfd{fd, POLLIN, 0});
  if (::poll(polls.data(), polls.size(), 2000) <= 0) return -1;
  for (size_t i = 0; i < polls.size(); ++i) {
    if ((polls[i].revents & POLLIN) == 0) continue;
    Fd accepted(::accept4(fds[i], nullptr, nullptr, SOCK_CLOEXEC));
    return static_cast<int>(i);
  }
  return -1;
}

std::string describe(const SteerExit& exit) {
  return "program exited at steer.bpf.c:" + std::to_string(exit.line) + " slot " + std::to_string(exit.slot) +
         " reason " + std::to_string(exit.reason) + " error " + std::to_string(exit.error);
}

TEST_P(SteerProgramTest, SelectsTheExpectedSlot) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const Case& c = GetParam();
  // The SYN of a loopback connection is handled on the sending CPU: pin to CPU 1 so the
  // `cpu` cases know which CPU receives it.
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(1, &set);
  if (c.mode == SteerMode::cpu && ::sched_setaffinity(0, sizeof set, &set) != 0) GTEST_SKIP() << "no CPU 1";
  auto address = parse_listen_url("tcp://127.0.0.1:0");
  auto table = ListenerTable::open({*address}, static_cast<int>(c.slots.size()), 64);
  ASSERT_TRUE(table) << table.error().message();
  auto program = SteeringProgram::attach(c.mode, UdpSteering{}, *table, 100ms);
  ASSERT_TRUE(program) << program.error().message();
  for (int round = 0; round < 20; ++round) {  // random candidates: the outcome must not vary
    publish(**program, c.slots);
    const int slot = connect_and_find_slot(*table);
    const SteerExit exit = (*program)->last_exit();
    ASSERT_EQ(exit.reason, c.expected_reason) << c.name << ": " << describe(exit);
    if (c.expected_slot >= 0) {
      ASSERT_EQ(slot, c.expected_slot) << c.name << ": " << describe(exit);
    }
    ASSERT_GE(slot, 0) << c.name << ": no slot got the connection; " << describe(exit);
    ASSERT_EQ(exit.slot, static_cast<uint32_t>(slot)) << c.name;
  }
  const auto counters = (*program)->counters(static_cast<int>(c.slots.size()), Transport::tcp);
  uint64_t selected = 0;
  for (const auto& n : counters) selected += n.selected;
  EXPECT_EQ(selected, 20u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SteerProgramTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& param) { return test_name(param.param.name); });

// Affinity: the kernel's choice equals the rendezvous hash computed here from the same logic
// (the client address 127.0.0.1 as the key), and moves only when that slot stalls.
TEST(SteerProgramAffinity, KernelAgreesWithTheLogicAndMovesOnlyOnStall) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const int slots = 5;
  auto address = parse_listen_url("tcp://127.0.0.1:0");
  auto table = ListenerTable::open({*address}, slots, 64);
  ASSERT_TRUE(table);
  auto program = SteeringProgram::attach(SteerMode::affinity, UdpSteering{}, *table, 100ms);
  ASSERT_TRUE(program) << program.error().message();
  std::vector<SlotFixture> fixture(slots);
  uint32_t loopback = 0;
  ::inet_pton(AF_INET, "127.0.0.1", &loopback);
  const uint32_t key = fixture_logic::herdless_mix(loopback);

  auto expected_slot = [&](const std::vector<SlotFixture>& f) {
    publish(**program, f);
    fixture_logic::g_slots = (*program)->slot_state(0);
    fixture_logic::herdless_scan scan;
    fixture_logic::herdless_scan_init(&scan, slots, static_cast<uint64_t>(monotonic_ns()), 100'000'000u);
    fixture_logic::herdless_affinity(&scan, key);
    return static_cast<int>(scan.c.slot);
  };
  const int home = expected_slot(fixture);
  for (int round = 0; round < 10; ++round) {
    publish(**program, fixture);
    EXPECT_EQ(connect_and_find_slot(*table), home) << describe((*program)->last_exit());
  }
  fixture[static_cast<size_t>(home)] = SlotFixture{0, 3, kStale, kStale};
  const int moved = expected_slot(fixture);
  ASSERT_NE(moved, home);
  for (int round = 0; round < 10; ++round) {
    publish(**program, fixture);
    EXPECT_EQ(connect_and_find_slot(*table), moved) << describe((*program)->last_exit());
  }
}

// Attaching to a socket that is not in a reuseport group fails with a named error.
TEST(SteerProgramAttach, ForeignListenerCannotJoinSelection) {
  HERDLESS_REQUIRE_BPF_NETNS();
  auto address = parse_listen_url("tcp://127.0.0.1:0");
  auto table = ListenerTable::open({*address}, 2, 64);
  ASSERT_TRUE(table);
  auto program = SteeringProgram::attach(SteerMode::least_loaded, UdpSteering{}, *table, 100ms);
  ASSERT_TRUE(program);
  // A socket of the same user joins the group: the program never selects it.
  const ListenAddress bound = table->bound_addresses().at(0);
  Fd foreign(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const int one = 1;
  ASSERT_EQ(::setsockopt(foreign.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
  ASSERT_EQ(::bind(foreign.get(), bound.sockaddr_ptr(), bound.length), 0);
  ASSERT_EQ(::listen(foreign.get(), 64), 0);
  int ours = 0;
  for (int i = 0; i < 50; ++i) {
    publish(**program, {{0, 0, 0, 0}, {0, 0, 0, 0}});
    if (connect_and_find_slot(*table) >= 0) ++ours;
  }
  EXPECT_EQ(ours, 50);
  EXPECT_EQ(::accept4(foreign.get(), nullptr, nullptr, SOCK_CLOEXEC), -1) << "the foreign socket got a connection";
  EXPECT_EQ(errno, EAGAIN);
}

}  // namespace
}  // namespace herdless
