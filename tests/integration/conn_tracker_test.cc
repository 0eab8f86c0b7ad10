// ConnTracker in the kernel: connections steered by the program (least-loaded, tracking on)
// to known slots are counted as established there, as closed when the server side finishes
// them, and follow a migration from a shut-down listener. Each test runs as root in its own
// network namespace; the counts are compared with what the accept side saw, slot by slot.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <bpf/bpf.h>

#include "herdless/conn_tracker.h"
#include "herdless/listener_table.h"
#include "herdless/steering_program.h"
#include "herdless/worker_counters.h"
#include "testutil/netns.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;

const ConnTracker* g_tracker = nullptr;  // the current test's, for failure messages

// Polls `done` every 5ms for up to 3s; true when it held.
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string describe(const std::vector<ConnTracker::SlotConns>& counts) {
  std::string out = g_tracker ? " lost " + std::to_string(g_tracker->lost()) + ";" : std::string();
  for (size_t i = 0; i < counts.size(); ++i) {
    out += " slot " + std::to_string(i) + ": established " + std::to_string(counts[i].established) + " closed " +
           std::to_string(counts[i].closed) + " (in " + std::to_string(counts[i].migrated_in) + ", out " +
           std::to_string(counts[i].migrated_out) + ");";
  }
  return out;
}

uint64_t total_established(const ConnTracker& tracker, int slots) {
  uint64_t n = 0;
  for (const auto& c : tracker.read(slots)) n += c.established;
  return n;
}

