// Integration: restart after kill -9 under load, graceful stop and drain, SIGHUP reload
// under load, crash-loop backoff. Each test proves which worker served what.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <future>
#include <thread>

#include "herdless/load/load_generator.h"
#include "testutil/client.h"
#include "testutil/load.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;
using testutil::start_load;

// Polls /stats until `slot` has a live pid other than `old_pid`; returns how long it took.
std::optional<std::chrono::milliseconds> wait_replaced(const ServerProcess& server, size_t slot, int old_pid,
                                                       std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < timeout) {
    const auto s = server.stats();
    if (s.is_object() && s["workers"].size() > slot) {
      const auto& w = s["workers"][slot];
      if (w["pid"].get<int>() != 0 && w["pid"].get<int>() != old_pid && w["heartbeat_age_ms"].get<int64_t>() < 100) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      }
    }
    std::this_thread::sleep_for(5ms);
  }
  return std::nullopt;
}

std::string write_config(const std::string& path, const std::string& message, int workers) {
  std::ofstream(path) << "listen = \"tcp://127.0.0.1:0\"\nworkers = " << workers << "\nmessage = \"" << message
                      << "\"\nadmin = \"127.0.0.1:0\"\n";
  return path;
}

TEST(Lifecycle, KillNineUnderLoadLosesNothingAndSlotIsServedAgainWithinOneSecond) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "4", "--admin", "127.0.0.1:0",
                        "--message", "worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const int victim = server.worker_pids().at(1);
  auto load = start_load(server.listener(), 2500ms);
  std::this_thread::sleep_for(800ms);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto took = wait_replaced(server, 1, victim, 1000ms);
  ASSERT_TRUE(took.has_value()) << "slot 1 not served again within 1s\n" << server.log();
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u) << "timed out " << result.timed_out << ", refused " << result.refused << ", reset "
                               << result.reset;
  const auto stats = server.stats();
  EXPECT_EQ(stats["workers"][1]["restarts"].get<int>(), 1);
  EXPECT_EQ(stats["workers"][0]["restarts"].get<int>(), 0);
  // The replacement serves slot 1: some later connection is answered by worker 1.
  bool served = false;
  for (int i = 0; i < 400 && !served; ++i) {
    auto reply = testutil::fetch(server.listener());
    served = reply && testutil::worker_of(*reply) == 1;
  }
  EXPECT_TRUE(served);
}

TEST(Lifecycle, CrashLoopBacksOff) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  int pid = server.worker_pids().at(0);
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    const auto took = wait_replaced(server, 0, pid, 3000ms);
    ASSERT_TRUE(took.has_value()) << server.log();
    pid = server.worker_pids().at(0);
  }
  const std::string log = server.log();
  // Dying within a second of starting doubles the delay: 100ms, then 200ms.
  EXPECT_NE(log.find("restarting in 100ms"), std::string::npos) << log;
  EXPECT_NE(log.find("restarting in 200ms"), std::string::npos) << log;
  EXPECT_EQ(server.stats()["workers"][0]["restarts"].get<int>(), 3);
}

TEST(Lifecycle, SigtermDrainsActiveConnectionsThenExitsZero) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--service", "echo",
                        "--drain-timeout", "10s", "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto conn = testutil::connect_to(server.listener());
  ASSERT_TRUE(conn);
  ASSERT_EQ(::send(conn->get(), "ping", 4, MSG_NOSIGNAL), 4);
  ASSERT_EQ(testutil::read_some(conn->get(), 4).value_or(""), "ping");
  server.signal(SIGTERM);
  // New connections are refused once every worker has let go of its sockets.
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    auto probe = testutil::connect_to(server.listener(), 500ms);
    refused = !probe && probe.error().code == ECONNREFUSED;
    if (!refused) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(refused);
  // The active connection still works while the server drains.
  ASSERT_EQ(::send(conn->get(), "pong", 4, MSG_NOSIGNAL), 4);
  EXPECT_EQ(testutil::read_some(conn->get(), 4).value_or(""), "pong");
  EXPECT_FALSE(server.wait_exit(200ms).has_value()) << "exited before its connection closed";
  conn->reset();
  EXPECT_EQ(server.wait_exit(5000ms), std::optional<int>(0)) << server.log();
  EXPECT_FALSE(testutil::group_alive(server.pid()));
}

