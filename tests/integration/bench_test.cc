// `herdless bench` end to end with very short runs (hidden --duration): every scenario's
// JSON and SVG are written with one row per strategy; a strategy the server rejects
// becomes an "n/a" row; and ^C stops the bench with every server it started gone.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::run_herdless;

std::string temp_dir() {
  std::string path = "/tmp/herdless-bench-test-XXXXXX";
  EXPECT_NE(::mkdtemp(path.data()), nullptr);
  return path;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Bench, QuickRunWritesATableJsonAndChartPerScenario) {
  const std::string dir = temp_dir();
  const auto run = run_herdless({"bench", "--quick", "--duration", "300ms", "--out", dir}, 110s);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_FALSE(run.left_running);
  const std::vector<std::string> labels = {"reuseport hash", "reuseport least-loaded", "shared", "shared-exclusive",
                                           "accept-mutex"};
  for (const char* scenario : {"steady", "oversubscribed", "stalled", "long-lived"}) {
    SCOPED_TRACE(scenario);
    EXPECT_NE(run.stdout_text.find(std::string("== ") + scenario + ":"), std::string::npos);
    const auto base = std::filesystem::path(dir) / (std::string("bench-") + scenario);
    const auto json = nlohmann::json::parse(read_text(base.string() + ".json"), nullptr, false);
    ASSERT_TRUE(json.is_object());
    EXPECT_EQ(json["scenario"], scenario);
    ASSERT_EQ(json["rows"].size(), labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const auto& row = json["rows"][i];
      EXPECT_EQ(row["strategy"], labels[i]);
      // A strategy is measured, or says why not.
      EXPECT_TRUE(row["measured"].get<bool>() || !row["note"].get<std::string>().empty()) << row.dump();
    }
    // reuseport is the server's default: always measured, with every connection served.
    const auto& hash = json["rows"][0];
    ASSERT_TRUE(hash["measured"].get<bool>()) << hash.dump();
    EXPECT_GT(hash["completed"].get<uint64_t>(), 0u);
    EXPECT_GT(hash["accepted"].get<uint64_t>(), 0u);
    if (std::string(scenario) == "long-lived") {
      EXPECT_EQ(hash["completed"], 2000);  // held to the end
      double held = 0;
      for (const auto& n : hash["per_worker"]) held += n.get<double>();
      EXPECT_EQ(held, 2000);  // /stats active while held
    }
    EXPECT_EQ(read_text(base.string() + ".svg").rfind("<svg", 0), 0u);
  }
  std::filesystem::remove_all(dir);
}

TEST(Bench, ARejectedStrategyIsNotApplicable) {
  const std::string dir = temp_dir();
  const auto run = run_herdless(
      {"bench", "--duration", "300ms", "--scenario", "steady", "--out", dir, "--serve-arg=--no-such-flag=1"}, 60s);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const auto json = nlohmann::json::parse(read_text(std::filesystem::path(dir) / "bench-steady.json"), nullptr, false);
  ASSERT_TRUE(json.is_object());
  ASSERT_EQ(json["rows"].size(), 5u);
  for (const auto& row : json["rows"]) {
    EXPECT_FALSE(row["measured"].get<bool>());
    EXPECT_NE(row["note"].get<std::string>().find("rejected its arguments"), std::string::npos) << row.dump();
  }
  EXPECT_NE(run.stdout_text.find("n/a: herdless serve rejected"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// Live processes whose parent is `parent` (this process's zombies are reaped first).
int live_children(pid_t parent = ::getpid()) {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  int count = 0;
  const std::string self = std::to_string(parent);
  DIR* proc = ::opendir("/proc");
  while (dirent* entry = ::readdir(proc)) {
    const std::string stat = read_text(std::string("/proc/") + entry->d_name + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    std::string ppid;
    fields >> state >> ppid;
    if (ppid == self && state != "Z") ++count;
  }
  ::closedir(proc);
  return count;
}

TEST(Bench, InterruptStopsEveryServerItStarted) {
  // As a subreaper, this process inherits whatever the bench leaves behind when it exits.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  const std::string dir = temp_dir();
  std::vector<std::string> args = {"herdless", "bench", "--duration", "20s", "--scenario", "oversubscribed", "--out", dir};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t bench = -1;
  ASSERT_EQ(::posix_spawn(&bench, HERDLESS_BINARY, nullptr, nullptr, argv.data(), environ), 0);
  std::this_thread::sleep_for(2s);  // the first server is up (16 workers) and under load
  ASSERT_EQ(live_children(bench), 1);  // the server's supervisor
  ASSERT_EQ(::kill(bench, SIGINT), 0);
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 150 && reaped == 0; ++i) {
    reaped = ::waitpid(bench, &status, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(reaped, bench) << "bench did not stop within 15 s of SIGINT";
  ::kill(-bench, SIGKILL);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  int left = 0;
  for (int i = 0; i < 20 && (left = live_children()) > 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(left, 0) << "processes left behind by the bench";
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace herdless