// Connects `count` clients (blocking connect: the handshake is complete on return).
std::vector<Fd> connect_clients(const ListenAddress& target, int count) {
  std::vector<Fd> clients;
  for (int i = 0; i < count; ++i) {
    Fd client(::socket(target.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(client.get(), target.sockaddr_ptr(), target.length) != 0) break;
    clients.push_back(std::move(client));
  }
  return clients;
}

// Accepts everything queued on a listener (non-blocking), waiting up to 1s for `expected`.
std::vector<Fd> accept_all(int listener, size_t expected) {
  std::vector<Fd> accepted;
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  while (true) {
    Fd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (fd) {
      accepted.push_back(std::move(fd));
      continue;
    }
    if (accepted.size() >= expected || std::chrono::steady_clock::now() > deadline) break;
    pollfd p{listener, POLLIN, 0};
    ::poll(&p, 1, 10);
  }
  return accepted;
}

struct Tracked {
  ListenerTable table;
  std::unique_ptr<ConnTracker> tracker;
  std::unique_ptr<SteeringProgram> program;
  ~Tracked() { g_tracker = nullptr; }
};

// Listeners on `url` with `slots` slots, a tracker, and least-loaded steering that tracks.
std::string set_up(Tracked& t, const char* url, int slots) {
  auto address = parse_listen_url(url);
  if (!address) return "parse " + std::string(url);
  auto table = ListenerTable::open({*address}, slots, 128);
  if (!table) return table.error().message();
  t.table = std::move(*table);
  auto tracker = ConnTracker::attach();
  if (!tracker) return tracker.error().message();
  t.tracker = std::move(*tracker);
  g_tracker = t.tracker.get();
  auto program = SteeringProgram::attach(SteerMode::least_loaded, UdpSteering{}, t.table, 100ms, nullptr,
                                         t.tracker.get());
  if (!program) return program.error().message();
  t.program = std::move(*program);
  // Fresh heartbeats: nobody is stalled.
  for (int i = 0; i < slots; ++i) {
    herdless_slot* s = t.program->slot_state(i);
    s->heartbeat_ns = s->progress_ns = static_cast<uint64_t>(monotonic_ns()) + 3'600'000'000'000u;
  }
  return {};
}

class ConnTrackerCounts : public ::testing::TestWithParam<const char*> {};

// Three slots, slot 1 out of selection: connections land on slots 0 and 2 only. Each slot's
// established count equals what was queued on (then accepted from) its listener; server-side
// finishes of every kind are counted once on the right slot; a client's close alone is not.
TEST_P(ConnTrackerCounts, EstablishedAndClosedPerSlotMatchTheAcceptSide) {
  HERDLESS_REQUIRE_BPF_NETNS();
  constexpr int kSlots = 3;
  constexpr int kClients = 24;
  Tracked t;
  const std::string failed = set_up(t, GetParam(), kSlots);
  ASSERT_TRUE(failed.empty()) << failed;
  ASSERT_TRUE(t.program->tracks_connections());
  t.program->set_excluded(1, true);

  std::vector<Fd> clients = connect_clients(t.table.bound_addresses().at(0), kClients);
  ASSERT_EQ(clients.size(), static_cast<size_t>(kClients));
  ASSERT_TRUE(eventually([&] { return total_established(*t.tracker, kSlots) == kClients; }))
      << describe(t.tracker->read(kSlots));

  // Queued (TCP_INFO) and counted agree per slot before anything is accepted.
  auto counts = t.tracker->read(kSlots);
  for (int s = 0; s < kSlots; ++s) {
    EXPECT_EQ(counts[static_cast<size_t>(s)].established, t.table.queued(s)) << "slot " << s << describe(counts);
    EXPECT_EQ(counts[static_cast<size_t>(s)].closed, 0u) << describe(counts);
  }
  EXPECT_EQ(counts[1].established, 0u) << "an excluded slot got connections:" << describe(counts);

  std::vector<std::vector<Fd>> accepted(kSlots);
  size_t total = 0;
  for (int s = 0; s < kSlots; ++s) {
    accepted[static_cast<size_t>(s)] =
        accept_all(t.table.group_fds(0).at(static_cast<size_t>(s)), counts[static_cast<size_t>(s)].established);
    EXPECT_EQ(accepted[static_cast<size_t>(s)].size(), counts[static_cast<size_t>(s)].established) << "slot " << s;
    total += accepted[static_cast<size_t>(s)].size();
  }
  ASSERT_EQ(total, static_cast<size_t>(kClients));
  ASSERT_GE(accepted[0].size(), 4u) << "least-loaded should spread over slots 0 and 2" << describe(counts);
  ASSERT_GE(accepted[2].size(), 4u) << describe(counts);

  // Clients close one connection of slot 0: CLOSE_WAIT on the server, not finished yet.
  // (Which client is which accepted socket does not matter: close the client of a known
  // server socket by reading its peer port.)
  auto client_of = [&](const Fd& server) -> Fd& {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    ::getpeername(server.get(), reinterpret_cast<sockaddr*>(&peer), &length);
    for (Fd& c : clients) {
      sockaddr_storage local{};
      socklen_t l = sizeof local;
      ::getsockname(c.get(), reinterpret_cast<sockaddr*>(&local), &l);
      if (l == length && std::memcmp(&local, &peer, length) == 0) return c;
    }
    static Fd none;
    return none;
  };
  Fd& half_closed_client = client_of(accepted[0][0]);
  ASSERT_TRUE(half_closed_client);
  half_closed_client.reset();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(t.tracker->read(kSlots)[0].closed, 0u) << "a client's FIN alone counted as a server finish";

  // Server side on slot 0: close after the client's FIN (LAST_ACK), close first (FIN_WAIT1),
  // shutdown(SHUT_WR) then close (counted once). Slot 2: a client reset (CLOSE), then the
  // server's close of that socket (no second count), and one plain close.
  accepted[0][0].reset();
  accepted[0][1].reset();
  ::shutdown(accepted[0][2].get(), SHUT_WR);
  Fd& reset_client = client_of(accepted[2][0]);
  ASSERT_TRUE(reset_client);
  const linger abort{1, 0};
  ::setsockopt(reset_client.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  reset_client.reset();
  accepted[2][1].reset();
  ASSERT_TRUE(eventually([&] {
    const auto c = t.tracker->read(kSlots);
    return c[0].closed == 3 && c[2].closed == 2;
  })) << describe(t.tracker->read(kSlots));
  accepted[0][2].reset();  // already shut down
  accepted[2][0].reset();  // already reset
  std::this_thread::sleep_for(50ms);
  counts = t.tracker->read(kSlots);
  EXPECT_EQ(counts[0].closed, 3u) << describe(counts);
  EXPECT_EQ(counts[2].closed, 2u) << describe(counts);
  EXPECT_EQ(counts[1].established + counts[1].closed, 0u) << describe(counts);
  EXPECT_EQ(counts[0].open() + counts[2].open(), static_cast<uint64_t>(kClients) - 5) << describe(counts);

  // Everything closed: open is 0 everywhere, nothing lost.
  accepted.clear();
  clients.clear();
  ASSERT_TRUE(eventually([&] {
    for (const auto& c : t.tracker->read(kSlots)) {
      if (c.open() != 0) return false;
    }
    return true;
  })) << describe(t.tracker->read(kSlots));
  // Ours: every handshake found room. (lost() also counts runs the kernel skipped for any socket
  // of the machine, e.g. a parallel test's traffic: the exact counts above are what show that
  // none of ours was missed.)
  EXPECT_EQ(t.tracker->untracked(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, ConnTrackerCounts, ::testing::Values("tcp://127.0.0.1:0", "tcp://[::1]:0"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return param.index == 0 ? std::string("ipv4") : std::string("ipv6");
                         });

// A listener shut down with established connections in its queue: they migrate through the
// program to the other slot, and their counts move with them (out of slot 0, into slot 1),
// so each slot's open count stays what its listener holds.
TEST(ConnTrackerMigration, QueuedConnectionsCountOnTheSlotThatAcceptsThem) {
  HERDLESS_REQUIRE_BPF_NETNS();
  constexpr int kSlots = 2;
  constexpr int kClients = 6;
  Tracked t;
  const std::string failed = set_up(t, "tcp://127.0.0.1:0", kSlots);
  ASSERT_TRUE(failed.empty()) << failed;
  t.program->set_excluded(1, true);  // everything to slot 0 first
  std::vector<Fd> clients = connect_clients(t.table.bound_addresses().at(0), kClients);
  ASSERT_EQ(clients.size(), static_cast<size_t>(kClients));
  ASSERT_TRUE(eventually([&] { return t.tracker->read(kSlots)[0].established == kClients; }))
      << describe(t.tracker->read(kSlots));
  ASSERT_EQ(t.table.queued(0), static_cast<uint32_t>(kClients));

  // Slot 0 leaves selection and its listener is shut down: the kernel migrates its queue.
  t.program->set_excluded(1, false);
  t.program->set_excluded(0, true);
  ASSERT_EQ(::shutdown(t.table.group_fds(0).at(0), SHUT_RDWR), 0);
  std::vector<Fd> accepted = accept_all(t.table.group_fds(0).at(1), kClients);
  ASSERT_EQ(accepted.size(), static_cast<size_t>(kClients)) << "the queue did not migrate to slot 1";

  auto counts = t.tracker->read(kSlots);
  EXPECT_EQ(counts[0].established, static_cast<uint64_t>(kClients)) << describe(counts);
  EXPECT_EQ(counts[0].closed, static_cast<uint64_t>(kClients)) << describe(counts);
  EXPECT_EQ(counts[0].migrated_out, static_cast<uint64_t>(kClients)) << describe(counts);
  EXPECT_EQ(counts[1].established, static_cast<uint64_t>(kClients)) << describe(counts);
  EXPECT_EQ(counts[1].migrated_in, static_cast<uint64_t>(kClients)) << describe(counts);
  EXPECT_EQ(counts[1].closed, 0u) << describe(counts);

  // Closing them on slot 1 counts there.
  accepted.resize(2);
  ASSERT_TRUE(eventually([&] { return t.tracker->read(kSlots)[1].closed == kClients - 2; }))
      << describe(t.tracker->read(kSlots));
  EXPECT_EQ(t.tracker->read(kSlots)[1].open(), 2u);
  EXPECT_EQ(t.tracker->read(kSlots)[0].open(), 0u);
}

// Without tracking on the steering program, the tracker counts nothing: only flows the
// program recorded are counted (other sockets on the host, clients, other groups are not).
TEST(ConnTrackerScope, FlowsNotSteeredByATrackingProgramAreNotCounted) {
  HERDLESS_REQUIRE_BPF_NETNS();
  auto address = parse_listen_url("tcp://127.0.0.1:0");
  auto table = ListenerTable::open({*address}, 2, 64);
  ASSERT_TRUE(table) << table.error().message();
  auto tracker = ConnTracker::attach();
  ASSERT_TRUE(tracker) << tracker.error().message();
  auto program = SteeringProgram::attach(SteerMode::least_loaded, UdpSteering{}, *table, 100ms);
  ASSERT_TRUE(program) << program.error().message();
  EXPECT_FALSE((*program)->tracks_connections());
  std::vector<Fd> clients = connect_clients(table->bound_addresses().at(0), 4);
  ASSERT_EQ(clients.size(), 4u);
  ASSERT_TRUE(eventually([&] { return table->queued(0) + table->queued(1) == 4; }));
  std::vector<Fd> accepted = accept_all(table->group_fds(0).at(0), table->queued(0));
  accepted.clear();
  std::this_thread::sleep_for(50ms);
  const auto counts = (*tracker)->read(2);
  for (const auto& c : counts) EXPECT_EQ(c.established + c.closed, 0u) << describe(counts);
}

}  // namespace
}  // namespace herdless

namespace herdless {
namespace {

// Not a test: the per-connection cost of tracking (run with --gtest_also_run_disabled_tests
// --gtest_filter='*ConnTrackerCost*'). One thread connects, accepts, closes (server first,
// then the client with a reset, so no TIME_WAIT piles up) through two steered listeners;
// rounds alternate between steering alone, steering + tracker with tracking on, and the
// tracker attached while the program does not track (its cost on unrelated connections).
TEST(ConnTrackerCost, DISABLED_ConnectionsPerSecondWithAndWithoutTracking) {
  HERDLESS_REQUIRE_BPF_NETNS();
  constexpr int kConnections = 20000;
  constexpr int kRounds = 7;
  const linger abort{1, 0};
  auto run = [&](int mode) {  // 0: steering only, 1: tracking, 2: tracker attached, not tracking
    // Fresh listeners each round: a socket belongs to one sockarray for good.
    auto address = parse_listen_url("tcp://127.0.0.1:0");
    auto table = ListenerTable::open({*address}, 2, 1024);
    EXPECT_TRUE(table);
    const ListenAddress target = table->bound_addresses().at(0);
    const auto fds = table->group_fds(0);
    std::unique_ptr<ConnTracker> tracker;
    if (mode != 0) tracker = std::move(*ConnTracker::attach());
    auto program = SteeringProgram::attach(SteerMode::least_loaded, UdpSteering{}, *table, 100ms, nullptr,
                                           mode == 1 ? tracker.get() : nullptr);
    EXPECT_TRUE(program);
    for (int i = 0; i < 2; ++i) (*program)->slot_state(i)->heartbeat_ns = ~uint64_t{0} >> 1;
    for (int i = 0; i < 2; ++i) (*program)->slot_state(i)->progress_ns = ~uint64_t{0} >> 1;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kConnections; ++i) {
      Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (::connect(client.get(), target.sockaddr_ptr(), target.length) != 0) return 0.0;
      Fd server;
      while (!server) {
        for (int fd : fds) {
          server.reset(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
          if (server) break;
        }
      }
      server.reset();
      ::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The kernel's own accounting of the programs' run time (bpf_enable_stats below).
    for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
      Fd prog(bpf_prog_get_fd_by_id(id));
      bpf_prog_info info{};
      uint32_t length = sizeof info;
      if (!prog || bpf_obj_get_info_by_fd(prog.get(), &info, &length) != 0 || info.run_cnt == 0) continue;
      const std::string name = info.name;
      if (name != "herdless_steer" && name != "herdless_conn_s") continue;
      if (mode == 2 && name == "herdless_steer") continue;
      std::printf("  mode %d %-16s %5.2f runs/conn %6.0f ns/run %6.0f ns/conn\n", mode, name.c_str(),
                  static_cast<double>(info.run_cnt) / kConnections,
                  static_cast<double>(info.run_time_ns) / static_cast<double>(info.run_cnt),
                  static_cast<double>(info.run_time_ns) / kConnections);
    }
    if (mode == 1) {
      const auto counts = tracker->read(2);
      EXPECT_EQ(counts[0].established + counts[1].established, static_cast<uint64_t>(kConnections));
      EXPECT_EQ(counts[0].open() + counts[1].open(), 0u);
    }
    return kConnections / seconds;
  };
  Fd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
  std::vector<double> rates[3];
  run(0);  // warm-up
  for (int round = 0; round < kRounds; ++round) {
    for (int mode = 0; mode < 3; ++mode) rates[mode].push_back(run(mode));
  }
  const char* names[3] = {"steering only", "steering + tracking", "tracker attached, not tracking"};
  for (int mode = 0; mode < 3; ++mode) {
    std::sort(rates[mode].begin(), rates[mode].end());
    const double median = rates[mode][kRounds / 2];
    std::printf("%-32s median %8.0f conn/s  (%.2f us/conn)  min %.0f max %.0f\n", names[mode], median,
                1e6 / median, rates[mode].front(), rates[mode].back());
  }
}

}  // namespace
}  // namespace herdless
