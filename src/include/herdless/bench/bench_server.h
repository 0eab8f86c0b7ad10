// BenchServer: one `herdless serve` that the bench starts from its own binary, in its own
// process group, listening on 127.0.0.1 port 0 with its admin endpoint on port 0. It
// learns both ports from the server's log and stops the server when destroyed: SIGTERM to
// the supervisor, then SIGKILL to the whole group. Live groups are also registered so that
// a signal handler can kill them all (kill_all_bench_servers).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "herdless/address.h"
#include "herdless/bench/stats_sample.h"
#include "herdless/error.h"

namespace herdless::bench {

class BenchServer {
 public:
  // Runs `binary serve <serve_args...>` and waits (up to `timeout`, or until `cancel`)
  // until it logs its listener and admin ports and /stats shows a pid for every worker.
  // An Error carries the server's own first log line when it exits early (exit 2: it
  // rejected its command line, e.g. an --accept it does not know).
  static Result<std::unique_ptr<BenchServer>> start(const std::string& binary, const std::vector<std::string>& serve_args,
                                                    std::chrono::milliseconds timeout,
                                                    const std::atomic<bool>* cancel);
  ~BenchServer();
  BenchServer(const BenchServer&) = delete;
  BenchServer& operator=(const BenchServer&) = delete;

  // SIGTERM, up to `grace` for the supervisor to exit, then SIGKILL to its group; reaps it.
  // Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

  pid_t pid() const { return pid_; }
  const ListenAddress& listener() const { return listener_; }
  const ListenAddress& admin() const { return admin_; }
  std::string log() const;

  Result<nlohmann::json> stats_json() const;
  Result<StatsSample> stats() const;

 private:
  BenchServer(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  Result<void> wait_ready(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
  std::string log_path_;
  ListenAddress listener_;
  ListenAddress admin_;
};

// SIGKILL to the process group of every BenchServer not yet stopped. Async-signal-safe.
void kill_all_bench_servers();

}  // namespace herdless::bench
