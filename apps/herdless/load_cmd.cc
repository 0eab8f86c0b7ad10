// `herdless load`: drives a target with the load generator (short TCP connections, held
// connections or UDP requests; closed loop or a fixed arrival rate) and prints what it
// measured: a human summary (rate, failures by kind, latency percentiles, per-worker
// shares) or JSON. With --send-alt/--alt-every every Nth request sends another text and
// its latency is reported apart (primary / alternative). A live progress line runs on stderr when it is a terminal.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <utility>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "herdless/duration.h"
#include "herdless/load/load_generator.h"
#include "herdless/load/progress_line.h"

namespace herdless::cli {
namespace {

using load::LoadOptions;
using load::LoadResult;

struct LoadFlags {
  std::string target;
  std::string mode = "connect";
  int concurrency = 64;
  double rate = 0;
  std::string duration = "3s";
  std::string timeout = "1s";
  std::string send;
  bool send_given = false;
  std::string send_alt;
  int alt_every = 0;
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
  if (flags.mode == "connect") {
    options.mode = LoadOptions::Mode::connect;
  } else if (flags.mode == "hold") {
    options.mode = LoadOptions::Mode::hold;
  } else if (flags.mode == "udp") {
    options.mode = LoadOptions::Mode::udp;
  } else {
    return input_error("invalid mode (want connect, hold or udp)", flags.mode);
  }
  const bool udp = options.mode == LoadOptions::Mode::udp;
  auto target = flags.target.find("://") == std::string::npos ? parse_host_port(flags.target)
                                                               : parse_listen_url(flags.target);
  if (!target) return std::unexpected(target.error());
  options.target = *target;
  // A bare HOST:PORT means the mode's transport.
  if (udp && flags.target.find("://") == std::string::npos) options.target.transport = Transport::udp;
  auto duration = parse_duration(flags.duration);
  if (!duration) return std::unexpected(duration.error());
  auto timeout = parse_duration(flags.timeout);
  if (!timeout) return std::unexpected(timeout.error());
  options.duration = *duration;
  options.timeout = *timeout;
  options.concurrency = flags.concurrency;
  options.rate = flags.rate;
  options.send = udp && !flags.send_given ? std::string("hello") : decode_escapes(flags.send);
  options.send_alt = decode_escapes(flags.send_alt);
  options.alt_every = flags.alt_every;
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

const char* mode_name(LoadOptions::Mode mode) {
  switch (mode) {
    case LoadOptions::Mode::connect: return "connect";
    case LoadOptions::Mode::hold: return "hold";
    case LoadOptions::Mode::udp: return "udp";
  }
  return "?";
}

void print_summary(const LoadOptions& options, const LoadResult& r) {
  const bool hold = options.mode == LoadOptions::Mode::hold;
  if (options.rate > 0) {
    fmt::print("load {}: mode {}, open loop at {:g}/s (at most {} in flight), {:.2f} s\n", options.target.url(),
               mode_name(options.mode), options.rate, options.concurrency, r.seconds);
  } else {
    fmt::print("load {}: mode {}, concurrency {}, {:.2f} s\n", options.target.url(), mode_name(options.mode),
               options.concurrency, r.seconds);
  }
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
  if (r.split) {
    const std::pair<const char*, const load::RequestTally*> kinds[] = {{"primary us", &r.primary},
                                                                       {"alternative us", &r.alternative}};
    for (const auto& [name, t] : kinds) {
      const auto& k = t->latency_us;
      fmt::print("  {:<13} p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={}, failed {})\n", name,
                 k.value_at_percentile(50), k.value_at_percentile(90), k.value_at_percentile(99),
                 k.value_at_percentile(99.9), k.max(), k.count(), t->failed);
    }
  }
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
  load::ProgressLine progress;
  if (progress.enabled()) {
    options->on_progress = [&progress](const load::LoadProgress& p) { progress.show("load: " + load::describe(p)); };
  }
  auto result = load::run_load(*options);
  progress.clear();
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
  if (options->rate > 0) out["rate"] = options->rate;
  out["duration_ms"] = options->duration.count();
  out["timeout_ms"] = options->timeout.count();
  if (options->mode == LoadOptions::Mode::hold) out["connections"] = options->hold_connections;
  if (options->alt_every > 0) out["alt_every"] = options->alt_every;
  fmt::print("{}\n", out.dump());
  return 0;
}

}  // namespace

void add_load_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<LoadFlags>();
  CLI::App* cmd = app.add_subcommand("load", "Drive a TCP or UDP server with requests and measure it");
  cmd->add_option("--target", flags->target, "tcp://HOST:PORT, udp://HOST:PORT, or HOST:PORT (the mode's transport)")
      ->required();
  cmd->add_option("--mode", flags->mode, "connect (short connections), hold (keep them open) or udp (datagrams)")
      ->capture_default_str();
  CLI::Option* concurrency = cmd->add_option("--concurrency", flags->concurrency,
                                             "requests in flight (with --rate: the most in flight, default 1000; "
                                             "hold: connecting)")
                                 ->capture_default_str();
  cmd->add_option("--rate", flags->rate,
                  "open loop: start this many requests per second whatever the replies do; latency counts from "
                  "the intended start (connect, udp)");
  cmd->add_option("--duration", flags->duration, "connect: how long to start connections; hold: how long to hold")
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout, "per-connection deadline (hold: to connect)")->capture_default_str();
  cmd->add_option("--send", flags->send, "text to send once connected; udp: the datagram, default 'hello' "
                                         "(\\n, \\r, \\t escapes)");
  cmd->add_option("--send-alt", flags->send_alt,
                  "with --alt-every N: the text every Nth request sends instead of --send (same escapes)");
  cmd->add_option("--alt-every", flags->alt_every,
                  "every Nth request (arrival, with --rate) sends --send-alt; results split into primary and "
                  "alternative (connect, udp)");
  cmd->add_option("--connections", flags->connections, "hold: number of connections to hold");
  cmd->add_flag("--no-spread-sources", flags->no_spread, "connect from 127.0.0.1 only, not 127.100.x.y");
  cmd->add_flag("--json", flags->json, "print the result as one JSON object");
  cmd->callback([flags, cmd, concurrency, &exit_code] {
    flags->send_given = cmd->count("--send") > 0;
    if (flags->rate > 0 && concurrency->count() == 0) flags->concurrency = 1000;
    exit_code = run(*flags);
  });
}

}  // namespace herdless::cli
