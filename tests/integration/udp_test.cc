// Integration: `herdless serve` on udp:// listens. Which worker answered is read from each
// reply ("worker={worker}") and checked against /stats: the kernel's hash spreads clients,
// session steering (eBPF, own network namespace) keeps a key on one worker whatever the
// client's port, through a reload, a restart and a stopped worker; short datagrams fall back
// to their flow; oversized datagrams and kernel drops are counted, nothing is lost silently.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <map>
#include <set>
#include <thread>

#include "testutil/client.h"
#include "testutil/netns.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;
using testutil::udp_exchange;
using testutil::udp_receive;
using testutil::udp_socket_to;
using testutil::udp_worker_of;

std::vector<std::string> udp_args(int workers, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"serve",   "--listen",  "udp://127.0.0.1:0", "--workers", std::to_string(workers),
                                   "--admin", "127.0.0.1:0", "--message",       "worker={worker}"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// An 8-byte session key at the start of the datagram, then a payload.
std::string keyed(int key, const std::string& payload = "|payload") {
  char head[16];
  std::snprintf(head, sizeof head, "k%07d", key);
  return std::string(head, 8) + payload;
}

// Workers by slot from /stats, each with its datagram counters.
uint64_t udp_counter(const nlohmann::json& stats, int worker, const char* name) {
  return stats["workers"][static_cast<size_t>(worker)]["udp"][name].get<uint64_t>();
}

uint64_t session_counter(const nlohmann::json& stats, int worker, const char* name) {
  return stats["workers"][static_cast<size_t>(worker)]["udp"]["steer"][name].get<uint64_t>();
}

// /stats once the workers have counted `datagrams` received in all (a worker counts a batch
// after sending its replies, so a client can hear its reply before /stats shows it).
nlohmann::json stats_after(const ServerProcess& server, uint64_t datagrams) {
  nlohmann::json stats;
  for (int i = 0; i < 100; ++i) {
    stats = server.stats();
    uint64_t in = 0;
    for (size_t w = 0; w < stats["workers"].size(); ++w) in += udp_counter(stats, static_cast<int>(w), "datagrams_in");
    if (in >= datagrams) break;
    std::this_thread::sleep_for(20ms);
  }
  return stats;
}

void expect_shares(const std::map<int, int>& count, int total, int workers) {
  ASSERT_EQ(count.size(), static_cast<size_t>(workers));
  for (const auto& [worker, n] : count) {
    const double share = static_cast<double>(n) / total;
    EXPECT_GE(share, 0.15) << "worker " << worker << " got " << n << " of " << total;
    EXPECT_LE(share, 0.35) << "worker " << worker << " got " << n << " of " << total;
  }
}

// Waits until every slot's worker pid differs from `before` (a new generation or restart).
bool wait_new_pids(const ServerProcess& server, const std::vector<int>& before, std::set<size_t> slots) {
  for (int i = 0; i < 100; ++i) {
    const auto pids = server.worker_pids();
    bool all = pids.size() == before.size();
    for (size_t s : slots) all = all && s < pids.size() && pids[s] > 0 && pids[s] != before[s];
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

TEST(Udp, TheKernelHashSpreadsAThousandClientsOverFourWorkers) {
  ServerProcess server(udp_args(4));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_EQ(server.listener().transport, Transport::udp);
  std::map<int, int> count;
  for (int client = 0; client < 1000; ++client) {  // each from its own socket: its own port
    auto worker = udp_worker_of(server.listener(), "hello");
    ASSERT_TRUE(worker.has_value()) << "client " << client << ": " << worker.error().message();
    ASSERT_GE(*worker, 0);
    ++count[*worker];
  }
  expect_shares(count, 1000, 4);
  const nlohmann::json stats = stats_after(server, 1000);
  EXPECT_EQ(stats["udp_steer"], "hash");
  for (const auto& [worker, n] : count) {
    EXPECT_EQ(udp_counter(stats, worker, "datagrams_in"), static_cast<uint64_t>(n)) << "worker " << worker;
    EXPECT_EQ(udp_counter(stats, worker, "datagrams_out"), static_cast<uint64_t>(n)) << "worker " << worker;
    EXPECT_EQ(stats["workers"][static_cast<size_t>(worker)]["accepted"], 0);  // no connections
  }
  // `herdless stats` prints the same in its UDP table.
  const auto table = testutil::run_herdless({"stats", "--admin", server.admin().host_port()});
  EXPECT_EQ(table.exit_code, 0) << table.stderr_text;
  EXPECT_NE(table.stdout_text.find("udp steer hash"), std::string::npos) << table.stdout_text;
  EXPECT_NE(table.stdout_text.find("total datagrams in 1000\n"), std::string::npos) << table.stdout_text;
}

TEST(Udp, UdpAndTcpListensServeSideBySideOnIpv4AndIpv6) {
  ServerProcess server({"serve", "--listen", "udp://[::1]:0", "--listen", "tcp://127.0.0.1:0", "--listen",
                        "udp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0", "--message",
                        "worker={worker}"});
  ASSERT_TRUE(server.wait_ready(3)) << server.log();
  ASSERT_EQ(server.listeners().size(), 3u);
  EXPECT_EQ(server.listeners()[0].url().rfind("udp://[::1]:", 0), 0u);
  for (size_t i : {size_t{0}, size_t{2}}) {
    auto worker = udp_worker_of(server.listeners()[i], "x");
    ASSERT_TRUE(worker.has_value()) << server.listeners()[i].url() << ": " << worker.error().message();
    EXPECT_GE(*worker, 0);
  }
  auto reply = testutil::fetch(server.listeners()[1]);
  ASSERT_TRUE(reply.has_value()) << reply.error().message();
  EXPECT_GE(testutil::worker_of(*reply), 0);
}

TEST(Udp, EchoReturnsDatagramsIntactAndCountsOversizedOnes) {
  ServerProcess server(udp_args(1, {"--service", "echo", "--udp-max-datagram", "512"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto client = udp_socket_to(server.listener(), 300ms);
  ASSERT_TRUE(client);
  std::string binary(512, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(255 - i % 251);
  EXPECT_EQ(udp_exchange(client->get(), binary).value_or("<none>"), binary);
  EXPECT_EQ(udp_exchange(client->get(), "").value_or("<none>"), "");
  EXPECT_FALSE(udp_exchange(client->get(), std::string(513, 'o')).has_value());  // over the limit: no reply
  const nlohmann::json stats = stats_after(server, 3);
  EXPECT_EQ(udp_counter(stats, 0, "datagrams_in"), 3u);
  EXPECT_EQ(udp_counter(stats, 0, "datagrams_out"), 2u);
  EXPECT_EQ(udp_counter(stats, 0, "truncated"), 1u);
}

TEST(Udp, WhatAFullReceiveBufferDropsIsCountedExactly) {
  ServerProcess server(udp_args(1, {"--service", "echo"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const int worker = server.worker_pids().at(0);
  auto client = udp_socket_to(server.listener());
  ASSERT_TRUE(client);
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);
  constexpr uint64_t kSent = 5000;  // ~5 MB against a default receive buffer of ~200 kB
  const std::string datagram(1000, 'f');
  for (uint64_t i = 0; i < kSent; ++i) ASSERT_EQ(::send(client->get(), datagram.data(), datagram.size(), 0), 1000);
  ::kill(worker, SIGCONT);
  uint64_t in = 0;
  uint64_t dropped = 0;
  for (int i = 0; i < 100 && in + dropped < kSent; ++i) {
    std::this_thread::sleep_for(50ms);
    const nlohmann::json stats = server.stats();
    in = udp_counter(stats, 0, "datagrams_in");
    dropped = udp_counter(stats, 0, "rx_dropped");
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(in, 0u);
  EXPECT_EQ(in + dropped, kSent) << "served " << in << ", dropped " << dropped;
}

TEST(Udp, SharedSocketStrategiesTurnSessionSteeringOffToo) {
  // One socket shared by every worker: no slot is a worker's own, so no program may steer.
  ServerProcess server(udp_args(2, {"--accept", "shared", "--udp-session-key", "0:8"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  EXPECT_EQ(server.stats()["udp_steer"], "hash");
  EXPECT_NE(server.log().find("no steering"), std::string::npos) << server.log();
  int served = 0;
  for (int key = 0; key < 20; ++key) served += udp_worker_of(server.listener(), keyed(key)).value_or(-1) >= 0;
  EXPECT_EQ(served, 20);
}

// --- session steering (eBPF) ---------------------------------------------------------------

TEST(UdpSession, OneKeyFromTwoHundredPortsReachesOneWorkerAndThousandKeysSpread) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(udp_args(4, {"--udp-session-key", "0:8"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  std::set<int> workers_of_one_key;
  for (int port = 0; port < 200; ++port) {
    auto worker = udp_worker_of(server.listener(), keyed(42, "|from port " + std::to_string(port)));
    ASSERT_TRUE(worker.has_value()) << worker.error().message();
    workers_of_one_key.insert(*worker);
  }
  EXPECT_EQ(workers_of_one_key.size(), 1u);
  std::map<int, int> count;
  auto client = udp_socket_to(server.listener());  // one port, many keys
  ASSERT_TRUE(client);
  for (int key = 0; key < 1000; ++key) {
    auto reply = udp_exchange(client->get(), keyed(key));
    ASSERT_TRUE(reply.has_value()) << "key " << key << ": " << reply.error().message();
    ++count[testutil::worker_of(*reply)];
  }
  expect_shares(count, 1000, 4);
  const nlohmann::json stats = stats_after(server, 1200);
  EXPECT_EQ(stats["udp_steer"], "session");
  const int home = *workers_of_one_key.begin();
  for (int w = 0; w < 4; ++w) {
    const uint64_t expected = static_cast<uint64_t>(count[w] + (w == home ? 200 : 0));
    EXPECT_EQ(session_counter(stats, w, "selected"), expected) << "worker " << w;
    EXPECT_EQ(udp_counter(stats, w, "datagrams_in"), expected) << "worker " << w;
    EXPECT_EQ(session_counter(stats, w, "short_key"), 0u);
  }
}

TEST(UdpSession, DatagramsTooShortForTheKeyFollowTheirFlowAndAreCounted) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(udp_args(4, {"--udp-session-key", "4:8"}));  // needs 12 bytes
  ASSERT_TRUE(server.wait_ready()) << server.log();
  std::set<int> seen;
  for (int flow = 0; flow < 50; ++flow) {
    auto client = udp_socket_to(server.listener());
    ASSERT_TRUE(client);
    std::set<int> workers;
    for (int i = 0; i < 3; ++i) {
      auto reply = udp_exchange(client->get(), "short-" + std::to_string(i));  // 7 bytes
      ASSERT_TRUE(reply.has_value()) << reply.error().message();
      workers.insert(testutil::worker_of(*reply));
    }
    EXPECT_EQ(workers.size(), 1u) << "flow " << flow << " moved";
    seen.insert(*workers.begin());
  }
  EXPECT_GT(seen.size(), 1u);  // flows, not one fixed worker
  const nlohmann::json stats = stats_after(server, 150);
  uint64_t short_keys = 0;
  for (int w = 0; w < 4; ++w) short_keys += session_counter(stats, w, "short_key");
  EXPECT_EQ(short_keys, 150u);
}

TEST(UdpSession, KeysKeepTheirWorkerThroughAReloadARestartAndAnUpgrade) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(udp_args(4, {"--udp-session-key", "0:8", "--drain-timeout", "1s"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto map_keys = [&] {
    std::vector<int> home;
    for (int key = 0; key < 40; ++key) home.push_back(udp_worker_of(server.listener(), keyed(key)).value_or(-1));
    return home;
  };
  const std::vector<int> before = map_keys();
  ASSERT_EQ(std::count(before.begin(), before.end(), -1), 0);

  const std::vector<int> first = server.worker_pids();
  server.signal(SIGHUP);
  ASSERT_TRUE(wait_new_pids(server, first, {0, 1, 2, 3})) << server.log();
  EXPECT_EQ(map_keys(), before) << "after the reload";

  const std::vector<int> second = server.worker_pids();
  const size_t victim = static_cast<size_t>(before.at(0));
  ASSERT_EQ(::kill(second.at(victim), SIGKILL), 0);
  ASSERT_TRUE(wait_new_pids(server, second, {victim})) << server.log();
  EXPECT_EQ(map_keys(), before) << "after worker " << victim << " restarted";

  // A binary upgrade: the new supervisor adopts the sockets and the program's maps.
  const std::vector<int> third = server.worker_pids();
  server.signal(SIGUSR2);
  ASSERT_TRUE(wait_new_pids(server, third, {0, 1, 2, 3})) << server.log();
  EXPECT_EQ(map_keys(), before) << "after the upgrade";
}

TEST(UdpSession, AStoppedWorkersKeysMoveWhileItIsStoppedAndNothingIsLost) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(udp_args(2, {"--udp-session-key", "0:8", "--stall-threshold", "100ms"}));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string request = keyed(7);
  auto home = udp_worker_of(server.listener(), request);
  ASSERT_TRUE(home.has_value() && *home >= 0);
  const int stopped_pid = server.worker_pids().at(static_cast<size_t>(*home));
  ASSERT_EQ(::kill(stopped_pid, SIGSTOP), 0);

  auto waiting = udp_socket_to(server.listener(), 3000ms);
  ASSERT_TRUE(waiting);
  ASSERT_EQ(::send(waiting->get(), request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::this_thread::sleep_for(300ms);  // the queued datagram and an old heartbeat: stalled
  auto moved = udp_worker_of(server.listener(), request);
  ASSERT_TRUE(moved.has_value()) << moved.error().message();
  EXPECT_EQ(*moved, 1 - *home);

  ::kill(stopped_pid, SIGCONT);
  auto late = udp_receive(waiting->get());  // the queued one is answered once the worker runs
  ASSERT_TRUE(late.has_value()) << late.error().message();
  EXPECT_EQ(testutil::worker_of(*late), *home);
  EXPECT_GT(session_counter(server.stats(), *home, "skipped_stalled"), 0u);
  int back = -1;
  for (int i = 0; i < 40 && back != *home; ++i) {  // healthy again: the key comes home
    std::this_thread::sleep_for(50ms);
    back = udp_worker_of(server.listener(), request).value_or(-1);
  }
  EXPECT_EQ(back, *home);
}


// TCP and UDP steered side by side share the slot's state: datagrams a worker keeps serving
// must not hide connections waiting in its accept queue (here: it is at --max-conns).
TEST(UdpSession, DatagramsDoNotHideAWorkersWaitingConnections) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", "--workers", "2",
                        "--admin", "127.0.0.1:0", "--service", "echo", "--steer", "affinity", "--max-conns", "1",
                        "--udp-session-key", "0:8", "--stall-threshold", "100ms"});
  ASSERT_TRUE(server.wait_ready(2)) << server.log();
  const ListenAddress& tcp = server.listeners().at(0);
  const ListenAddress& udp = server.listeners().at(1);
  auto echoed = [](int fd, const std::string& text) {
    if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) return false;
    auto reply = testutil::read_some(fd, text.size());
    return reply.has_value() && *reply == text;
  };
  auto first = testutil::connect_to(tcp);  // affinity: every connection from 127.0.0.1 goes to one worker
  ASSERT_TRUE(first && echoed(first->get(), "a"));
  int busy = -1;
  const nlohmann::json before = server.stats();
  for (int w = 0; w < 2; ++w) {
    if (before["workers"][static_cast<size_t>(w)]["active"] == 1) busy = w;
  }
  ASSERT_GE(busy, 0) << before.dump();
  // A session key of the busy worker: its datagrams keep being served there.
  std::string key;
  auto datagrams = udp_socket_to(udp);
  ASSERT_TRUE(datagrams);
  for (int k = 0; k < 200 && key.empty(); ++k) {
    const uint64_t in = udp_counter(server.stats(), busy, "datagrams_in");
    ASSERT_TRUE(udp_exchange(datagrams->get(), keyed(k)).has_value());
    for (int i = 0; i < 20 && udp_counter(server.stats(), busy, "datagrams_in") == in; ++i) std::this_thread::sleep_for(5ms);
    if (udp_counter(server.stats(), busy, "datagrams_in") > in) key = keyed(k);
  }
  ASSERT_FALSE(key.empty());
  auto queued = testutil::connect_to(tcp);  // waits in the busy worker's queue (max-conns 1)
  ASSERT_TRUE(queued);
  for (int i = 0; i < 6; ++i) {  // 300 ms of datagrams served by the busy worker
    ASSERT_TRUE(udp_exchange(datagrams->get(), key).has_value());
    std::this_thread::sleep_for(50ms);
  }
  auto third = testutil::connect_to(tcp);  // must go to the other worker and be served
  ASSERT_TRUE(third);
  EXPECT_TRUE(echoed(third->get(), "c")) << server.stats().dump();
  EXPECT_EQ(server.stats()["workers"][static_cast<size_t>(1 - busy)]["accepted"], 1);
}

}  // namespace
}  // namespace herdless
