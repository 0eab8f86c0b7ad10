// `herdless serve`: the built-in workers (hello, echo, http) under the supervisor.
#include <memory>

#include "commands.h"
#include "server_flags.h"

namespace herdless::cli {

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* serve = app.add_subcommand("serve", "Run the server: a supervisor and its workers");
  add_server_flags(serve, *flags, Subcommand::serve);
  serve->callback([flags, &exit_code] { exit_code = run_server(*flags, Subcommand::serve); });
}

}  // namespace herdless::cli
