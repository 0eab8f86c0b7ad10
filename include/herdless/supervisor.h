// Supervisor: owns every listening socket (one per slot per address), starts a worker per
// slot, restarts crashed workers (with backoff when one crash-loops), reloads on SIGHUP by
// starting a new generation on the same sockets before draining the old one, stops
// gracefully on SIGTERM/SIGINT, and serves /stats and /metrics.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herdless/admin_server.h"
#include "herdless/event_loop.h"
#include "herdless/inheritance.h"
#include "herdless/listener_table.h"
#include "herdless/serve_config.h"
#include "herdless/shared_mutex.h"
#include "herdless/steering_program.h"
#include "herdless/timer.h"
#include "herdless/worker_counters.h"
#include "herdless/worker_launcher.h"

namespace herdless {

struct SupervisorOptions {
  ServeConfig config;
  Settings flags;                          // re-applied over the file on every reload
  std::optional<std::string> config_path;  // re-read on SIGHUP
  std::vector<std::string> argv;           // re-run by a binary upgrade (SIGUSR2)
};

class Supervisor {
 public:
  // Opens the listeners and the admin endpoint; an Error here is the user's bad input
  // (an address in use, a port not permitted).
  static Result<std::unique_ptr<Supervisor>> create(SupervisorOptions options);
  ~Supervisor();

  // Runs until stopped by SIGTERM/SIGINT; returns the exit code.
  int run();

 private:
  struct Handle {
    int slot = 0;
    std::unique_ptr<RunningWorker> worker;
    int64_t started_ns = 0;
    bool retiring = false;  // an old generation's worker, draining after a reload
    Fd channel;             // the supervisor's end of the worker's channel
  };
  struct SlotState {
    int64_t backoff_ms = 0;
    std::unique_ptr<Timer> restart_timer;
    bool rescued = false;  // out of selection, its old listener shut down, waiting for the worker
  };

  explicit Supervisor(SupervisorOptions options, EventLoop loop);
  Result<void> start();
  void spawn(int slot);
  void on_signal();
  void reap_processes();
  void reap_threads();
  void on_worker_exit(size_t handle_index, const std::string& how);
  void schedule_restart(int slot);
  void reload();
  void begin_stop();
  void maybe_finish_stop();
  StatsSnapshot snapshot() const;
  void resize_slots();
  // Sockets per address: one per worker, or one shared by all (shared accept strategies).
  int socket_slots(const ServeConfig& config) const;
  void start_steering();
  // Binary upgrade (supervisor_upgrade.cc).
  void upgrade();
  void take_over_from_parent();
  void write_pid_file();
  void remove_pid_file();
  // Stall rescue (supervisor_rescue.cc).
  void check_stalls();
  void rescue(int slot, int64_t heartbeat_age_ms, uint32_t queued);
  void readmit(int slot);

  SupervisorOptions options_;
  EventLoop loop_;
  ListenerTable listeners_;
  StatsTable stats_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<SteeringProgram> steering_;  // null under hash steering
  SharedMutex accept_mutex_;                   // accept-mutex strategy only
  Fd signal_fd_;
  CallbackHandler signal_handler_;
  Fd thread_exit_fd_;
  CallbackHandler thread_exit_handler_;
  std::unique_ptr<Timer> kill_timer_;
  std::unique_ptr<Timer> stall_timer_;
  std::vector<Handle> handles_;
  std::vector<SlotState> slots_;
  bool stopping_ = false;
  std::optional<Inherited> inherited_;  // what an upgrade handed over, until adopted
  std::string exec_path_;               // this binary, resolved at start
  pid_t upgrade_pid_ = 0;               // the new supervisor of an upgrade in progress
};

}  // namespace herdless
