// Shared by the `herdless run` integration tests (run_*_test.cc): where the test programs
// live, a ServerProcess that also tracks (and on destruction kills) the programs it started
// (they lead their own process groups, so killing the supervisor's group misses them), and
// an HTTP load that names the answering worker.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <optional>
#include <cctype>
#include <fmt/ranges.h>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "herdless/load/load_generator.h"
#include "testutil/server_process.h"

namespace herdless::runtest {

using namespace std::chrono_literals;

inline const std::string kPython = "/usr/bin/python3";

// tests/apps of the source tree: next to this file, else beside the build directory of
// HERDLESS_BINARY (build/herdless -> ../tests/apps).
inline std::string apps_dir() {
  const std::string file = __FILE__;
  const std::string integration = file.substr(0, file.rfind('/'));
  std::string dir = integration.substr(0, integration.rfind('/')) + "/apps";
  if (::access((dir + "/stdlib_server.py").c_str(), R_OK) == 0) return dir;
  const std::string binary = HERDLESS_BINARY;
  const std::string build = binary.substr(0, binary.rfind('/'));
  return build.substr(0, build.rfind('/')) + "/tests/apps";
}

inline std::string app(const std::string& name) { return apps_dir() + "/" + name; }

// The command line of stdlib_server.py with extra options.
inline std::vector<std::string> stdlib_server(std::vector<std::string> options = {}) {
  std::vector<std::string> command{kPython, app("stdlib_server.py")};
  command.insert(command.end(), options.begin(), options.end());
  return command;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// State letter of /proc/PID/stat ('\0' when there is no such process).
inline char process_state(int pid) {
  const std::string text = read_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '\0' : text[close + 2];
}

inline bool alive(int pid) {
  const char state = process_state(pid);
  return state != '\0' && state != 'Z' && state != 'X';
}

// Live processes whose pid or process group is in `pids`.
inline std::vector<int> live_in(const std::set<int>& pids) {
  std::vector<int> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = ::readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    if ((pids.contains(pid) || pids.contains(::getpgid(pid))) && alive(pid)) out.push_back(pid);
  }
  ::closedir(proc);
  return out;
}

// Waits until nothing of `pids` (and their groups) is alive; returns what still is.
inline std::vector<int> wait_gone(const std::set<int>& pids, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> left = live_in(pids);
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    left = live_in(pids);
  }
  return left;
}

inline std::string join(const std::vector<int>& values) {
  return fmt::format("{}", fmt::join(values, ","));
}

// Program pids named in a supervisor log: "(pid P" of its own lines and "[wS P] " of the
// programs' prefixed output.
inline std::set<int> pids_in_log(const std::string& log) {
  // Scanned by hand: std::regex trips GCC 12's -Wmaybe-uninitialized in the sanitizer build.
  std::set<int> out;
  const auto digits_at = [&](size_t at) {
    size_t end = at;
    while (end < log.size() && std::isdigit(static_cast<unsigned char>(log[end])) != 0) ++end;
    return end > at ? std::stoi(log.substr(at, end - at)) : 0;
  };
  for (size_t at = log.find("(pid "); at != std::string::npos; at = log.find("(pid ", at + 1)) {
    if (const int pid = digits_at(at + 5); pid > 0) out.insert(pid);
  }
  for (size_t at = log.find("[w"); at != std::string::npos; at = log.find("[w", at + 1)) {
    size_t space = at + 2;
    while (space < log.size() && std::isdigit(static_cast<unsigned char>(log[space])) != 0) ++space;
    if (space == at + 2 || space >= log.size() || log[space] != ' ') continue;
    size_t end = space + 1;
    while (end < log.size() && std::isdigit(static_cast<unsigned char>(log[end])) != 0) ++end;
    if (end > space + 1 && end < log.size() && log[end] == ']') out.insert(digits_at(space + 1));
  }
  return out;
}

inline size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// `herdless run FLAGS... -- COMMAND...`; remembers every program pid it saw, and kills the
// supervisor's group and then every program's group when it goes.
class RunServer {
 public:
  RunServer(std::vector<std::string> flags, std::vector<std::string> command, testutil::SpawnOptions options = {}) {
    std::vector<std::string> args{"run"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--");
    args.insert(args.end(), command.begin(), command.end());
    server_.emplace(std::move(args), options);
  }
  ~RunServer() {
    const std::set<int> pids = program_pids();
    server_.reset();  // SIGKILL of the supervisor's group, reaped
    for (int pid : pids) {
      if (!live_in({pid}).empty()) ::kill(-pid, SIGKILL);
      if (alive(pid)) ::kill(pid, SIGKILL);
    }
  }
  RunServer(const RunServer&) = delete;
  RunServer& operator=(const RunServer&) = delete;

  testutil::ServerProcess& server() { return *server_; }
  testutil::ServerProcess* operator->() { return &*server_; }

  // Every program pid seen so far (log, and /stats while it answers).
  std::set<int> program_pids() {
    for (int pid : pids_in_log(server_->log())) seen_.insert(pid);
    return seen_;
  }
  void note_stats(const nlohmann::json& stats) {
    if (!stats.is_object()) return;
    for (const auto& w : stats["workers"]) {
      if (w.value("pid", 0) > 0) seen_.insert(w.value("pid", 0));
    }
  }
  nlohmann::json stats() {
    nlohmann::json s = server_->stats();
    note_stats(s);
    return s;
  }

  // Until every slot has a program that is ready (by /stats); the stats then.
  nlohmann::json wait_all_ready(size_t workers, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      nlohmann::json s = stats();
      if (s.is_object() && s["workers"].size() == workers) {
        bool all = true;
        for (const auto& w : s["workers"]) {
          all = all && w.value("pid", 0) > 0 && w.contains("program") && w["program"].value("ready", false);
        }
        if (all) return s;
      }
      std::this_thread::sleep_for(20ms);
    }
    return nullptr;
  }

