// `herdless load`: drives a target with the TCP load generator and prints what it measured:
// a human summary (rate, failures by kind, latency percentiles, per-worker shares) or JSON.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "herdless/duration.h"
#include "herdless/load/load_generator.h"

namespace herdless::cli {
namespace {

using load::LoadOptions;
using load::LoadResult;

struct LoadFlags {
  std::string target;
  std::string mode = "connect";
  int concurrency = 64;
  std::string duration = "3s";
  std::string timeout = "1s";
  std::string send;
  int connections = 0;
  bool json = false;
  bool no_spread = false;
};

// Decodes \n, \r, \t, \0 and \\ so that a request line can be written on the command line.
std::string decode_escapes(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    switch (const char next = text[++i]) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '0': out += '\0'; break;
      case '\\': out += '\\'; break;
      default: out += '\\'; out += next; break;
    }
  }
  return out;
}

Result<LoadOptions> options_from(const LoadFlags& flags) {
  LoadOptions options;
  auto target = flags.target.find("://") == std::string::npos ? parse_host_port(flags.target)
                                                               : parse_listen_url(flags.target);
  if (!target) return std::unexpected(target.error());
  options.target = *target;
  if (flags.mode == "connect") {
    options.mode = LoadOptions::Mode::connect;
  } else if (flags.mode == "hold") {
    options.mode = LoadOptions::Mode::hold;
  } else {
    return input_error("invalid mode (want connect or hold)", flags.mode);
  }
  auto duration = parse_duration(flags.duration);
  if (!duration) return std::unexpected(duration.error());
  auto timeout = parse_duration(flags.timeout);
  if (!timeout) return std::unexpected(timeout.error());
  options.duration = *duration;
  options.timeout = *timeout;
  options.concurrency = flags.concurrency;
  options.send = decode_escapes(flags.send);
  options.hold_connections = flags.connections;
  options.spread_sources = !flags.no_spread;
  if (auto valid = load::validate_load_options(options); !valid) return std::unexpected(valid.error());
  return options;
}

// Lifts the soft RLIMIT_NOFILE towards the hard limit when the run needs more sockets;
// if that is not enough, the connections beyond the limit fail as "other" (EMFILE).
void raise_fd_limit(const LoadOptions& options) {
  const int sockets = options.mode == LoadOptions::Mode::hold ? options.hold_connections : options.concurrency;
  const rlim_t wanted = static_cast<rlim_t>(sockets) + 64;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

double share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

void print_summary(const LoadOptions& options, const LoadResult& r) {
  const bool hold = options.mode == LoadOptions::Mode::hold;
  fmt::print("load {}: mode {}, concurrency {}, {:.2f} s\n", options.target.url(), hold ? "hold" : "connect",
             options.concurrency, r.seconds);
  if (hold) {
    fmt::print("  held          {} of {} (connected {}, {:.0f} conn/s while opening)\n", r.completed,
               r.attempted, r.connected, r.connections_per_second);
  } else {
    fmt::print("  completed     {} of {} attempted, {:.0f} conn/s\n", r.completed, r.attempted,
               r.connections_per_second);
  }
  fmt::print("  failed        {} (timed out {}, refused {}, reset {}, closed {}, other {})\n", r.failed,
             r.timed_out, r.refused, r.reset, r.closed, r.other);
  if (!r.first_error.empty()) fmt::print("  first error   {}\n", r.first_error);
  const auto& h = r.latency_us;
  fmt::print("  {:<13} p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})\n",
             hold ? "connect us" : "latency us", h.value_at_percentile(50), h.value_at_percentile(90),
             h.value_at_percentile(99), h.value_at_percentile(99.9), h.max(), h.count());
  for (const auto& [worker, count] : r.per_worker) {
    fmt::print("  worker {:<6} {:>10}  {:5.1f}%\n", worker, count, share(count, r.completed));
  }
  fmt::print("  unattributed  {:>10}  {:5.1f}%\n", r.unattributed, share(r.unattributed, r.completed));
}

int run(const LoadFlags& flags) {
  auto options = options_from(flags);
  if (!options) {
    std::fprintf(stderr, "herdless: %s\n", options.error().message().c_str());
    return kExitBadInput;
  }
  raise_fd_limit(*options);
  auto result = load::run_load(*options);
  if (!result) {
    std::fprintf(stderr, "herdless: %s\n", result.error().message().c_str());
    return 1;
  }
  if (!flags.json) {
    print_summary(*options, *result);
    return 0;
  }
  nlohmann::json out = load::to_json(*result);
  out["target"] = options->target.url();
  out["mode"] = flags.mode;
  out["concurrency"] = options->concurrency;
  out["duration_ms"] = options->duration.count();
  out["timeout_ms"] = options->timeout.count();
  if (options->mode == LoadOptions::Mode::hold) out["connections"] = options->hold_connections;
  fmt::print("{}\n", out.dump());
  return 0;
}

}  // namespace

void add_load_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<LoadFlags>();
  CLI::App* cmd = app.add_subcommand("load", "Drive a TCP server with connections and measure it");
  cmd->add_option("--target", flags->target, "tcp://HOST:PORT to connect to")->required();
  cmd->add_option("--mode", flags->mode, "connect (closed loop of short connections) or hold")
      ->capture_default_str();
  cmd->add_option("--concurrency", flags->concurrency, "connections in flight (hold: connecting)")
      ->capture_default_str();
  cmd->add_option("--duration", flags->duration, "connect: how long to start connections; hold: how long to hold")
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout, "per-connection deadline (hold: to connect)")->capture_default_str();
  cmd->add_option("--send", flags->send, "text to send once connected (\\n, \\r, \\t escapes)");
  cmd->add_option("--connections", flags->connections, "hold: number of connections to hold");
  cmd->add_flag("--no-spread-sources", flags->no_spread, "connect from 127.0.0.1 only, not 127.100.x.y");
  cmd->add_flag("--json", flags->json, "print the result as one JSON object");
  cmd->callback([flags, &exit_code] { exit_code = run(*flags); });
}

}  // namespace herdless::cli
