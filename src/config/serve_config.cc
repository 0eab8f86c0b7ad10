// Resolution and validation of ServeConfig from defaults, a TOML file and flags.
#include "herdless/serve_config.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <span>
#include <fstream>
#include <toml++/toml.h>

#include "herdless/duration.h"

namespace herdless {
namespace {

constexpr int kMaxWorkers = 1024;

// Every key a flag or the config file may set.
constexpr std::string_view kKeys[] = {"listen",  "workers",       "mode",          "backlog",
                                      "service", "message",       "idle-timeout",  "max-conns",
                                      "drain-timeout", "admin",   "steer",         "stall-threshold",
                                      "pin-workers", "stall-timeout", "pid-file", "accept", "accept-batch",
                                      "http-body",   "http-max-body", "udp-steer", "udp-session-key",
                                      "udp-max-datagram", "command", "stop-signal", "ready-timeout",
                                      "fd-env", "output", "kernel-accounting",
                                      "http-header-timeout", "own-port", "orphan-timeout"};

// Settings of the built-in workers only: `herdless run` cannot apply them to a program.
constexpr std::string_view kServeOnlyKeys[] = {"service",   "message",      "http-body",  "http-max-body",
                                               "idle-timeout", "max-conns", "mode",       "accept",
                                               "accept-batch", "udp-max-datagram", "http-header-timeout"};
// Settings of `herdless run` only.
constexpr std::string_view kRunOnlyKeys[] = {"command", "stop-signal", "ready-timeout", "fd-env", "output"};

bool one_of(std::string_view key, std::span<const std::string_view> keys) {
  return std::ranges::find(keys, key) != keys.end();
}

bool known_key(std::string_view key) {
  for (std::string_view k : kKeys) {
    if (k == key) return true;
  }
  return false;
}

Result<int> parse_int(const Setting& s, int min, int max) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(s.value.data(), s.value.data() + s.value.size(), value);
  if (s.value.empty() || ec != std::errc{} || ptr != s.value.data() + s.value.size() || value < min ||
      value > max) {
    return input_error("invalid " + s.key,
                       "'" + s.value + "' (want an integer from " + std::to_string(min) + " to " +
                           std::to_string(max) + ")");
  }
  return value;
}

// A byte count: digits with an optional binary suffix k/K, m/M, g/G ("64k", "1m", "1048576").
Result<uint64_t> parse_size(const Setting& s) {
  constexpr uint64_t kMax = uint64_t{1} << 40;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.value.data(), s.value.data() + s.value.size(), value);
  std::string_view suffix(ptr, static_cast<size_t>(s.value.data() + s.value.size() - ptr));
  unsigned shift = 0;
  if (suffix == "k" || suffix == "K") shift = 10;
  else if (suffix == "m" || suffix == "M") shift = 20;
  else if (suffix == "g" || suffix == "G") shift = 30;
  else if (!suffix.empty()) ec = std::errc::invalid_argument;
  if (s.value.empty() || ec != std::errc{} || value > (kMax >> shift)) {
    return input_error("invalid " + s.key, "'" + s.value + "' (want a byte count up to 1T, e.g. 65536, 64k, 1m)");
  }
  return value << shift;
}

Result<std::chrono::milliseconds> parse_positive_duration(const Setting& s) {
  auto d = parse_duration(s.value);
  if (!d || d->count() <= 0) {
    return input_error("invalid " + s.key, "'" + s.value + "' (want e.g. 500ms, 60s" +
                                               (s.key == "idle-timeout" ? ", or off)" : ")"));
  }
  return *d;
}

std::chrono::milliseconds& duration_setting(ServeConfig& config, std::string_view key) {
  if (key == "idle-timeout") return config.idle_timeout;
  if (key == "drain-timeout") return config.drain_timeout;
  if (key == "orphan-timeout") return config.orphan_timeout;
  if (key == "stall-threshold") return config.stall_threshold;
  return config.stall_timeout;
}

// The `herdless run` settings.
Result<void> apply_program(ProgramConfig& program, const Setting& s, bool& command_replaced) {
  if (s.key == "command") {
    if (!command_replaced) program.command.clear();
    command_replaced = true;
    program.command.push_back(s.value);
  } else if (s.key == "stop-signal") {
    auto sig = parse_signal(s.value);
    if (!sig) return std::unexpected(sig.error());
    program.stop_signal = *sig;
  } else if (s.key == "ready-timeout") {
    auto d = parse_positive_duration(s);
    if (!d) return std::unexpected(d.error());
    program.ready_timeout = *d;
  } else if (s.key == "fd-env") {
    auto conventions = parse_fd_conventions(s.value);
    if (!conventions) return std::unexpected(conventions.error());
    program.conventions = *conventions;
  } else if (s.key == "output") {
    if (s.value == "prefix") program.output = ProgramOutput::prefix;
    else if (s.value == "inherit") program.output = ProgramOutput::inherit;
    else return input_error("invalid output", "'" + s.value + "' (want prefix or inherit)");
  }
  return {};
}

