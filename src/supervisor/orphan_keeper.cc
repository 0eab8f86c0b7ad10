// OrphanKeeper: the supervisor writes fixed-size records down a pipe (atomic writes); the
// keeper holds a pidfd per occupant and one for the supervisor, and polls them.
#include "herdless/orphan_keeper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "herdless/worker_counters.h"

namespace herdless {

struct OrphanKeeper::Record {
  enum Op : int32_t { add = 1, remove = 2, policy = 3, quit = 4 };
  int32_t op = 0;
  int32_t pid = 0;
  int32_t signal = 0;
  int32_t group = 0;
  int64_t orphan_ms = 0;
  int64_t drain_ms = 0;
};

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

struct Occupant {
  pid_t pid = 0;
  Fd pidfd;
  int signal = SIGTERM;
  bool group = false;
};

bool exited(const Fd& pidfd) {
  pollfd p{pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

void signal_occupant(const Occupant& o, int sig) {
  if (o.group && ::kill(-o.pid, sig) == 0) return;
  ::syscall(SYS_pidfd_send_signal, o.pidfd.get(), sig, nullptr, 0);
}

std::string pid_list(const std::vector<Occupant>& occupants) {
  std::vector<pid_t> pids;
  for (const Occupant& o : occupants) pids.push_back(o.pid);
  return fmt::format("{}", fmt::join(pids, " "));
}

// The supervisor is gone: the occupants serve until a new supervisor stops them, or until
// the orphan timeout; then their stop signal, and SIGKILL after the drain timeout.
[[noreturn]] void outlive(pid_t supervisor, std::vector<Occupant> occupants, OrphanPolicy policy) {
  auto prune = [&] { std::erase_if(occupants, [](const Occupant& o) { return exited(o.pidfd); }); };
  prune();
  if (occupants.empty()) ::_exit(0);
  spdlog::warn("supervisor {} is gone: its {} occupants (pids {}) keep serving; they are stopped in {}ms unless a "
               "new supervisor takes over",
               supervisor, occupants.size(), pid_list(occupants), policy.orphan_timeout.count());
  const int64_t stop_at = monotonic_ns() + policy.orphan_timeout.count() * 1'000'000;
  while (monotonic_ns() < stop_at) {
    ::usleep(100'000);
    prune();
    if (occupants.empty()) {
      spdlog::info("the occupants of supervisor {} are gone (a new supervisor took over)", supervisor);
      ::_exit(0);
    }
  }
  spdlog::warn("no supervisor took over from {} in {}ms: stopping its occupants (pids {})", supervisor,
               policy.orphan_timeout.count(), pid_list(occupants));
  for (const Occupant& o : occupants) signal_occupant(o, o.signal);
  const int64_t kill_at = monotonic_ns() + policy.drain_timeout.count() * 1'000'000;
  while (monotonic_ns() < kill_at) {
    ::usleep(50'000);
    prune();
    if (occupants.empty()) ::_exit(0);
  }
  spdlog::warn("occupants of supervisor {} did not drain in time; killing pids {}", supervisor, pid_list(occupants));
  for (const Occupant& o : occupants) signal_occupant(o, SIGKILL);
  ::_exit(0);
}

template <class Record>
[[noreturn]] void keep(int pipe_fd, pid_t supervisor, OrphanPolicy policy) {
  ::prctl(PR_SET_NAME, "herdless keeper");
  Fd parent(pidfd_open(supervisor));
  if (!parent || ::getppid() != supervisor) ::_exit(0);
  std::vector<Occupant> occupants;
  for (;;) {
    pollfd fds[2] = {{pipe_fd, POLLIN, 0}, {parent.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) ::_exit(1);
    if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
      Record r;
      const ssize_t n = ::read(pipe_fd, &r, sizeof r);
      if (n == static_cast<ssize_t>(sizeof r)) {
        if (r.op == Record::quit) ::_exit(0);
        if (r.op == Record::policy) {
          policy.orphan_timeout = std::chrono::milliseconds(r.orphan_ms);
          policy.drain_timeout = std::chrono::milliseconds(r.drain_ms);
        } else if (r.op == Record::remove) {
          std::erase_if(occupants, [&](const Occupant& o) { return o.pid == r.pid; });
        } else if (r.op == Record::add) {
          Occupant o;
          o.pid = r.pid;
          o.pidfd.reset(pidfd_open(r.pid));
          o.signal = r.signal;
          o.group = r.group != 0;
          if (o.pidfd) occupants.push_back(std::move(o));
        }
        continue;
      }
      if (n == 0) outlive(supervisor, std::move(occupants), policy);  // every writer is gone
    }
    if ((fds[1].revents & POLLIN) != 0) outlive(supervisor, std::move(occupants), policy);
  }
}

}  // namespace

Result<OrphanKeeper> OrphanKeeper::start(const OrphanPolicy& policy) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) return sys_error("pipe2", "orphan keeper");
  Fd read_end(ends[0]);
  Fd write_end(ends[1]);
  const pid_t supervisor = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", "orphan keeper");
  if (pid == 0) {
    // No socket, no map, no pipe of a worker: only stdio and its own pipe.
    const int fd = read_end.release();
    ::dup2(fd, 3);
    ::close_range(4, ~0U, 0);
    keep<Record>(3, supervisor, policy);
  }
  OrphanKeeper keeper;
  keeper.pipe_ = std::move(write_end);
  keeper.pid_ = pid;
  return keeper;
}

OrphanKeeper::~OrphanKeeper() {
  if (!pipe_) return;
  send(Record{Record::quit});
  pipe_.reset();
  // It exits at once: reaped here, so nothing of ours outlives a normal stop (bounded wait).
  for (int i = 0; i < 100 && pid_ > 0; ++i) {
    const pid_t reaped = ::waitpid(pid_, nullptr, WNOHANG);
    if (reaped == pid_ || (reaped < 0 && errno == ECHILD)) return;
    ::usleep(10'000);
  }
}

void OrphanKeeper::send(const Record& record) {
  if (!pipe_) return;
  [[maybe_unused]] const ssize_t n = ::write(pipe_.get(), &record, sizeof record);
}

void OrphanKeeper::add(pid_t pid, int stop_signal, bool group) {
  send(Record{Record::add, pid, stop_signal, group ? 1 : 0});
}

void OrphanKeeper::remove(pid_t pid) { send(Record{Record::remove, pid}); }

void OrphanKeeper::set_policy(const OrphanPolicy& policy) {
  Record r{Record::policy};
  r.orphan_ms = policy.orphan_timeout.count();
  r.drain_ms = policy.drain_timeout.count();
  send(r);
}

}  // namespace herdless
