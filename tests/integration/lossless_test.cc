// Integration: lifecycle without loss, each test in its own network namespace with eBPF
// steering: a stalled worker's queued connections migrate to another worker with their data
// intact; crashes, reloads, resizes and binary upgrades under load lose no connection.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <future>
#include <thread>

#include "herdless/load/load_generator.h"
#include "testutil/client.h"
#include "testutil/load.h"
#include "testutil/netns.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;
using testutil::start_load;

std::string failures(const load::LoadResult& r) {
  return "attempted " + std::to_string(r.attempted) + ", failed " + std::to_string(r.failed) + " (timed out " +
         std::to_string(r.timed_out) + ", refused " + std::to_string(r.refused) + ", reset " + std::to_string(r.reset) +
         ", closed " + std::to_string(r.closed) + ", other " + std::to_string(r.other) + ")";
}

std::string temp_file(const std::string& name) { return "/tmp/herdless-" + name + "-" + std::to_string(::getpid()); }

void write_config(const std::string& path, int workers) {
  std::ofstream(path) << "listen = \"tcp://127.0.0.1:0\"\nworkers = " << workers
                      << "\nmessage = \"worker={worker}\\n\"\nadmin = \"127.0.0.1:0\"\ndrain-timeout = \"2s\"\n";
}

int read_pid(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  in >> pid;
  return pid;
}

// Live (non-zombie) processes of a process group, and how many of them are supervisors
// (their parent is not in the group).
std::pair<int, int> group_census(pid_t pgid) {
  int live = 0, supervisors = 0;
  std::vector<std::pair<int, int>> members;  // pid, ppid
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {0, 0};
  while (dirent* entry = ::readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0 || ::getpgid(pid) != pgid) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    char state = text[close + 2];
    int ppid = std::atoi(text.c_str() + close + 4);
    if (state != 'Z') members.push_back({pid, ppid});
  }
  ::closedir(proc);
  for (const auto& [pid, ppid] : members) {
    ++live;
    bool parent_in_group = false;
    for (const auto& [other, unused] : members) parent_in_group = parent_in_group || other == ppid;
    if (!parent_in_group) ++supervisors;
  }
  return {live, supervisors};
}