Result<void> apply(ServeConfig& config, const Setting& s, bool& listen_replaced, bool& command_replaced) {
  if (one_of(s.key, kRunOnlyKeys)) {
    if (!config.program) return input_error("unknown setting", "'" + s.key + "' (only herdless run takes it)");
    return apply_program(*config.program, s, command_replaced);
  }
  if (config.program && one_of(s.key, kServeOnlyKeys)) {
    return input_error(s.key + " does not apply to herdless run:",
                       "it configures herdless's built-in workers, and run cannot see inside a program");
  }
  if (s.key == "listen") {
    auto address = parse_listen_url(s.value);
    if (!address) return std::unexpected(address.error());
    if (!listen_replaced) config.listen.clear();
    listen_replaced = true;
    config.listen.push_back(*address);
  } else if (s.key == "workers") {
    auto v = parse_int(s, 1, kMaxWorkers);
    if (!v) return std::unexpected(v.error());
    config.workers = *v;
  } else if (s.key == "backlog") {
    auto v = parse_int(s, 1, 1 << 20);
    if (!v) return std::unexpected(v.error());
    config.backlog = *v;
  } else if (s.key == "max-conns") {
    auto v = parse_int(s, 1, 10'000'000);
    if (!v) return std::unexpected(v.error());
    config.max_conns = *v;
  } else if (s.key == "mode") {
    if (s.value == "process") config.mode = WorkerMode::process;
    else if (s.value == "thread") config.mode = WorkerMode::thread;
    else return input_error("invalid mode", "'" + s.value + "' (want process or thread)");
  } else if (s.key == "service") {
    if (s.value == "hello") config.service = ServiceKind::hello;
    else if (s.value == "echo") config.service = ServiceKind::echo;
    else if (s.value == "http") config.service = ServiceKind::http;
    else return input_error("invalid service", "'" + s.value + "' (want hello, echo or http)");
  } else if (s.key == "message") {
    config.message = expand_escapes(s.value);
  } else if (s.key == "http-body") {
    config.http_body = expand_escapes(s.value);
  } else if (s.key == "http-max-body") {
    auto v = parse_size(s);
    if (!v) return std::unexpected(v.error());
    config.http_max_body = *v;
  } else if (s.key == "idle-timeout" && s.value == "off") {
    config.idle_timeout = std::chrono::milliseconds::zero();  // protocols whose clients idle for long
  } else if (s.key == "idle-timeout" || s.key == "drain-timeout" || s.key == "stall-threshold" ||
             s.key == "stall-timeout" || s.key == "orphan-timeout") {
    auto d = parse_positive_duration(s);
    if (!d) return std::unexpected(d.error());
    duration_setting(config, s.key) = *d;
  } else if (s.key == "http-header-timeout") {
    auto d = parse_positive_duration(s);
    if (!d) return std::unexpected(d.error());
    config.http_header_timeout = *d;
  } else if (s.key == "accept-batch") {
    auto v = parse_int(s, 1, 4096);
    if (!v) return std::unexpected(v.error());
    config.accept_batch = *v;
  } else if (s.key == "accept") {
    auto strategy = parse_accept_strategy(s.value);
    if (!strategy) return std::unexpected(strategy.error());
    config.accept = *strategy;
  } else if (s.key == "udp-steer") {
    auto mode = parse_udp_steer(s.value);
    if (!mode) return std::unexpected(mode.error());
    config.udp.mode = *mode;
  } else if (s.key == "udp-session-key") {
    auto key = parse_session_key(s.value);
    if (!key) return std::unexpected(key.error());
    config.udp.key = *key;
  } else if (s.key == "udp-max-datagram") {
    auto v = parse_size(s);
    if (!v) return std::unexpected(v.error());
    if (*v < 1 || *v > 65527) return input_error("invalid udp-max-datagram", "'" + s.value + "' (want 1 to 65527 bytes)");
    config.udp_max_datagram = static_cast<uint32_t>(*v);
  } else if (s.key == "kernel-accounting") {
    if (s.value == "auto") config.kernel_accounting = ServeConfig::KernelAccounting::automatic;
    else if (s.value == "on") config.kernel_accounting = ServeConfig::KernelAccounting::on;
    else if (s.value == "off") config.kernel_accounting = ServeConfig::KernelAccounting::off;
    else return input_error("invalid kernel-accounting", "'" + s.value + "' (want auto, on or off)");
  } else if (s.key == "own-port") {
    if (s.value == "auto") config.own_port = ServeConfig::OwnPort::automatic;
    else if (s.value == "on") config.own_port = ServeConfig::OwnPort::on;
    else if (s.value == "off") config.own_port = ServeConfig::OwnPort::off;
    else return input_error("invalid own-port", "'" + s.value + "' (want auto, on or off)");
  } else if (s.key == "pid-file") {
    config.pid_file = s.value;
  } else if (s.key == "steer") {
    auto mode = parse_steer_mode(s.value);
    if (!mode) return std::unexpected(mode.error());
    config.steer = *mode;
  } else if (s.key == "pin-workers") {
    if (s.value == "true" || s.value == "1") config.pin_workers = true;
    else if (s.value == "false" || s.value == "0") config.pin_workers = false;
    else return input_error("invalid pin-workers", "'" + s.value + "' (want true or false)");
  } else if (s.key == "admin") {
    if (s.value.empty() || s.value == "off") {
      config.admin.reset();
    } else {
      auto address = parse_host_port(s.value);
      if (!address) return std::unexpected(address.error());
      config.admin = *address;
    }
  } else {
    return input_error("unknown setting", "'" + s.key + "'");
  }
  return {};
}

