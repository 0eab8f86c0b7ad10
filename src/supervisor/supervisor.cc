// Supervisor: worker lifecycle, signals, reload and stop.
#include "herdless/supervisor.h"

#include "supervisor/supervisor_naming.h"

#include "herdless/fd_passing.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <spdlog/spdlog.h>

namespace herdless {
namespace {

constexpr size_t kMaxSlots = 1024;
constexpr int64_t kCrashLoopWindowNs = 1'000'000'000;  // died within 1s of starting
constexpr int64_t kMaxBackoffMs = 5'000;
constexpr int kGiveUpAfter = 3;  // herdless run: exits of a slot's program before it was ever ready

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR2}) sigaddset(&set, sig);
  return set;
}


}  // namespace

Supervisor::Supervisor(SupervisorOptions options, EventLoop loop)
    : options_(std::move(options)),
      loop_(std::move(loop)),
      signal_handler_([this](uint32_t) { on_signal(); }),
      thread_exit_handler_([this](uint32_t) { reap_threads(); }) {}

Supervisor::~Supervisor() = default;

Result<std::unique_ptr<Supervisor>> Supervisor::create(SupervisorOptions options) {
  auto loop = EventLoop::create();
  if (!loop) return std::unexpected(loop.error());
  std::unique_ptr<Supervisor> supervisor(new Supervisor(std::move(options), std::move(*loop)));
  auto started = supervisor->start();
  if (!started) return std::unexpected(started.error());
  return supervisor;
}

Result<void> Supervisor::start() {
  const ServeConfig& config = options_.config;
  // Signals are blocked in every thread and child and read from a signalfd instead.
  const sigset_t set = handled_signals();
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return sys_error("pthread_sigmask", "");
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return sys_error("signalfd", "");
  if (auto r = loop_.add(signal_fd_.get(), EPOLLIN, &signal_handler_); !r) return r;
  thread_exit_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!thread_exit_fd_) return sys_error("eventfd", "");
  if (auto r = loop_.add(thread_exit_fd_.get(), EPOLLIN, &thread_exit_handler_); !r) return r;

  auto inherited = take_inherited_from_environment();
  if (!inherited) return std::unexpected(inherited.error());
  inherited_ = std::move(*inherited);
  const Inherited* handed = inherited_ ? &*inherited_ : nullptr;
  char self[4096] = {};
  if (const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1); n > 0) exec_path_.assign(self, static_cast<size_t>(n));

  auto stats = StatsTable::create(kMaxSlots);
  if (!stats) return std::unexpected(stats.error());
  stats_ = std::move(*stats);

  if (config.accept != AcceptStrategy::reuseport &&
      (config.steer != SteerMode::hash || config.udp.mode != UdpSteer::hash)) {
    spdlog::info("accept {}: one shared socket per address, so no steering", accept_strategy_name(config.accept));
    options_.config.steer = SteerMode::hash;
    options_.config.udp.mode = UdpSteer::hash;
  }
  if (config.accept == AcceptStrategy::accept_mutex) {
    auto mutex = SharedMutex::create();
    if (!mutex) return std::unexpected(mutex.error());
    accept_mutex_ = std::move(*mutex);
  }
  auto table = ListenerTable::open(config.listen, socket_slots(config), config.backlog, nullptr, handed,
                                   !runs_programs());
  if (!table) return std::unexpected(table.error());
  listeners_ = std::move(*table);

  start_steering();
  if (config.admin) {
    auto admin = AdminServer::create(loop_, *config.admin, [this] { return snapshot(); },
                                     handed != nullptr ? handed->admin_fd : -1);
    if (!admin) return std::unexpected(admin.error());
    admin_ = std::move(*admin);
  }
  auto kill_timer = LoopTimer::create(loop_, [this] {
    for (Handle& h : handles_) {
      spdlog::warn("worker {} (pid {}) did not drain in time; killing it", h.slot, h.worker->pid());
      h.worker->kill();
    }
  });
  if (!kill_timer) return std::unexpected(kill_timer.error());
  kill_timer_ = std::move(*kill_timer);
  if (steering_) {
    auto stall_timer = LoopTimer::create(loop_, [this] { check_stalls(); });
    if (!stall_timer) return std::unexpected(stall_timer.error());
    stall_timer_ = std::move(*stall_timer);
    const auto period = std::clamp(config.stall_timeout / 5, std::chrono::milliseconds(10), std::chrono::milliseconds(100));
    stall_timer_->arm(period, period);
  }
  if (auto owned = start_ownership(); !owned) return owned;
  if (runs_programs()) return start_programs();
  return {};
}

