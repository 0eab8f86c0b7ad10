// ProgramConfig: what `herdless run` adds to the shared settings: the command each slot runs,
// which descriptor conventions it is told about, how it is stopped, when it counts as ready
// and where its output goes. Present in ServeConfig only under `herdless run`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "herdless/error.h"

namespace herdless {

// Descriptor conventions announced in the environment (a bit set).
enum FdConvention : unsigned {
  kFdSystemd = 1,  // LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (sd_listen_fds)
  kFdEinhorn = 2,  // EINHORN_FDS
};

enum class ProgramOutput {
  prefix,   // each line of stdout/stderr prefixed with the slot and pid, through the supervisor
  inherit,  // the supervisor's own stdout/stderr, untouched (no copy through the supervisor)
};

struct ProgramConfig {
  std::vector<std::string> command;  // "{worker}" in any element becomes the slot index
  unsigned conventions = kFdSystemd | kFdEinhorn;
  int stop_signal = 15;  // SIGTERM; then SIGKILL after --drain-timeout
  // Ready on sd_notify READY=1, on its first accept, or once this long has passed.
  std::chrono::milliseconds ready_timeout{30'000};
  ProgramOutput output = ProgramOutput::prefix;
};

// "systemd,einhorn", "systemd", "einhorn", "none".
Result<unsigned> parse_fd_conventions(std::string_view text);
std::string fd_conventions_text(unsigned conventions);
// "TERM", "SIGTERM", "15" -> 15.
Result<int> parse_signal(std::string_view text);
// The program file COMMAND[0] resolves to (PATH search without a '/'), or why it cannot run.
Result<std::string> resolve_command(const std::string& name);

}  // namespace herdless