// A TOML value as the string a flag would carry.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (node.is_boolean()) return node.as_boolean()->get() ? "true" : "false";
  if (node.is_integer()) return std::to_string(node.as_integer()->get());
  if (node.is_floating_point()) return std::to_string(node.as_floating_point()->get());
  return std::nullopt;
}

// Rules that span settings, checked once all are applied.
Result<void> check_combination(ServeConfig& config, bool udp_steer_given) {
  bool udp = false;
  for (const ListenAddress& address : config.listen) udp = udp || address.transport == Transport::udp;
  if (udp && config.service == ServiceKind::http) {
    return input_error("invalid service", "'http' serves tcp:// listens only (udp:// serves hello or echo)");
  }
  // A key alone asks for sessions; `udp-steer = "session"` needs a key.
  if (!udp_steer_given && config.udp.key.length > 0) config.udp.mode = UdpSteer::session;
  if (config.udp.mode == UdpSteer::session && config.udp.key.length == 0) {
    return input_error("invalid udp-steer", "'session' needs --udp-session-key OFFSET:LENGTH");
  }
  return {};
}

}  // namespace

std::string_view service_name(ServiceKind kind) {
  switch (kind) {
    case ServiceKind::hello: return "hello";
    case ServiceKind::echo: return "echo";
    case ServiceKind::http: return "http";
  }
  return "?";
}

ServeConfig default_serve_config() {
  ServeConfig config;
  config.listen.push_back(*parse_listen_url("tcp://0.0.0.0:10013"));
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  config.workers = cpus > 0 ? static_cast<int>(std::min<long>(cpus, kMaxWorkers)) : 1;
  config.admin = *parse_host_port("127.0.0.1:10014");
  return config;
}

Result<Settings> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return sys_error("cannot read config file", path);
  toml::table parsed;
  try {  // toml++ reports parse errors by exception; this is start-up code, not the data path
    parsed = toml::parse(in, path);
  } catch (const toml::parse_error& err) {
    return input_error("invalid config file", path + ":" + std::to_string(err.source().begin.line) + ": " +
                                                  std::string(err.description()));
  }
  Settings settings;
  for (const auto& [key, node] : parsed) {
    const std::string name(key.str());
    if (!known_key(name)) return input_error("invalid config file", path + ": unknown setting '" + name + "'");
    if (const toml::array* list = node.as_array()) {
      if (name != "listen" && name != "command") {
        return input_error("invalid config file", path + ": '" + name + "' takes one value");
      }
      for (const toml::node& item : *list) {
        auto text = item.value<std::string>();
        if (!text) return input_error("invalid config file", path + ": '" + name + "' entries must be strings");
        settings.push_back(Setting{name, *text});
      }
      continue;
    }
    auto text = scalar_text(node);
    if (!text) return input_error("invalid config file", path + ": '" + name + "' has an unsupported type");
    settings.push_back(Setting{name, *text});
  }
  return settings;
}

Result<ServeConfig> resolve_config(const Settings& file, const Settings& flags, Subcommand subcommand) {
  ServeConfig config = default_serve_config();
  if (subcommand == Subcommand::run) config.program.emplace();
  bool udp_steer_given = false;
  for (const Settings* source : {&file, &flags}) {
    bool listen_replaced = false;
    bool command_replaced = false;
    for (const Setting& s : *source) {
      auto applied = apply(config, s, listen_replaced, command_replaced);
      if (!applied) return std::unexpected(applied.error());
      udp_steer_given = udp_steer_given || s.key == "udp-steer";
    }
  }
  if (auto checked = check_combination(config, udp_steer_given); !checked) return std::unexpected(checked.error());
  if (config.program && config.program->command.empty()) {
    return input_error("no command:", "herdless run [flags] -- COMMAND [ARG...] (or command = [...] in the config file)");
  }
  return config;
}


std::string expand_escapes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    switch (text[++i]) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      default: out += '\\'; out += text[i]; break;
    }
  }
  return out;
}

std::string expand_worker(std::string_view message, int worker) {
  std::string out;
  const std::string_view token = "{worker}";
  size_t start = 0;
  for (size_t at = message.find(token); at != std::string_view::npos; at = message.find(token, start)) {
    out.append(message.substr(start, at - start));
    out += std::to_string(worker);
    start = at + token.size();
  }
  out.append(message.substr(start));
  return out;
}

}  // namespace herdless