void Supervisor::start_steering() {
  ServeConfig& config = options_.config;
  if (listeners_.serves(Transport::tcp) && config.steer == SteerMode::hash) {
    spdlog::info("steer hash: no eBPF program, so queued connections cannot migrate (a stalled worker's queue "
                 "waits for it)");
  }
  if (!SteeringProgram::wanted(config.steer, config.udp, listeners_)) return;
  using Accounting = ServeConfig::KernelAccounting;
  const bool accounting = config.kernel_accounting == Accounting::on ||
                          (config.kernel_accounting == Accounting::automatic && runs_programs());
  std::optional<Error> tracker_error;
  if (accounting && config.steer != SteerMode::hash) {
    auto tracker = ConnTracker::attach();
    if (tracker) {
      tracker_ = std::move(*tracker);
      tracker_->set_ports(tcp_ports(listeners_));
    } else {
      tracker_error = tracker.error();  // said below only if BPF works otherwise
    }
  }
  auto program = SteeringProgram::attach(config.steer, config.udp, listeners_, config.stall_threshold,
                                         inherited_ ? &*inherited_ : nullptr, tracker_.get());
  if (!program) {
    spdlog::warn("steering: cannot use the eBPF program ({}); using the kernel's hash: queued connections "
                 "cannot migrate (a stalled worker's queue waits for it){}",
                 program.error().message(),
                 config.udp.mode == UdpSteer::session ? " and UDP sessions follow the 4-tuple, not the key" : "");
    config.steer = SteerMode::hash;
    config.udp.mode = UdpSteer::hash;
    tracker_.reset();
    return;
  }
  steering_ = std::move(*program);
  if (tracker_error) {
    spdlog::warn("kernel accounting: {}; steering sees each slot's queue but not its open connections",
                 tracker_error->message());
  }
}

int Supervisor::run() {
  const ServeConfig& config = options_.config;
  for (const ListenAddress& address : listeners_.bound_addresses()) {
    const std::string steer = address.transport == Transport::tcp ? steer_mode_name(config.steer)
                              : config.udp.mode == UdpSteer::session
                                  ? "session, key " + session_key_text(config.udp.key)
                                  : std::string("hash");
    if (runs_programs()) {
      spdlog::info("listening on {} with {} programs (steer {}, fd-env {})", address.url(), config.workers, steer,
                   fd_conventions_text(config.program->conventions));
    } else {
      spdlog::info("listening on {} with {} workers ({} mode, service {}, steer {}, accept {})", address.url(),
                   config.workers, mode_name(config.mode),
                   options_.services ? std::string_view("the program's own") : service_name(config.service), steer,
                   accept_strategy_name(config.accept));
    }
  }
  if (admin_) spdlog::info("admin on http://{} (GET /stats, /metrics)", admin_->address().host_port());
  resize_slots();
  write_pid_file();
  for (int slot = 0; slot < config.workers; ++slot) spawn(slot);
  // Programs may need seconds to start: the old supervisor of an upgrade drains only once
  // every new program is ready (program_tick()).
  if (runs_programs() && (inherited_ || !orphans_.empty())) {
    takeover_pending_ = true;
  } else {
    take_over_from_parent();
    take_over_orphans();
  }
  loop_.run();
  remove_pid_file();
  spdlog::info("stopped");
  return exit_code_;
}