TEST(Lossless, StalledWorkersQueueMigratesWithItsDataIntact) {
  HERDLESS_REQUIRE_BPF_NETNS();
  // The program never calls the worker stalled (10s) so connections queue on it; the
  // supervisor's rescue (300ms) then shuts its listener and the kernel migrates the queue.
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--service", "echo", "--admin",
                        "127.0.0.1:0", "--stall-threshold", "10s", "--stall-timeout", "300ms"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  // Load worker 0 with idle connections so that worker 1 looks less loaded.
  std::vector<Fd> ballast;
  for (int i = 0; i < 40; ++i) {
    auto fd = testutil::connect_to(server.listener());
    ASSERT_TRUE(fd);
    ballast.push_back(std::move(*fd));
  }
  uint64_t accepted_before = 0;
  for (int i = 0; i < 100; ++i) {  // every ballast connection accepted
    const auto s = server.stats();
    if (s["workers"][0]["accepted"].get<uint64_t>() + s["workers"][1]["accepted"].get<uint64_t>() == 40u) {
      accepted_before = s["workers"][1]["accepted"].get<uint64_t>();
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  const int stopped = server.worker_pids().at(1);
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  std::vector<std::pair<Fd, std::string>> clients;
  for (int i = 0; i < 20; ++i) {
    auto fd = testutil::connect_to(server.listener(), 3000ms);
    ASSERT_TRUE(fd);
    std::string payload = "payload-" + std::to_string(i) + "-" + std::string(static_cast<size_t>(100 + i), 'x');
    ASSERT_EQ(::send(fd->get(), payload.data(), payload.size(), MSG_NOSIGNAL), static_cast<ssize_t>(payload.size()));
    clients.emplace_back(std::move(*fd), std::move(payload));
  }
  // Every client is echoed while worker 1 is still stopped: the queued ones were migrated.
  for (auto& [fd, payload] : clients) {
    EXPECT_EQ(testutil::read_some(fd.get(), payload.size()).value_or("<timeout>"), payload);
  }
  const auto stats = server.stats();
  ::kill(stopped, SIGCONT);
  const std::string log = server.log();
  const size_t at = log.find(" queued): its queue migrated");
  ASSERT_NE(at, std::string::npos) << log;
  const size_t queued_at = log.rfind(", ", at) + 2;
  const uint64_t queued = std::stoull(log.substr(queued_at, at - queued_at));
  EXPECT_GT(queued, 0u);
  EXPECT_EQ(stats["workers"][1]["rescues"].get<int>(), 1);
  EXPECT_EQ(stats["workers"][0]["steer"]["migrated"].get<uint64_t>(), queued);
  EXPECT_EQ(stats["workers"][1]["accepted"].get<uint64_t>(), accepted_before) << "worker 1 accepted while stopped";
  // Back from SIGCONT, worker 1 takes its fresh listener and serves again.
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    auto fd = testutil::connect_to(server.listener());
    if (fd && ::send(fd->get(), "z", 1, MSG_NOSIGNAL) == 1) (void)testutil::read_some(fd->get(), 1);
    served = server.stats()["workers"][1]["accepted"].get<uint64_t>() > accepted_before;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served) << server.log();
}

TEST(Lossless, KillNineEveryFewHundredMillisecondsUnderLoad) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "4", "--admin", "127.0.0.1:0",
                        "--message", "worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server.listener(), 3000ms);
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    std::this_thread::sleep_for(300ms);
    const auto pids = server.worker_pids();
    const int victim = pids.at(static_cast<size_t>(round) % pids.size());
    if (victim > 0 && ::kill(victim, SIGKILL) == 0) ++kills;
  }
  const auto result = load.get();
  EXPECT_GE(kills, 6);
  EXPECT_GT(result.completed, 1000u);
  // A worker killed between accept() and its reply loses that one connection (the kernel
  // closes it): at most one per kill, and never a queued one.
  EXPECT_EQ(result.timed_out + result.refused + result.reset, 0u) << failures(result);
  EXPECT_LE(result.failed, static_cast<uint64_t>(kills)) << failures(result);
}

TEST(Lossless, ReloadsAndResizesUnderLoad) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const std::string config = temp_file("lossless.toml");
  write_config(config, 4);
  ServerProcess server({"serve", "--config", config});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server.listener(), 3000ms);
  for (int workers : {4, 2, 2, 4, 3, 4}) {
    std::this_thread::sleep_for(400ms);
    write_config(config, workers);
    server.signal(SIGHUP);
  }
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u) << failures(result);
  EXPECT_EQ(server.stats()["workers"].size(), 4u);
  ::unlink(config.c_str());
}

TEST(Lossless, BinaryUpgradesUnderLoadLeaveOneSupervisor) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const std::string pid_file = temp_file("upgrade.pid");
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0",
                        "--pid-file", pid_file, "--drain-timeout", "2s", "--message", "worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_EQ(read_pid(pid_file), server.pid());
  auto load = start_load(server.listener(), 3500ms);
  int current = server.pid();
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(::kill(current, SIGUSR2), 0);
    int next = current;
    for (int i = 0; i < 200 && (next == current || next <= 0); ++i) {
      std::this_thread::sleep_for(10ms);
      next = read_pid(pid_file);
    }
    ASSERT_GT(next, 0);
    ASSERT_NE(next, current) << "no new supervisor\n" << server.log();
    current = next;
  }
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u) << failures(result);
  EXPECT_EQ(server.wait_exit(3000ms), std::optional<int>(0)) << "the first supervisor drained and exited";
  // Wait for the old generations to finish draining, then count.
  std::pair<int, int> census;
  for (int i = 0; i < 100; ++i) {
    census = group_census(server.pid());
    if (census.first == 4) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(census.second, 1) << "supervisors left";
  EXPECT_EQ(census.first, 4) << "one supervisor, its two workers and its orphan keeper";
  // The supervisor in charge still answers, with the same listeners and admin socket.
  EXPECT_EQ(testutil::worker_of(testutil::fetch(server.listener()).value_or("")) >= 0, true);
  if (current > 0) ::kill(current, SIGTERM);
  ::unlink(pid_file.c_str());
}

}  // namespace
}  // namespace herdless