  // Until `slot` has a ready program other than `old_pid`; the stats then.
  nlohmann::json wait_replaced(size_t slot, int old_pid, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      nlohmann::json s = stats();
      if (s.is_object() && s["workers"].size() > slot) {
        const auto& w = s["workers"][slot];
        const int pid = w.value("pid", 0);
        if (pid > 0 && pid != old_pid && w.contains("program") && w["program"].value("ready", false)) return s;
      }
      std::this_thread::sleep_for(20ms);
    }
    return nullptr;
  }

  // Until the log contains `text`.
  bool wait_log(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (server_->log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return server_->log().find(text) != std::string::npos;
  }

 private:
  std::optional<testutil::ServerProcess> server_;
  std::set<int> seen_;
};

inline const std::string kRequest = "GET / HTTP/1.0\r\n\r\n";

inline load::LoadOptions http_load_options(const ListenAddress& target, std::chrono::milliseconds duration,
                                           std::chrono::milliseconds timeout = 2000ms, int concurrency = 64) {
  load::LoadOptions options;
  options.target = target;
  options.concurrency = concurrency;
  options.duration = duration;
  options.timeout = timeout;
  options.send = kRequest;
  return options;
}

// 64 short connections at a time, each sending one HTTP/1.0 request and reading to EOF.
inline std::future<load::LoadResult> start_http_load(const ListenAddress& target, std::chrono::milliseconds duration,
                                                     std::chrono::milliseconds timeout = 2000ms,
                                                     int concurrency = 64) {
  return std::async(std::launch::async, [=] {
    return load::run_load(http_load_options(target, duration, timeout, concurrency)).value_or(load::LoadResult{});
  });
}

inline load::LoadResult http_load(const ListenAddress& target, std::chrono::milliseconds duration,
                                  std::chrono::milliseconds timeout = 2000ms, int concurrency = 64) {
  return start_http_load(target, duration, timeout, concurrency).get();
}

inline std::string describe(const load::LoadResult& r) {
  std::string per_worker;
  for (const auto& [worker, count] : r.per_worker) {
    per_worker += " w" + std::to_string(worker) + "=" + std::to_string(count);
  }
  return "attempted " + std::to_string(r.attempted) + ", completed " + std::to_string(r.completed) + ", failed " +
         std::to_string(r.failed) + " (timed out " + std::to_string(r.timed_out) + ", refused " +
         std::to_string(r.refused) + ", reset " + std::to_string(r.reset) + ", closed " + std::to_string(r.closed) +
         ", other " + std::to_string(r.other) + (r.first_error.empty() ? "" : ": " + r.first_error) +
         "), unattributed " + std::to_string(r.unattributed) + ", per worker:" + per_worker;
}

// Each of `workers` workers answered 15-35% (for 4 workers) of the completed requests.
inline void expect_shares(const load::LoadResult& r, int workers, double low, double high) {
  ASSERT_GT(r.completed, 0u) << describe(r);
  EXPECT_EQ(r.per_worker.size(), static_cast<size_t>(workers)) << describe(r);
  for (int w = 0; w < workers; ++w) {
    const auto it = r.per_worker.find(w);
    const double share =
        it == r.per_worker.end() ? 0.0 : static_cast<double>(it->second) / static_cast<double>(r.completed);
    EXPECT_GE(share, low) << "worker " << w << ": " << describe(r);
    EXPECT_LE(share, high) << "worker " << w << ": " << describe(r);
  }
}

// Slot -> program pid, from /stats.
inline std::vector<int> slot_pids(const nlohmann::json& stats) {
  std::vector<int> out;
  if (!stats.is_object()) return out;
  for (const auto& w : stats["workers"]) out.push_back(w.value("pid", 0));
  return out;
}

// "socket:[123]" of /proc/PID/fd/FD, or "".
inline std::string fd_target(int pid, int fd) {
  char target[256];
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
}

}  // namespace herdless::runtest
