// `herdless serve`: flags -> Settings -> ServeConfig -> Supervisor.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>

#include "commands.h"
#include "herdless/serve_config.h"
#include "herdless/supervisor.h"

namespace herdless::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> listen;
  std::map<std::string, std::string> values;  // key -> flag value
  std::string config_path;
  bool pin_workers = false;
  CLI::App* command = nullptr;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "herdless: %s\n", message.c_str());
  return kExitBadInput;
}

int run_serve(ServeFlags& flags) {
  Settings from_flags;
  for (const std::string& url : flags.listen) from_flags.push_back({"listen", url});
  for (const auto& [key, value] : flags.values) {
    if (flags.command->count("--" + key) > 0) from_flags.push_back({key, value});
  }
  if (flags.pin_workers) from_flags.push_back({"pin-workers", "true"});
  Settings from_file;
  std::optional<std::string> config_path;
  if (!flags.config_path.empty()) {
    config_path = flags.config_path;
    auto read = read_config_file(flags.config_path);
    if (!read) return fail(read.error().message());
    from_file = std::move(*read);
  }
  auto config = resolve_serve_config(from_file, from_flags);
  if (!config) return fail(config.error().message());

  auto supervisor = Supervisor::create(SupervisorOptions{*config, from_flags, config_path, original_argv()});
  if (!supervisor) return fail(supervisor.error().message());
  return (*supervisor)->run();
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand("serve", "Run the server: a supervisor and its workers");
  flags->command = serve;
  serve->add_option("--listen", flags->listen, "tcp://HOST:PORT or udp://HOST:PORT, repeatable (default tcp://0.0.0.0:10013)");
  struct Flag {
    const char* key;
    const char* help;
  };
  static const Flag options[] = {
      {"workers", "Worker count (default: number of CPUs)"},
      {"mode", "process|thread (default process)"},
      {"backlog", "listen() backlog per socket (default 4096)"},
      {"service", "hello|echo|http (default hello)"},
      {"message", "hello's reply; {worker} = worker index, \\n = newline (default 'hello world.')"},
      {"http-body", "http's 200 body; \\n = newline (default 'hello world.')"},
      {"http-max-body", "http: larger request bodies get 413; bytes, or 64k, 1m (default 1m)"},
      {"idle-timeout", "Close connections idle this long (default 60s)"},
      {"max-conns", "Connections per worker before it stops accepting (default 100000)"},
      {"drain-timeout", "On stop, wait this long for active connections (default 10s)"},
      {"admin", "HOST:PORT of /stats and /metrics, or 'off' (default 127.0.0.1:10014)"},
      {"steer", "hash|least-loaded|affinity|cpu (default least-loaded when eBPF loads)"},
      {"stall-threshold", "A slot whose loop or accepts stall this long with connections waiting is skipped (100ms)"},
      {"stall-timeout", "A worker stalled this long with a queue is rescued: its queue migrates (500ms)"},
      {"pid-file", "Write the supervisor's pid here (for SIGUSR2 upgrades)"},
      {"accept", "reuseport|shared|shared-exclusive|accept-mutex (default reuseport; the others to measure the herd)"},
      {"accept-batch", "Accepts per wake-up (default 64; 1 is nginx's multi_accept off)"},
      {"udp-steer", "hash|session: datagrams by 4-tuple, or by a key in the datagram (default hash)"},
      {"udp-session-key", "OFFSET:LENGTH of the session key in the UDP payload, e.g. 0:8 (implies udp-steer session)"},
      {"udp-max-datagram", "Larger datagrams are counted as truncated and not answered (default 65527)"},
  };
  for (const Flag& f : options) serve->add_option(std::string("--") + f.key, flags->values[f.key], f.help);
  serve->add_flag("--pin-workers", flags->pin_workers, "Pin worker i to CPU i mod N");
  serve->add_option("--config", flags->config_path, "TOML file with the same keys; flags override it");
  serve->callback([flags, &exit_code] { exit_code = run_serve(*flags); });
}

}  // namespace herdless::cli