TEST(Lifecycle, DrainTimeoutBoundsTheStop) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--drain-timeout", "300ms", "--admin", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto conn = testutil::connect_to(server.listener(), 5000ms);
  ASSERT_TRUE(conn);
  ASSERT_EQ(::send(conn->get(), "x", 1, MSG_NOSIGNAL), 1);
  ASSERT_EQ(testutil::read_some(conn->get(), 1).value_or(""), "x");
  server.signal(SIGINT);
  EXPECT_EQ(server.wait_exit(5000ms), std::optional<int>(0)) << server.log();
  // The server closed the connection it could not wait for any longer.
  auto rest = testutil::read_some(conn->get(), SIZE_MAX);
  ASSERT_TRUE(rest);
  EXPECT_EQ(*rest, "");
}

TEST(Lifecycle, SighupReloadUnderLoadRefusesNothing) {
  const std::string path = "/tmp/herdless-reload-" + std::to_string(::getpid()) + ".toml";
  write_config(path, "gen1 worker={worker}\\n", 2);
  ServerProcess server({"serve", "--config", path});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const auto before = server.worker_pids();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(testutil::fetch(server.listener()).value_or("").substr(0, 4), "gen1");
  // Same address (port 0 is resolved once and the sockets are kept), new message.
  auto load = start_load(server.listener(), 2500ms);
  std::this_thread::sleep_for(600ms);
  write_config(path, "gen2 worker={worker}\\n", 2);
  server.signal(SIGHUP);
  std::this_thread::sleep_for(600ms);
  server.signal(SIGHUP);
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u) << "timed out " << result.timed_out << ", refused " << result.refused << ", reset "
                               << result.reset;
  EXPECT_EQ(result.unattributed, 0u);
  const auto after = server.worker_pids();
  ASSERT_EQ(after.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_NE(after[i], before[i]) << "slot " << i << " was not replaced";
  auto reply = testutil::fetch(server.listener());
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->substr(0, 4), "gen2");
  EXPECT_EQ(server.stats()["workers"][0]["restarts"].get<int>(), 0) << "a reload is not a crash";
  ::unlink(path.c_str());
}

TEST(Lifecycle, ReloadChangesWorkerCount) {
  const std::string path = "/tmp/herdless-resize-" + std::to_string(::getpid()) + ".toml";
  write_config(path, "worker={worker}\\n", 2);
  ServerProcess server({"serve", "--config", path});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  write_config(path, "worker={worker}\\n", 3);
  server.signal(SIGHUP);
  std::set<int> seen;
  for (int i = 0; i < 600 && seen.size() < 3; ++i) {
    auto reply = testutil::fetch(server.listener());
    if (reply) seen.insert(testutil::worker_of(*reply));
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(server.stats()["workers"].size(), 3u);
  ::unlink(path.c_str());
}

TEST(Lifecycle, InvalidReloadKeepsServing) {
  const std::string path = "/tmp/herdless-badreload-" + std::to_string(::getpid()) + ".toml";
  write_config(path, "worker={worker}\\n", 2);
  ServerProcess server({"serve", "--config", path});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const auto before = server.worker_pids();
  std::ofstream(path) << "workers = 0\n";
  server.signal(SIGHUP);
  std::this_thread::sleep_for(300ms);
  EXPECT_NE(server.log().find("reload rejected"), std::string::npos);
  EXPECT_EQ(server.worker_pids(), before);
  EXPECT_TRUE(testutil::fetch(server.listener()).has_value());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace herdless
