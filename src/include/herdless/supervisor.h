// Supervisor: owns every listening socket (one per slot per address), starts a worker per
// slot, restarts crashed workers (with backoff when one crash-loops), reloads on SIGHUP by
// starting a new generation on the same sockets before draining the old one, stops
// gracefully on SIGTERM/SIGINT, and serves /stats and /metrics.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herdless/accept_probe.h"
#include "herdless/admin_server.h"
#include "herdless/conn_tracker.h"
#include "herdless/event_loop.h"
#include "herdless/inheritance.h"
#include "herdless/listener_table.h"
#include "herdless/orphan_keeper.h"
#include "herdless/port_owner.h"
#include "herdless/port_watch.h"
#include "herdless/program_channels.h"
#include "herdless/serve_config.h"
#include "herdless/service_factories.h"
#include "herdless/shared_mutex.h"
#include "herdless/steering_program.h"
#include "herdless/loop_timer.h"
#include "herdless/worker_counters.h"
#include "herdless/worker_launcher.h"

namespace herdless {

struct SupervisorOptions {
  ServeConfig config;
  Settings flags;                          // re-applied over the file on every reload
  std::optional<std::string> config_path;  // re-read on SIGHUP
  std::vector<std::string> argv;           // re-run by a binary upgrade (SIGUSR2)
  // A library server's own services (null: serve's built-in ones); every worker calls them.
  std::shared_ptr<const ServiceFactories> services;
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
    // herdless run: the program's notify socket and output; null for built-in workers.
    std::unique_ptr<ProgramChannels> program;
    std::string program_name;  // the command's first word, for log lines
    bool program_exited = false;  // a program's handle, after its exit (its channels are freed)
    uint64_t generation = 0;
    bool ready = true;           // a program: said READY=1, accepted, or its ready-timeout passed
    int64_t stop_sent_ns = 0;    // a program asked to stop (its stop signal) at this time; 0: not yet
    bool killed = false;         // a program SIGKILLed after --drain-timeout
    // A program started while another serves its slot (a reload, with steering): its own TCP
    // sockets (group, socket), out of selection until it is ready; then they become the slot's
    // (program_handover.cc).
    std::vector<std::pair<size_t, Fd>> own_sockets;
    // A program whose slot's sockets went to its successor: it empties their queues (nothing
    // new reaches them) and gets its stop signal once it has read what it accepted.
    std::shared_ptr<std::vector<Fd>> handed_over;
    int64_t handed_over_ns = 0;
    int64_t queue_empty_ns = 0;  // since when its old queues have been found empty; 0: not
  };
  struct SlotState {
    int64_t backoff_ms = 0;
    std::unique_ptr<Timer> restart_timer;
    bool rescued = false;  // out of selection, its old listener shut down, waiting for the worker
    bool restart_pending = false;  // its restart timer is armed (a crash-loop back-off)
    // herdless run: what the kernel tells of the slot (kernel_load.cc) and its last exit.
    std::string last_exit;
    bool ever_ready = false;  // some program of the slot became ready
    int exits_unready = 0;    // programs of the slot that exited before any was ready
    uint64_t accepted_total = 0;  // connections taken from its queues so far
    uint32_t queued = 0;
    int64_t open = -1;            // accepted and still open (-1: unknown, no kernel accounting)
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
  // Takes the slot out of selection and gives it fresh TCP sockets, shutting the old ones
  // down so their queues migrate; returns the groups whose socket was replaced.
  std::vector<size_t> unlisten_slot(int slot);
  void readmit(int slot);
  // herdless run (supervisor_programs.cc).
  bool runs_programs() const { return options_.config.program.has_value(); }
  Result<void> start_programs();
  void spawn_program(int slot);
  void stop_handle(Handle& handle);
  void program_tick();
  void check_readiness(Handle& handle, const ServingProbe& probe);
  void retire_superseded(int slot);
  void roll_programs();
  void rescue_program(int slot, int64_t progress_age_ms, uint32_t queued);
  // A new program's own sockets, handed over when it is ready (program_handover.cc).
  std::vector<std::pair<size_t, Fd>> sockets_beside(int slot);
  std::shared_ptr<std::vector<Fd>> hand_over(Handle& successor);
  void drain_handed_over(Handle& handle, int64_t now);
  void flush_old_queues(Handle& handle);  // at its stop signal: what waits in them migrates
  std::set<uint64_t> program_side_inodes() const;  // listening, but not in the table
  // Kernel-side load of program slots, written into the steering state (kernel_load.cc).
  void sample_slots();
  // The port and the supervisor's death (supervisor_ownership.cc): the SK_LOOKUP program,
  // the watch for foreign listeners, the orphan keeper, and taking over from the occupants
  // of an earlier supervisor that died.
  Result<void> start_ownership();
  void listeners_changed();  // after a reload or a rescue: the program's sockets and ports
  void watch_port();
  void take_over_orphans();
  void keep_occupant(const Handle& handle);

  SupervisorOptions options_;
  EventLoop loop_;
  ListenerTable listeners_;
  StatsTable stats_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<ConnTracker> tracker_;       // per-slot connection counts; null when off
  std::unique_ptr<SteeringProgram> steering_;  // null under hash steering
  std::unique_ptr<PortOwner> port_owner_;      // null without BPF privilege or with --own-port off
  PortWatch port_watch_;
  std::unique_ptr<Timer> port_timer_;
  std::optional<OrphanKeeper> keeper_;  // process workers and programs only
  std::vector<pid_t> orphans_;          // an earlier supervisor's occupants, stopped once ours are ready
  std::unique_ptr<Timer> orphan_kill_timer_;
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
  // herdless run.
  uint64_t generation_ = 1;  // bumped by every reload
  uint64_t launches_ = 0;    // programs started, for unique notify socket names
  std::unique_ptr<Timer> program_timer_;
  std::unique_ptr<Timer> sample_timer_;
  bool takeover_pending_ = false;  // herdless run: take over (an upgrade, orphans) once every program is ready
  int exit_code_ = 0;  // 1 when herdless gave up (a program that cannot start)
};

}  // namespace herdless
