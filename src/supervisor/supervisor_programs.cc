// Supervisor: `herdless run`. Each slot holds a user's program started on the slot's sockets
// (program_launcher.cc). A program is ready when it says READY=1 on its notify socket, when
// it (or a process it forked) first accepts, or after --ready-timeout. A reload rolls the
// new generation over the slots; a slot's new program starts on sockets of its own and takes
// the slot's when it is ready, and the old one gets its stop signal once it has emptied its
// old queue (program_handover.cc); a stopped program gets its stop signal, then SIGKILL (its
// whole process group) after --drain-timeout. A stalled program's queue migrates to the
// others and a replacement takes the slot on a fresh socket while the stalled one is asked
// to stop.

#include <sys/socket.h>

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "herdless/accept_probe.h"
#include "herdless/program_launcher.h"
#include "herdless/supervisor.h"

namespace herdless {
namespace {

constexpr auto kProgramTick = std::chrono::milliseconds(50);

// LISTEN_FDNAMES allows no ':': "tcp://[::1]:8080" -> "tcp-[--1]-8080".
std::string fd_name(const ListenAddress& address) {
  // Character by character: GCC 12 -O2 misreads std::string::replace here (-Wrestrict).
  const std::string url = address.url();
  std::string name;
  for (size_t i = 0; i < url.size(); ++i) {
    if (url.compare(i, 3, "://") == 0) {
      name += '-';
      i += 2;
    } else {
      name += url[i] == ':' ? '-' : url[i];
    }
  }
  return name;
}

}  // namespace

Result<void> Supervisor::start_programs() {
  auto tick = LoopTimer::create(loop_, [this] { program_tick(); });
  if (!tick) return std::unexpected(tick.error());
  program_timer_ = std::move(*tick);
  program_timer_->arm(kProgramTick, kProgramTick);
  if (steering_ && options_.config.steer != SteerMode::hash) {
    auto sample = LoopTimer::create(loop_, [this] { sample_slots(); });
    if (!sample) return std::unexpected(sample.error());
    sample_timer_ = std::move(*sample);
    // Ten samples per stall threshold, so a stall is seen within ~1.1 thresholds.
    const auto period = std::clamp(options_.config.stall_threshold / 10, std::chrono::milliseconds(2),
                                   std::chrono::milliseconds(50));
    sample_timer_->arm(period, period);
  }
  return {};
}

void Supervisor::spawn_program(int slot) {
  const ServeConfig& config = options_.config;
  const ProgramConfig& program = *config.program;
  const std::string tag = fmt::format("{}/{}/{}", slot, generation_, ++launches_);
  auto channels = ProgramChannels::create(loop_, tag, program.output == ProgramOutput::prefix);
  if (!channels) {
    spdlog::error("cannot start worker {}: {}", slot, channels.error().message());
    schedule_restart(slot);
    return;
  }
  ProgramLaunch launch;
  launch.slot = slot;
  launch.workers = config.workers;
  launch.listen_fds = listeners_.slot_fds(slot);
  // Beside a program serving the slot (a reload): sockets of its own until it is ready.
  std::vector<std::pair<size_t, Fd>> own = sockets_beside(slot);
  for (const auto& [group, fd] : own) launch.listen_fds[group] = fd.get();
  for (const ListenAddress& address : listeners_.bound_addresses()) launch.fd_names.push_back(fd_name(address));
  launch.program = &program;
  launch.notify_socket = (*channels)->notify_address();
  launch.stdout_fd = (*channels)->child_stdout();
  launch.stderr_fd = (*channels)->child_stderr();
  if (config.pin_workers) {
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    launch.pin_cpu = cpus > 0 ? slot % static_cast<int>(cpus) : -1;
  }
  auto worker = launch_program(launch);
  (*channels)->close_child_ends();
  if (!worker) {
    spdlog::error("cannot start worker {}: {}", slot, worker.error().message());
    schedule_restart(slot);
    return;
  }
  const pid_t pid = (*worker)->pid();
  (*channels)->set_prefix(fmt::format("[w{} {}] ", slot, pid));
  Handle handle;
  handle.slot = slot;
  handle.worker = std::move(*worker);
  handle.started_ns = monotonic_ns();
  handle.program = std::move(*channels);
  handle.generation = generation_;
  handle.program_name = program.command.front();
  handle.ready = false;
  handle.own_sockets = std::move(own);
  handles_.push_back(std::move(handle));
  keep_occupant(handles_.back());
  stats_.slot(static_cast<size_t>(slot)).pid.store(pid, std::memory_order_relaxed);
  spdlog::debug("worker {}: started pid {} (generation {})", slot, pid, generation_);
  // In selection at once: until it accepts, the steering program sees its queue stand still
  // and passes it over after --stall-threshold.
  readmit(slot);
}

void Supervisor::stop_handle(Handle& handle) {
  if (handle.stop_sent_ns != 0) return;
  handle.retiring = true;
  handle.stop_sent_ns = monotonic_ns();
  flush_old_queues(handle);
  handle.worker->stop();
}

void Supervisor::program_tick() {
  const int64_t now = monotonic_ns();
  ServingProbe probe;
  bool probed = false;
  std::vector<int> became_ready;
  for (Handle& h : handles_) {
    if (!h.program) continue;
    if (!h.ready && h.stop_sent_ns == 0) {
      if (!probed) {
        probed = true;
        for (const ListenAddress& address : listeners_.bound_addresses()) {
          if (address.transport == Transport::tcp) probe.ports.push_back(address.port());
        }
        for (int slot = 0; slot < listeners_.slots(); ++slot) probe.listener_inodes.merge(socket_inodes_of(listeners_.slot_fds(slot)));
        probe.listener_inodes.merge(program_side_inodes());  // a new program's own sockets
      }
      check_readiness(h, probe);
      if (h.ready) became_ready.push_back(h.slot);
    }
    const int64_t drain_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.config.drain_timeout).count();
    if (h.stop_sent_ns != 0 && !h.killed && now - h.stop_sent_ns > drain_ns) {
      spdlog::warn("worker {} (pid {}, generation {}) did not stop within {}ms of its stop signal; killing it", h.slot,
                   h.worker->pid(), h.generation, options_.config.drain_timeout.count());
      h.worker->kill();
      h.killed = true;
    }
    if (h.handed_over && h.stop_sent_ns == 0) drain_handed_over(h, now);
  }
  for (int slot : became_ready) retire_superseded(slot);
  if (!became_ready.empty()) roll_programs();
  if (takeover_pending_ && std::ranges::all_of(handles_, [](const Handle& h) { return h.ready || h.retiring; })) {
    takeover_pending_ = false;
    take_over_from_parent();
    take_over_orphans();
  }
}

