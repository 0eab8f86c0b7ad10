// Process and thread workers.
#include "herdless/worker_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <thread>

#include "herdless/worker.h"

namespace herdless {
namespace {

WorkerOptions worker_options(const LaunchSpec& spec, std::vector<Fd> listeners, Fd channel, bool process) {
  const ServeConfig& config = *spec.config;
  WorkerOptions options;
  options.index = spec.slot;
  options.listeners = std::move(listeners);
  options.service = config.service;
  options.message = config.message;
  options.http_body = config.http_body;
  options.http_max_body = config.http_max_body;
  options.udp_max_datagram = config.udp_max_datagram;
  options.tcp_steered = spec.steer_slot != nullptr && config.steer != SteerMode::hash;
  options.udp_steered = spec.steer_slot != nullptr && config.udp.mode == UdpSteer::session;
  options.idle_timeout = config.idle_timeout;
  options.http_header_timeout = config.http_header_timeout;
  options.max_conns = config.max_conns;
  options.drain_timeout = config.drain_timeout;
  options.counters = spec.counters;
  options.services = spec.services;
  options.workers = config.workers;
  options.stop_on_signals = process;
  options.steer_slot = spec.steer_slot;
  options.pin_cpu = spec.pin_cpu;
  options.channel = std::move(channel);
  options.accept = config.accept;
  options.accept_batch = config.accept_batch;
  options.accept_mutex = spec.accept_mutex;
  return options;
}

// Closes every descriptor above stderr except `keep`.
void close_all_but(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned first = 3;
  for (int fd : keep) {
    if (fd < 3) continue;
    if (static_cast<unsigned>(fd) > first) ::close_range(first, static_cast<unsigned>(fd) - 1, 0);
    first = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(first, ~0U, 0);
}

[[noreturn]] void run_child(const LaunchSpec& spec, pid_t parent) {
  // The worker outlives a supervisor that dies (its sockets keep serving); the orphan keeper
  // or a new supervisor stops it. Named for them (and for ps): "herdless w<slot>".
  if (::getppid() != parent) ::_exit(0);
  char name[16];
  std::snprintf(name, sizeof name, "herdless w%d", spec.slot);
  ::prctl(PR_SET_NAME, name);
  std::vector<int> keep = spec.listen_fds;
  keep.push_back(spec.channel_fd);
  close_all_but(keep);
  std::vector<Fd> listeners;
  for (int fd : spec.listen_fds) listeners.emplace_back(fd);
  auto worker = Worker::create(worker_options(spec, std::move(listeners), Fd(spec.channel_fd), true));
  if (!worker) {
    spdlog::error("worker {}: {}", spec.slot, worker.error().message());
    ::_exit(1);
  }
  const int code = (*worker)->run();
  worker->reset();  // the services' destructors run (a library service may flush or log there)
  ::_exit(code);
}

class ProcessWorker final : public RunningWorker {
 public:
  explicit ProcessWorker(pid_t pid) : pid_(pid) {}
  void stop() override { ::kill(pid_, SIGTERM); }
  void kill() override { ::kill(pid_, SIGKILL); }
  pid_t pid() const override { return pid_; }
  bool reap_if_finished() override { return false; }  // reaped by the supervisor's waitpid

 private:
  pid_t pid_;
};

class ThreadWorker final : public RunningWorker {
 public:
  ThreadWorker(std::unique_ptr<Worker> worker, int notify_fd) : worker_(std::move(worker)) {
    thread_ = std::thread([this, notify_fd] {
      worker_->run();
      done_.store(true);
      const uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(notify_fd, &one, sizeof one);
    });
  }
  ~ThreadWorker() override {
    if (thread_.joinable()) {
      worker_->request_stop();
      thread_.join();
    }
  }
  void stop() override { worker_->request_stop(); }
  void kill() override {}
  pid_t pid() const override { return ::getpid(); }
  bool reap_if_finished() override {
    if (!done_.load()) return false;
    if (thread_.joinable()) thread_.join();
    return true;
  }

 private:
  std::unique_ptr<Worker> worker_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<RunningWorker>> launch_process_worker(const LaunchSpec& spec) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", "worker " + std::to_string(spec.slot));
  if (pid == 0) run_child(spec, parent);
  return std::make_unique<ProcessWorker>(pid);
}

Result<std::unique_ptr<RunningWorker>> launch_thread_worker(const LaunchSpec& spec, int notify_fd) {
  std::vector<Fd> listeners;
  for (int fd : spec.listen_fds) {
    Fd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!copy) return sys_error("dup", "listener of worker " + std::to_string(spec.slot));
    listeners.push_back(std::move(copy));
  }
  Fd channel(::fcntl(spec.channel_fd, F_DUPFD_CLOEXEC, 3));
  if (!channel) return sys_error("dup", "channel of worker " + std::to_string(spec.slot));
  auto worker = Worker::create(worker_options(spec, std::move(listeners), std::move(channel), false));
  if (!worker) return std::unexpected(worker.error());
  return std::make_unique<ThreadWorker>(std::move(*worker), notify_fd);
}

}  // namespace herdless
