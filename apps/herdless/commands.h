// The subcommands of the herdless binary: each file adds its own CLI11 subcommand whose
// callback stores the process exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace herdless::cli {

void add_serve_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_stats_command(CLI::App& app, int& exit_code);
void add_load_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);

// The command line herdless was started with (a binary upgrade re-runs it).
std::vector<std::string>& original_argv();

// Exit code for bad input (unknown flag, invalid value, unreadable config).
inline constexpr int kExitBadInput = 2;

}  // namespace herdless::cli
