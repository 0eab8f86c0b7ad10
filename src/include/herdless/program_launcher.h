// Starting a user's program in a worker slot (`herdless run`): fork, the slot's sockets moved
// to fd 3, 4, ... in listen order, the systemd and/or einhorn environment, a process group of
// its own, and exec. No other descriptor of the supervisor reaches the program.
#pragma once

#include <string>
#include <vector>

#include "herdless/error.h"
#include "herdless/program_config.h"
#include "herdless/worker_launcher.h"

namespace herdless {

struct ProgramLaunch {
  int slot = 0;
  int workers = 1;
  std::vector<int> listen_fds;       // the slot's sockets, in listen order (the supervisor keeps them)
  std::vector<std::string> fd_names;  // LISTEN_FDNAMES, one per socket
  const ProgramConfig* program = nullptr;
  std::string notify_socket;  // NOTIFY_SOCKET ("@name": abstract), empty for none
  int stdout_fd = -1;         // where its output goes (-1: the supervisor's own)
  int stderr_fd = -1;
  int pin_cpu = -1;
};

// The environment the program gets for `pid`: the supervisor's own, minus any inherited
// LISTEN_* / EINHORN_FDS / NOTIFY_SOCKET / HERDLESS_* entries, plus the slot's.
std::vector<std::string> program_environment(const ProgramLaunch& launch, pid_t pid, char** base);

// The command with "{worker}" replaced by the slot index.
std::vector<std::string> program_argv(const ProgramLaunch& launch);

// Starts it. stop() sends the configured stop signal and kill() SIGKILL to its whole
// process group (the processes it forked included). The caller must be single-threaded.
Result<std::unique_ptr<RunningWorker>> launch_program(const ProgramLaunch& launch);

}  // namespace herdless
