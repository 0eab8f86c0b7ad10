// `herdless run [flags] -- COMMAND [ARG...]`: any server program in every worker slot, on
// herdless's per-slot SO_REUSEPORT sockets (fd 3, 4, ... with LISTEN_FDS / EINHORN_FDS),
// with kernel steering and restarts that lose no queued connection.
#include <memory>

#include "commands.h"
#include "server_flags.h"

namespace herdless::cli {

void add_run_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* run = app.add_subcommand(
      "run", "Run COMMAND in every worker slot on herdless's sockets: herdless run [flags] -- COMMAND [ARG...]");
  add_server_flags(run, *flags, Subcommand::run);
  // Everything after "--" is the command, its own flags included.
  run->add_option("command", flags->command, "COMMAND [ARG...] after --; {worker} becomes the slot index");
  run->callback([flags, &exit_code] { exit_code = run_server(*flags, Subcommand::run); });
}

}  // namespace herdless::cli