int Supervisor::socket_slots(const ServeConfig& config) const {
  return config.accept == AcceptStrategy::reuseport ? config.workers : 1;
}

void Supervisor::resize_slots() {
  const size_t wanted = static_cast<size_t>(options_.config.workers);
  while (slots_.size() < wanted) {
    const int slot = static_cast<int>(slots_.size());
    SlotState state;
    auto timer = LoopTimer::create(loop_, [this, slot] { spawn(slot); });
    if (timer) state.restart_timer = std::move(*timer);
    slots_.push_back(std::move(state));
  }
  slots_.resize(wanted);
}

void Supervisor::spawn(int slot) {
  if (stopping_ || slot >= options_.config.workers) return;
  if (static_cast<size_t>(slot) < slots_.size()) slots_[static_cast<size_t>(slot)].restart_pending = false;
  if (runs_programs()) {
    spawn_program(slot);
    return;
  }
  LaunchSpec spec;
  spec.slot = slot;
  spec.listen_fds = listeners_.slot_fds(options_.config.accept == AcceptStrategy::reuseport ? slot : 0);
  spec.accept_mutex = accept_mutex_.get();
  spec.config = &options_.config;
  spec.services = options_.services.get();
  spec.counters = &stats_.slot(static_cast<size_t>(slot));
  spec.steer_slot = steering_ ? steering_->slot_state(slot) : nullptr;
  if (options_.config.pin_workers) {
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    spec.pin_cpu = cpus > 0 ? slot % static_cast<int>(cpus) : -1;
  }
  auto channel = make_channel();
  if (!channel) {
    spdlog::error("cannot start worker {}: {}", slot, channel.error().message());
    schedule_restart(slot);
    return;
  }
  spec.channel_fd = channel->second.get();
  auto worker = options_.config.mode == WorkerMode::process ? launch_process_worker(spec)
                                                            : launch_thread_worker(spec, thread_exit_fd_.get());
  if (!worker) {
    spdlog::error("cannot start worker {}: {}", slot, worker.error().message());
    schedule_restart(slot);
    return;
  }
  Handle handle;
  handle.slot = slot;
  handle.worker = std::move(*worker);
  handle.started_ns = monotonic_ns();
  handle.channel = std::move(channel->first);
  handles_.push_back(std::move(handle));
  keep_occupant(handles_.back());
  readmit(slot);  // a new worker starts on the slot's current sockets
}

void Supervisor::on_signal() {
  signalfd_siginfo info{};
  while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    switch (info.ssi_signo) {
      case SIGCHLD: reap_processes(); break;
      case SIGHUP: reload(); break;
      case SIGUSR2: upgrade(); break;
      case SIGTERM:
      case SIGINT: begin_stop(); break;
      default: break;
    }
  }
}

void Supervisor::reap_processes() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == upgrade_pid_) {
      upgrade_pid_ = 0;
      spdlog::error("upgrade failed: the new binary (pid {}) exited with {}; still serving", pid,
                    WIFSIGNALED(status) ? std::string("signal ") + ::strsignal(WTERMSIG(status))
                                        : "code " + std::to_string(WEXITSTATUS(status)));
      continue;
    }
    for (size_t i = 0; i < handles_.size(); ++i) {
      if (handles_[i].worker->pid() != pid) continue;
      const std::string how = WIFSIGNALED(status) ? std::string("killed by signal ") + ::strsignal(WTERMSIG(status))
                                                  : "exited with code " + std::to_string(WEXITSTATUS(status));
      on_worker_exit(i, how);
      break;
    }
  }
  maybe_finish_stop();
}

void Supervisor::reap_threads() {
  uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(thread_exit_fd_.get(), &count, sizeof count);
  for (size_t i = 0; i < handles_.size();) {
    if (handles_[i].worker->reap_if_finished()) {
      on_worker_exit(i, "returned");
    } else {
      ++i;
    }
  }
  maybe_finish_stop();
}

