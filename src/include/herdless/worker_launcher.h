// Starting a worker for one slot, as a forked process (--mode process) or a thread
// (--mode thread), and the handle the supervisor keeps to stop it.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <memory>
#include <vector>

#include "herdless/error.h"
#include "herdless/serve_config.h"
#include "herdless/service_factories.h"
#include "herdless/worker_counters.h"
#include "steer_shared.h"

namespace herdless {

struct LaunchSpec {
  int slot = 0;
  std::vector<int> listen_fds;  // the slot's sockets (the supervisor keeps owning them)
  const ServeConfig* config = nullptr;
  const ServiceFactories* services = nullptr;  // a library server's services; null: built-in
  WorkerCounters* counters = nullptr;
  herdless_slot* steer_slot = nullptr;  // null under hash steering
  int channel_fd = -1;                  // the worker's end of its supervisor channel
  pthread_mutex_t* accept_mutex = nullptr;
  int pin_cpu = -1;
};

class RunningWorker {
 public:
  virtual ~RunningWorker() = default;
  // Starts the drain: stop accepting, finish active connections (up to --drain-timeout).
  virtual void stop() = 0;
  // Ends it now (process: SIGKILL; a thread cannot be killed and ends at its drain deadline).
  virtual void kill() = 0;
  // The process id (the supervisor's own pid for a thread).
  virtual pid_t pid() const = 0;
  // Thread mode: true once the thread has returned (it is then joined).
  virtual bool reap_if_finished() = 0;
};

// fork(): the child closes every descriptor but stdio and the slot's sockets, runs a Worker
// and _exit()s. The caller must be single-threaded.
Result<std::unique_ptr<RunningWorker>> launch_process_worker(const LaunchSpec& spec);

// A thread that runs a Worker on dup()s of the slot's sockets; writes to `notify_fd`
// (an eventfd) when it returns.
Result<std::unique_ptr<RunningWorker>> launch_thread_worker(const LaunchSpec& spec, int notify_fd);

}  // namespace herdless
