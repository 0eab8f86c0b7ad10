// ServerProcess: starts the herdless binary for an integration test in its own process
// group, reads its log to learn the bound ports, and kills the whole group on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herdless/address.h"

namespace herdless::testutil {

struct SpawnOptions {
  int max_open_files = 0;     // RLIMIT_NOFILE of the server when non-zero
  bool drop_bpf_caps = false;  // run without CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON
  std::string binary = {};     // the program to run instead of HERDLESS_BINARY (a library example)
};

class ServerProcess {
 public:
  // Runs `herdless <args...>`; stderr goes to a temp file. Does not wait for readiness.
  explicit ServerProcess(std::vector<std::string> args, SpawnOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits until the log names every listener and the admin endpoint (when one is asked for).
  bool wait_ready(size_t listeners = 1, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the process to exit; returns its exit code (128+signal if killed).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  std::string log() const;

  const std::vector<ListenAddress>& listeners() const { return listeners_; }
  const ListenAddress& listener() const { return listeners_.at(0); }
  const ListenAddress& admin() const { return admin_.value(); }

  // GET /stats as JSON (a null json on failure).
  nlohmann::json stats() const;
  // Worker pids by slot, from /stats.
  std::vector<int> worker_pids() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::vector<ListenAddress> listeners_;
  std::optional<ListenAddress> admin_;
  std::optional<int> exit_code_;
  bool wants_admin_ = true;  // false when started with `--admin off`
};

// Runs `herdless <args...>` to completion (bounded by timeout); returns exit code and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string stderr_text;
  std::string stdout_text;
  bool left_running = false;  // a process of its group was still alive after it exited
};
CommandResult run_herdless(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// True while any process of the process group `pgid` is alive.
bool group_alive(pid_t pgid);

// A new empty file /tmp/<prefix>XXXXXX (mkstemp); its path.
std::string temp_path(const char* prefix);
// A whole file's text ("" when it cannot be read).
std::string read_file(const std::string& path);

}  // namespace herdless::testutil