void Supervisor::on_worker_exit(size_t index, const std::string& how) {
  Handle handle = std::move(handles_[index]);
  handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(index));
  if (keeper_ && handle.worker->pid() != ::getpid()) keeper_->remove(handle.worker->pid());
  if (handle.program && static_cast<size_t>(handle.slot) < slots_.size()) {
    slots_[static_cast<size_t>(handle.slot)].last_exit = how;
  }
  if (handle.program) {
    // Its pipes may have events in the batch being dispatched: free them after it.
    std::shared_ptr<ProgramChannels> channels(std::move(handle.program));
    loop_.defer([channels] { channels->drain(); });
    handle.program_exited = true;
  }
  if (stopping_ || handle.retiring) {
    if (handle.program_exited) {
      spdlog::info("worker {} (pid {}, generation {}) {} after its stop", handle.slot, handle.worker->pid(),
                   handle.generation, how);
    } else {
      spdlog::debug("worker {} (pid {}) {} after draining", handle.slot, handle.worker->pid(), how);
    }
    return;
  }
  if (handle.slot >= options_.config.workers) return;
  WorkerCounters& counters = stats_.slot(static_cast<size_t>(handle.slot));
  counters.restarts.fetch_add(1, std::memory_order_relaxed);
  counters.pid.store(0, std::memory_order_relaxed);
  // A dead worker's connections are gone: its active count no longer holds.
  counters.active.store(0, std::memory_order_relaxed);
  SlotState& state = slots_[static_cast<size_t>(handle.slot)];
  if (monotonic_ns() - handle.started_ns < kCrashLoopWindowNs) {
    state.backoff_ms = state.backoff_ms == 0 ? 100 : std::min(state.backoff_ms * 2, kMaxBackoffMs);
  } else {
    state.backoff_ms = 0;
  }
  if (handle.program_exited && !state.ever_ready && ++state.exits_unready >= kGiveUpAfter) {
    // It never started: restarting it forever would only repeat this line.
    spdlog::error("worker {}: '{}' ended {} times without ever becoming ready (last: {}); giving up",
                  handle.slot, handle.program_name, state.exits_unready, how);
    exit_code_ = 1;
    begin_stop();
    return;
  }
  spdlog::warn("worker {} (pid {}) {}; restarting{}", handle.slot, handle.worker->pid(), how,
               state.backoff_ms > 0 ? " in " + std::to_string(state.backoff_ms) + "ms" : "");
  // A back-off leaves the slot without a worker for a while (a crash loop, a library service
  // whose factory fails): out of selection, and what waits in its queue migrates to the
  // others; spawn() readmits it on the fresh sockets.
  if (state.backoff_ms > 0 && !runs_programs() && steering_ && options_.config.steer != SteerMode::hash) {
    unlisten_slot(handle.slot);
  }
  schedule_restart(handle.slot);
}

void Supervisor::schedule_restart(int slot) {
  SlotState& state = slots_[static_cast<size_t>(slot)];
  if (state.backoff_ms == 0 || !state.restart_timer) {
    spawn(slot);
    return;
  }
  state.restart_pending = true;
  state.restart_timer->arm(std::chrono::milliseconds(state.backoff_ms));
}

void Supervisor::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("stopping: draining {} workers (up to {}ms)", handles_.size(), options_.config.drain_timeout.count());
  for (Handle& h : handles_) stop_handle(h);
  listeners_ = ListenerTable();  // the workers hold the sockets until their final accept
  if (admin_) admin_.reset();
  kill_timer_->arm(options_.config.drain_timeout + std::chrono::milliseconds(1000));
  maybe_finish_stop();
}

void Supervisor::maybe_finish_stop() {
  if (stopping_ && handles_.empty()) loop_.stop();
}

}  // namespace herdless
