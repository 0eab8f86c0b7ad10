// Shared flags of serve and run: flags -> Settings -> ServeConfig -> Supervisor.
#include "server_flags.h"

#include <cstdio>

#include "commands.h"
#include "herdless/open_files.h"
#include "herdless/supervisor.h"

namespace herdless::cli {
namespace {

struct Flag {
  const char* key;
  const char* help;
  bool serve = true;  // offered by serve
  bool run = true;    // applies to run
};

const Flag kFlags[] = {
    {"workers", "Worker slots (default: number of CPUs)"},
    {"backlog", "listen() backlog per socket (default 4096)"},
    {"drain-timeout", "On stop, how long connections may finish; run: then SIGKILL (default 10s)"},
    {"admin", "HOST:PORT of /stats and /metrics, or 'off' (default 127.0.0.1:10014)"},
    {"steer", "hash|least-loaded|affinity|cpu (default least-loaded when eBPF loads)"},
    {"stall-threshold", "A slot whose accepts stall this long with connections waiting is skipped (100ms)"},
    {"stall-timeout", "A slot stalled this long with a queue is rescued: its queue migrates (500ms)"},
    {"pid-file", "Write the supervisor's pid here (for SIGUSR2 upgrades)"},
    {"udp-steer", "hash|session: datagrams by 4-tuple, or by a key in the datagram (default hash)"},
    {"udp-session-key", "OFFSET:LENGTH of the session key in the UDP payload, e.g. 0:8 (implies udp-steer session)"},
    {"kernel-accounting", "auto|on|off: per-slot connection counts from the kernel (auto: on for run, off for serve)"},
    {"own-port", "auto|on|off: an SK_LOOKUP program keeps every connection for our addresses on our sockets (auto: when BPF allows)"},
    {"orphan-timeout", "If the supervisor dies, its workers/programs keep serving this long unless a new supervisor takes over (default 60s)"},
    {"mode", "process|thread (default process)", true, false},
    {"service", "hello|echo|http (default hello)", true, false},
    {"message", "hello's reply; {worker} = worker index, \\n = newline (default 'hello world.')", true, false},
    {"http-body", "http's 200 body; \\n = newline (default 'hello world.')", true, false},
    {"http-max-body", "http: larger request bodies get 413; bytes, or 64k, 1m (default 1m)", true, false},
    {"http-header-timeout", "http: close a connection whose request line and headers take longer (default 60s)", true,
     false},
    {"idle-timeout", "Close connections idle this long (default 60s)", true, false},
    {"max-conns", "Connections per worker before it stops accepting (default 100000)", true, false},
    {"accept", "reuseport|shared|shared-exclusive|accept-mutex (default reuseport)", true, false},
    {"accept-batch", "Accepts per wake-up (default 64; 1 is nginx's multi_accept off)", true, false},
    {"udp-max-datagram", "Larger datagrams are counted as truncated and not answered (default 65527)", true, false},
    {"stop-signal", "Signal that asks a program to stop gracefully (default TERM); SIGKILL after --drain-timeout",
     false, true},
    {"ready-timeout", "A program that shows no sign of serving (READY=1, accept, a polled listener) is taken as ready after this (default 30s)",
     false, true},
    {"fd-env", "systemd,einhorn|systemd|einhorn|none: which conventions announce the sockets (default both)", false,
     true},
    {"output", "prefix|inherit: program output through herdless with '[w<slot> <pid>] ' per line, or untouched",
     false, true},
};

int fail(const std::string& message) {
  std::fprintf(stderr, "herdless: %s\n", message.c_str());
  return kExitBadInput;
}

}  // namespace

void add_server_flags(CLI::App* app, ServerFlags& flags, Subcommand subcommand) {
  flags.app = app;
  app->add_option("--listen", flags.listen,
                  "tcp://HOST:PORT or udp://HOST:PORT, repeatable (default tcp://0.0.0.0:10013)");
  const bool run = subcommand == Subcommand::run;
  for (const Flag& f : kFlags) {
    if (!(run ? f.run : f.serve) && !(run && f.serve)) continue;
    CLI::Option* option = app->add_option(std::string("--") + f.key, flags.values[f.key], f.help);
    if (run && !f.run) option->group("");  // refused under run, with the reason; not listed in --help
  }
  app->add_flag("--pin-workers", flags.pin_workers, "Pin slot i to CPU i mod N");
  app->add_option("--config", flags.config_path, "TOML file with the same keys; flags override it");
}

int run_server(const ServerFlags& flags, Subcommand subcommand) {
  Settings from_flags;
  for (const std::string& url : flags.listen) from_flags.push_back({"listen", url});
  for (const auto& [key, value] : flags.values) {
    if (flags.app->count("--" + key) > 0) from_flags.push_back({key, value});
  }
  if (flags.pin_workers) from_flags.push_back({"pin-workers", "true"});
  for (const std::string& arg : flags.command) from_flags.push_back({"command", arg});
  Settings from_file;
  std::optional<std::string> config_path;
  if (!flags.config_path.empty()) {
    config_path = flags.config_path;
    auto read = read_config_file(flags.config_path);
    if (!read) return fail(read.error().message());
    from_file = std::move(*read);
  }
  auto config = resolve_config(from_file, from_flags, subcommand);
  if (!config) return fail(config.error().message());
  if (!config->program) prepare_open_files(*config, from_file, from_flags);  // serve: RLIMIT_NOFILE
  if (config->program) {
    if (auto found = resolve_command(config->program->command.front()); !found) return fail(found.error().message());
  }
  auto supervisor = Supervisor::create(SupervisorOptions{*config, from_flags, config_path, original_argv(), nullptr});
  if (!supervisor) return fail(supervisor.error().message());
  return (*supervisor)->run();
}

}  // namespace herdless::cli
