// Integration: `herdless serve` with eBPF steering, each test in its own network namespace:
// a stopped worker is routed around (and the kernel's hash is shown not to), affinity keeps a
// client address on one worker, a foreign SO_REUSEPORT socket gets nothing, and without BPF
// privileges the server warns once and serves with the hash.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <map>
#include <set>
#include <thread>

#include "herdless/http_get.h"
#include "herdless/load/load_generator.h"
#include "testutil/client.h"
#include "testutil/netns.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

std::vector<std::string> serve_args(const std::string& steer, int workers) {
  return {"serve", "--listen", "tcp://127.0.0.1:0", "--workers", std::to_string(workers), "--admin", "127.0.0.1:0",
          "--steer", steer, "--drain-timeout", "1s", "--message", "worker={worker}\\n"};
}

load::LoadResult short_load(const ListenAddress& target, std::chrono::milliseconds duration) {
  load::LoadOptions options;
  options.target = target;
  options.concurrency = 64;
  options.duration = duration;
  options.timeout = 1000ms;
  return load::run_load(options).value_or(load::LoadResult{});
}

// Connects from `source` (an address of 127.0.0.0/8, any port) and returns the worker.
int worker_from(const ListenAddress& target, const char* source, std::chrono::milliseconds timeout = 2000ms) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return -2;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), target.sockaddr_ptr(), target.length) != 0) return -3;
  auto reply = testutil::read_some(fd.get(), SIZE_MAX);
  return reply ? testutil::worker_of(*reply) : -1;
}

TEST(Steering, LeastLoadedRoutesAroundAStoppedWorkerWhereTheHashCannot) {
  HERDLESS_REQUIRE_BPF_NETNS();
  std::map<std::string, load::LoadResult> results;
  for (const std::string steer : {"least-loaded", "hash"}) {
    ServerProcess server(serve_args(steer, 2));
    ASSERT_TRUE(server.wait_ready()) << server.log();
    ASSERT_EQ(server.stats()["steer"], steer);
    const int stopped = server.worker_pids().at(1);
    ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
    results[steer] = short_load(server.listener(), 1500ms);
    if (steer == "least-loaded") {
      const auto stats = server.stats();
      EXPECT_GT(stats["workers"][1]["steer"]["skipped_stalled"].get<uint64_t>(), 0u);
      EXPECT_EQ(stats["workers"][0]["steer"]["selected"].get<uint64_t>(),
                stats["workers"][0]["accepted"].get<uint64_t>());
    }
    ::kill(stopped, SIGCONT);
  }
  const auto& ll = results["least-loaded"];
  const auto& hash = results["hash"];
  ASSERT_GT(ll.attempted, 1000u);
  // Only the few connections steered before the stall was seen wait on the stopped worker.
  EXPECT_LE(static_cast<double>(ll.timed_out), 0.005 * static_cast<double>(ll.attempted))
      << "timed out " << ll.timed_out << " of " << ll.attempted;
  EXPECT_GT(ll.per_worker.at(0), 100 * (ll.per_worker.count(1) ? ll.per_worker.at(1) : 0) + 1);
  // The hash keeps sending half the connections to the stopped worker: clients hang.
  EXPECT_GT(hash.timed_out, 30u);
  EXPECT_GT(ll.completed, 10 * hash.completed);
}

TEST(Steering, AffinityKeepsAClientAddressOnOneWorkerAndMovesOnlyItsClients) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(serve_args("affinity", 4));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  std::set<int> seen;
  for (int i = 0; i < 300; ++i) seen.insert(worker_from(server.listener(), "127.0.0.2"));
  ASSERT_EQ(seen.size(), 1u);
  const int home = *seen.begin();
  ASSERT_GE(home, 0);
  std::map<std::string, int> others;
  std::set<int> used;
  for (int a = 3; a < 23; ++a) {
    const std::string source = "127.0.0." + std::to_string(a);
    others[source] = worker_from(server.listener(), source.c_str());
    used.insert(others[source]);
  }
  EXPECT_GE(used.size(), 3u) << "20 addresses should spread over the workers";

  const int stopped = server.worker_pids().at(static_cast<size_t>(home));
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  // One connection waits on the stopped worker; past the stall threshold it is skipped.
  EXPECT_EQ(worker_from(server.listener(), "127.0.0.2", 300ms), -1);
  std::this_thread::sleep_for(300ms);
  seen.clear();
  for (int i = 0; i < 100; ++i) seen.insert(worker_from(server.listener(), "127.0.0.2"));
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen.contains(home));
  for (const auto& [source, worker] : others) {
    if (worker != home) {
      EXPECT_EQ(worker_from(server.listener(), source.c_str()), worker) << source << " moved";
    }
  }
  ::kill(stopped, SIGCONT);
}

TEST(Steering, AForeignSocketOnTheSamePortGetsNothing) {
  HERDLESS_REQUIRE_BPF_NETNS();
  for (const std::string steer : {"least-loaded", "hash"}) {
    ServerProcess server(serve_args(steer, 2));
    ASSERT_TRUE(server.wait_ready()) << server.log();
    const ListenAddress target = server.listener();
    Fd foreign(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int one = 1;
    ASSERT_EQ(::setsockopt(foreign.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    ASSERT_EQ(::bind(foreign.get(), target.sockaddr_ptr(), target.length), 0) << "same user may join the group";
    ASSERT_EQ(::listen(foreign.get(), 1024), 0);
    int foreign_got = 0;
    for (int i = 0; i < 300; ++i) {
      auto fd = testutil::connect_to(target, 2000ms);
      ASSERT_TRUE(fd);
      Fd stolen(::accept4(foreign.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (stolen) ++foreign_got;
    }
    if (steer == "least-loaded") {
      EXPECT_EQ(foreign_got, 0) << "the program let a foreign socket have connections";
    } else {
      EXPECT_GT(foreign_got, 30) << "the hash spreads over every socket of the group";
    }
  }
}

TEST(Steering, WithoutBpfPrivilegeItWarnsOnceAndServesWithTheHash) {
  if (auto why = testutil::enter_new_netns(); !why.empty()) GTEST_SKIP() << why;
  ServerProcess server(serve_args("least-loaded", 2), testutil::SpawnOptions{0, true});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("[warning] steering: cannot use the eBPF program"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3) << "one warning, the listen line, the admin line\n" << log;
  EXPECT_EQ(server.stats()["steer"], "hash");
  std::set<int> seen;
  for (int i = 0; i < 200 && seen.size() < 2; ++i) seen.insert(testutil::worker_of(testutil::fetch(server.listener()).value_or("")));
  EXPECT_EQ(seen, (std::set<int>{0, 1}));
}

TEST(Steering, CountersAreExportedAsMetrics) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(serve_args("least-loaded", 2));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(testutil::fetch(server.listener()));
  const auto stats = server.stats();
  const uint64_t selected = stats["workers"][0]["steer"]["selected"].get<uint64_t>() +
                            stats["workers"][1]["steer"]["selected"].get<uint64_t>();
  EXPECT_EQ(selected, 50u);
  auto metrics = http_get(server.admin(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("herdless_steer_selected_total{worker=\"0\"}"), std::string::npos);
  EXPECT_NE(metrics->find("herdless_steer_info{policy=\"least-loaded\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace herdless
