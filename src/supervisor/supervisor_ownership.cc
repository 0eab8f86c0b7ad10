// Supervisor: the port and the supervisor's own death. The SK_LOOKUP program keeps every
// lookup for our addresses on our sockets; once a second the port watch reports listeners
// that are not ours. The orphan keeper outlives the supervisor and bounds how long its
// occupants serve without one. A supervisor that starts on a port still served by an earlier
// supervisor's orphaned occupants joins the reuseport group (its own steering program then
// picks only its own sockets) and stops them once its own occupants are ready: the queued
// connections of their sockets migrate to ours when they close them.
#include "herdless/supervisor.h"
#include "supervisor/supervisor_naming.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "herdless/accept_probe.h"

namespace herdless {
namespace {

constexpr auto kPortWatchPeriod = std::chrono::milliseconds(1000);

std::vector<uint16_t> udp_ports(const ListenerTable& table) {
  std::vector<uint16_t> ports;
  for (const ListenAddress& address : table.bound_addresses()) {
    if (address.transport == Transport::udp && std::ranges::find(ports, address.port()) == ports.end()) {
      ports.push_back(address.port());
    }
  }
  return ports;
}

std::set<uint64_t> our_inodes(const ListenerTable& table) {
  std::set<uint64_t> inodes;
  for (size_t g = 0; g < table.groups(); ++g) inodes.merge(socket_inodes_of(table.group_fds(g)));
  return inodes;
}

}  // namespace

Result<void> Supervisor::start_ownership() {
  using OwnPort = ServeConfig::OwnPort;
  const ServeConfig& config = options_.config;
  if (config.own_port != OwnPort::off && config.accept == AcceptStrategy::reuseport) {
    auto owner = PortOwner::attach(listeners_);
    if (owner) {
      port_owner_ = std::move(*owner);
    } else if (config.own_port == OwnPort::on) {
      return std::unexpected(owner.error());
    } else {
      // Quiet under auto (the steering line already says when BPF is missing); /stats says
      // owns_port false, and a foreign listener is still reported when one appears.
      spdlog::debug("own-port: cannot attach the SK_LOOKUP program ({}); a more specific bind on our port would "
                   "take its connections (watched and reported)",
                   owner.error().message());
    }
  }
  auto timer = LoopTimer::create(loop_, [this] { watch_port(); });
  if (!timer) return std::unexpected(timer.error());
  port_timer_ = std::move(*timer);
  port_timer_->arm(kPortWatchPeriod, kPortWatchPeriod);
  watch_port();
  orphans_ = port_watch_.orphans();
  if (!orphans_.empty()) {
    const std::string pids = fmt::format("{}", fmt::join(orphans_, " "));
    spdlog::info("taking over the port from {} occupants of an earlier supervisor (pids {}): they stop once ours "
                 "are ready",
                 orphans_.size(), pids);
  }
  // Thread workers die with the supervisor: nothing to keep.
  if (runs_programs() || config.mode == WorkerMode::process) {
    auto keeper = OrphanKeeper::start({config.orphan_timeout, config.drain_timeout});
    if (!keeper) return std::unexpected(keeper.error());
    keeper_ = std::move(*keeper);
  }
  return {};
}

void Supervisor::listeners_changed() {
  if (tracker_) tracker_->set_ports(tcp_ports(listeners_));
  if (port_owner_) {
    if (auto updated = port_owner_->update(listeners_); !updated) {
      spdlog::error("own-port: {}", updated.error().message());
    }
  }
  if (keeper_) keeper_->set_policy({options_.config.orphan_timeout, options_.config.drain_timeout});
}

void Supervisor::watch_port() {
  if (stopping_) return;
  std::set<uint64_t> ours = our_inodes(listeners_);
  ours.merge(program_side_inodes());  // a program's sockets before and after the slot's (a reload)
  port_watch_.check(tcp_ports(listeners_), udp_ports(listeners_), ours, port_owner_ != nullptr);
}

void Supervisor::keep_occupant(const Handle& handle) {
  if (!keeper_ || !handle.worker || handle.worker->pid() == ::getpid()) return;
  if (handle.program) keeper_->add(handle.worker->pid(), options_.config.program->stop_signal, true);
  else keeper_->add(handle.worker->pid(), SIGTERM, false);
}

void Supervisor::take_over_orphans() {
  if (orphans_.empty()) return;
  // Our steering program picks only our sockets: theirs get nothing new, and what waits in
  // them migrates to ours when they close them. A program's whole process group gets its stop
  // signal (a pre-forking server's workers with it); a built-in worker drains on SIGTERM.
  std::vector<int> pidfds;
  std::vector<pid_t> groups;
  for (pid_t pid : orphans_) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) continue;  // gone already
    pidfds.push_back(pidfd);
    const pid_t group = ::getpgid(pid);
    if (runs_programs() && group > 0 && group != ::getpgrp()) {
      if (std::ranges::find(groups, group) == groups.end()) groups.push_back(group);
      continue;
    }
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
  }
  for (pid_t group : groups) ::kill(-group, options_.config.program->stop_signal);
  spdlog::info("took over the port: asked {} occupants of the earlier supervisor to stop", pidfds.size());
  orphans_.clear();
  auto timer = LoopTimer::create(loop_, [pidfds] {
    for (int pidfd : pidfds) {
      pollfd exited{pidfd, POLLIN, 0};  // readable once the process has ended
      if (::poll(&exited, 1, 0) == 0 && ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0) {
        spdlog::warn("an occupant of the earlier supervisor did not stop in time; killed it");
      }
      ::close(pidfd);
    }
  });
  if (!timer) {
    for (int pidfd : pidfds) ::close(pidfd);
    return;
  }
  orphan_kill_timer_ = std::move(*timer);
  orphan_kill_timer_->arm(options_.config.drain_timeout + std::chrono::milliseconds(1000));
}

}  // namespace herdless
