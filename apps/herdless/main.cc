// herdless: entry point. Parses the command line and runs one subcommand.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "commands.h"

std::vector<std::string>& herdless::cli::original_argv() {
  static std::vector<std::string> argv;
  return argv;
}

int main(int argc, char** argv) {
  herdless::cli::original_argv().assign(argv, argv + argc);
  auto logger = spdlog::stderr_color_mt("herdless");
  logger->set_pattern("%^[%Y-%m-%d %H:%M:%S.%e] [%l]%$ %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"herdless: a multi-process SO_REUSEPORT connection server", "herdless"};
  app.set_version_flag("--version", std::string("herdless ") + HERDLESS_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  herdless::cli::add_serve_command(app, exit_code);
  herdless::cli::add_run_command(app, exit_code);
  herdless::cli::add_stats_command(app, exit_code);
  herdless::cli::add_load_command(app, exit_code);
  herdless::cli::add_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "herdless: %s (see herdless --help)\n", e.what());
    return herdless::cli::kExitBadInput;
  }
  return exit_code;
}
