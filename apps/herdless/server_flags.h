// The flags `herdless serve` and `herdless run` share (listen, workers, steering, admin, ...),
// turned into Settings and then into a running Supervisor, so both commands resolve their
// flags and config file the same way.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "herdless/serve_config.h"

namespace herdless::cli {

struct ServerFlags {
  std::vector<std::string> listen;
  std::map<std::string, std::string> values;  // key -> flag value
  std::string config_path;
  bool pin_workers = false;
  std::vector<std::string> command;  // herdless run: COMMAND [ARG...]
  CLI::App* app = nullptr;
};

// Adds every flag with a config key to `app` (under `run`, also the ones that do not apply:
// they are refused with a one-line reason rather than an unknown-flag error).
void add_server_flags(CLI::App* app, ServerFlags& flags, Subcommand subcommand);

// Resolves flags + config file and runs the supervisor; returns the process exit code.
int run_server(const ServerFlags& flags, Subcommand subcommand);

}  // namespace herdless::cli
