// OrphanKeeper: a small process the supervisor forks at start, which outlives it. The
// supervisor tells it every occupant (a worker process or a program) it starts and loses.
// When the supervisor dies (kill -9, the OOM killer), its occupants keep serving on the
// sockets they hold: a new supervisor with the same configuration joins the port and stops
// them once its own occupants are ready; without one, the keeper stops them (their stop
// signal, then SIGKILL after the drain timeout) once --orphan-timeout has passed. Either way
// nothing of the old generation runs unmanaged for longer than that, and the keeper exits
// when its occupants are gone. It holds no socket (every descriptor but its pipe is closed).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>

#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless {

struct OrphanPolicy {
  std::chrono::milliseconds orphan_timeout{60'000};  // serving without a supervisor, at most
  std::chrono::milliseconds drain_timeout{10'000};   // after the stop signal, before SIGKILL
};

class OrphanKeeper {
 public:
  // Forks the keeper; the caller must be single-threaded.
  static Result<OrphanKeeper> start(const OrphanPolicy& policy);
  OrphanKeeper() = default;
  OrphanKeeper(OrphanKeeper&&) noexcept = default;
  OrphanKeeper& operator=(OrphanKeeper&&) noexcept = default;
  // Tells it to exit (the supervisor stops normally: it stops its occupants itself).
  ~OrphanKeeper();

  // `group`: the stop signal goes to the occupant's process group (a program leads its own).
  void add(pid_t pid, int stop_signal, bool group);
  void remove(pid_t pid);
  void set_policy(const OrphanPolicy& policy);
  pid_t pid() const { return pid_; }

 private:
  struct Record;
  void send(const Record& record);
  Fd pipe_;
  pid_t pid_ = 0;
};

}  // namespace herdless
