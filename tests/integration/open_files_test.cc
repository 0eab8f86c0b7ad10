// Integration: `herdless serve` raises its open-files soft limit to the hard limit at start
// (the supervisor's and, inherited, every worker's), and says in one warning line when
// --max-conns connections cannot fit in a worker's limit.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/server_process.h"

namespace herdless {
namespace {

using testutil::ServerProcess;

// "Max open files  <soft>  <hard>  files" of /proc/<pid>/limits, as "soft hard".
std::string open_files_limits(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("Max open files")) continue;
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    std::string soft, hard;
    fields >> soft >> hard;
    return soft + " " + hard;
  }
  return "";
}

// Sets this process's RLIMIT_NOFILE (inherited by what it spawns) and restores it after.
class OpenFilesLimit {
 public:
  OpenFilesLimit(rlim_t soft, rlim_t hard) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    const rlimit limit{soft, hard};
    ok_ = ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
  }
  ~OpenFilesLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(OpenFiles, TheSoftLimitIsRaisedToTheHardLimitInTheSupervisorAndItsWorkers) {
  std::optional<ServerProcess> server;
  {
    OpenFilesLimit limit(256, 4096);  // raising the hard limit back needs root: skip without
    if (!limit.ok()) GTEST_SKIP() << "cannot set RLIMIT_NOFILE";
    server.emplace(std::vector<std::string>{"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin",
                                            "127.0.0.1:0"});
  }
  ASSERT_TRUE(server->wait_ready()) << server->log();
  EXPECT_EQ(open_files_limits(server->pid()), "4096 4096");
  const auto workers = server->worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  for (int pid : workers) EXPECT_EQ(open_files_limits(pid), "4096 4096") << "worker " << pid;
  EXPECT_EQ(count_of(server->log(), "open files"), 0u) << "--max-conns left at its default is not warned about\n"
                                                       << server->log();
}

TEST(OpenFiles, MaxConnsThatCannotFitIsSaidInOneLine) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--max-conns", "1000",
                        "--admin", "127.0.0.1:0"},
                       testutil::SpawnOptions{256});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string log = server.log();
  EXPECT_EQ(count_of(log, "open files"), 1u) << log;
  EXPECT_EQ(count_of(log, "[warning] open files: each worker process may hold --max-conns 1000 connections + 1 "
                          "listener + 16 of its own = 1017 descriptors, over the limit of 256 per process"),
            1u)
      << log;
  EXPECT_NE(log.find("Lower --max-conns to 239"), std::string::npos) << log;
}

TEST(OpenFiles, MaxConnsThatFitsIsNotWarnedAbout) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--max-conns", "200",
                        "--admin", "127.0.0.1:0"},
                       testutil::SpawnOptions{256});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  EXPECT_EQ(count_of(server.log(), "open files"), 0u) << server.log();
}

TEST(OpenFiles, ThreadWorkersShareTheSupervisorsLimit) {
  // 2 x (200 + 1 + 16) + 2 + 64 = 500 > 256, though one worker's 217 would fit.
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--mode", "thread",
                        "--max-conns", "200", "--admin", "127.0.0.1:0"},
                       testutil::SpawnOptions{256});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string log = server.log();
  EXPECT_EQ(count_of(log, "[warning] open files: 2 worker threads share the supervisor's limit of 256"), 1u) << log;
}

}  // namespace
}  // namespace herdless