void Supervisor::check_readiness(Handle& h, const ServingProbe& probe) {
  const char* how = nullptr;
  if (h.program->ready_notified()) {
    how = "said READY=1";
  } else if (const char* evidence = serving_evidence(h.worker->pid(), probe); evidence != nullptr) {
    how = evidence;
  } else if (monotonic_ns() - h.started_ns >
             std::chrono::duration_cast<std::chrono::nanoseconds>(options_.config.program->ready_timeout).count()) {
    how = "reached --ready-timeout";
  }
  if (how == nullptr) return;
  h.ready = true;
  if (static_cast<size_t>(h.slot) < slots_.size()) slots_[static_cast<size_t>(h.slot)].ever_ready = true;
  spdlog::info("worker {} (pid {}, generation {}) is ready: {}", h.slot, h.worker->pid(), h.generation, how);
}

void Supervisor::retire_superseded(int slot) {
  // The newest ready program of the slot stays; every older one of the slot is asked to stop:
  // at once if it never had the slot's sockets, else once it has emptied their queues (it no
  // longer gets new connections once the newest has taken the slot's sockets).
  Handle* newest = nullptr;
  for (Handle& h : handles_) {
    if (h.slot == slot && h.program && h.ready && h.stop_sent_ns == 0 && !h.retiring &&
        (newest == nullptr || h.generation > newest->generation)) {
      newest = &h;
    }
  }
  if (newest == nullptr) return;
  const uint64_t generation = newest->generation;
  std::shared_ptr<std::vector<Fd>> old;
  if (!newest->own_sockets.empty()) old = hand_over(*newest);
  const int64_t now = monotonic_ns();
  bool taken = false;
  for (Handle& h : handles_) {
    if (h.slot != slot || !h.program || !h.retiring || h.stop_sent_ns != 0 || h.generation > generation) continue;
    if (h.handed_over) continue;  // already emptying the sockets of an earlier hand-over
    if (old && h.own_sockets.empty()) {
      h.handed_over = old;  // the program on the sockets just handed over
      h.handed_over_ns = now;
      taken = true;
      continue;
    }
    stop_handle(h);
  }
  if (old && !taken) {
    // Nobody serves the old sockets any more (their program exited): what waits migrates.
    for (const Fd& fd : *old) ::shutdown(fd.get(), SHUT_RD);
  }
}

void Supervisor::roll_programs() {
  if (stopping_) return;
  // A rolling restart: the current generation's next program starts only once the one
  // before it is ready, so a reload never has every slot starting at once (a server that
  // needs a CPU-second to start would otherwise starve the ones still serving). A slot with
  // no program at all (new, or its program gone) starts at once.
  for (int slot = 0; slot < options_.config.workers; ++slot) {
    bool current = false, current_ready = false, any = false;
    for (const Handle& h : handles_) {
      if (h.slot != slot || !h.program || h.stop_sent_ns != 0) continue;
      any = true;
      if (h.generation == generation_) {
        current = true;
        current_ready = current_ready || h.ready;
      }
    }
    if (!any) {
      if (!slots_[static_cast<size_t>(slot)].restart_pending) spawn(slot);
      continue;
    }
    if (!current) {
      spawn(slot);
      return;  // the next slot waits for this one to be ready
    }
    if (!current_ready) return;
  }
}

void Supervisor::rescue_program(int slot, int64_t progress_age_ms, uint32_t queued) {
  unlisten_slot(slot);
  // The stalled program cannot be handed the fresh socket: it is asked to stop (it finishes
  // what it accepted once it runs again) and a new program takes the slot.
  std::vector<pid_t> stalled;
  for (Handle& h : handles_) {
    if (h.slot != slot || !h.program || h.stop_sent_ns != 0) continue;
    stalled.push_back(h.worker->pid());
    stop_handle(h);
  }
  spdlog::warn("worker {} stalled (no accept for {}ms, {} queued): its queue migrated to the other workers; pid {} "
               "asked to stop, a new program takes its slot",
               slot, progress_age_ms, queued, fmt::join(stalled, ","));
  spawn(slot);
}

}  // namespace herdless
