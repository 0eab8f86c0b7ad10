// Server and ServerOptions (public server.h): the options become the Settings of `herdless
// serve` (resolved by the same code, so a key means the same everywhere), the factories travel
// to every worker through the supervisor.
#include "herdless/server.h"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <memory>

#include "herdless/open_files.h"
#include "herdless/serve_config.h"
#include "herdless/supervisor.h"

namespace herdless {
namespace {

// Options of the built-in services: a library server runs its own.
constexpr std::array<std::string_view, 5> kBuiltinServiceKeys = {"service", "message", "http-body", "http-max-body",
                                                                 "http-header-timeout"};

Result<void> refuse_builtin_keys(const Settings& settings, std::string_view where) {
  for (const Setting& s : settings) {
    if (std::ranges::find(kBuiltinServiceKeys, s.key) != kBuiltinServiceKeys.end()) {
      return input_error(fmt::format("{} '{}':", where, s.key),
                         "an option of herdless serve's built-in services; a library server runs its own");
    }
  }
  return {};
}

// This process's argv, as a SIGUSR2 upgrade executes it again.
std::vector<std::string> own_argv() {
  std::vector<std::string> argv;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string word;
  while (std::getline(in, word, '\0')) argv.push_back(word);
  return argv;
}

// herdless's log lines on stderr, as the herdless binary writes them, unless the program set
// a default logger of its own.
void use_stderr_logger() {
  if (spdlog::get("herdless") != nullptr) return;
  if (!spdlog::default_logger()->name().empty()) return;
  auto logger = spdlog::stderr_color_mt("herdless");
  logger->set_pattern("%^[%Y-%m-%d %H:%M:%S.%e] [%l]%$ %v");
  spdlog::set_default_logger(logger);
}

// The supervisor blocks the signals it reads from a signalfd (SIGTERM, SIGINT, SIGHUP, SIGCHLD,
// SIGUSR2) in the calling thread: run() gives the caller its own mask back when it returns, with
// an Error as after a stop, so a program that goes on (or retries) still hears Ctrl-C. Such a
// signal that came after the supervisor's last read (a second SIGTERM during the drain) was
// meant for the server: it is dropped, not delivered with its default action once unblocked.
class SignalMaskRestorer {
 public:
  SignalMaskRestorer() { saved_ = ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_) == 0; }
  ~SignalMaskRestorer() {
    if (!saved_) return;
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    const timespec now{};
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) {  // (a SIGCHLD may be the program's own)
      if (sigismember(&pending, sig) != 1 || sigismember(&mask_, sig) == 1) continue;
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      ::sigtimedwait(&one, nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
  }
  SignalMaskRestorer(const SignalMaskRestorer&) = delete;
  SignalMaskRestorer& operator=(const SignalMaskRestorer&) = delete;

 private:
  sigset_t mask_{};
  bool saved_ = false;
};

}  // namespace

ServerOptions& ServerOptions::set(std::string_view key, std::string_view value) {
  settings_.emplace_back(std::string(key), std::string(value));
  return *this;
}

ServerOptions& ServerOptions::config_file(std::string path) {
  config_path_ = std::move(path);
  return *this;
}

Result<ServerOptions> ServerOptions::from_args(int argc, const char* const* argv) {
  ServerOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string_view word = argv[i];
    if (!word.starts_with("--") || word.size() == 2) return input_error("unexpected argument", fmt::format("'{}'", word));
    word.remove_prefix(2);
    std::string key;
    std::string value;
    if (const size_t eq = word.find('='); eq != std::string_view::npos) {
      key = word.substr(0, eq);
      value = word.substr(eq + 1);
    } else if (word == "pin-workers") {
      key = word;
      value = "true";
    } else {
      key = word;
      if (i + 1 >= argc) return input_error("missing value", fmt::format("--{}", key));
      value = argv[++i];
    }
    if (key == "config") options.config_file(value);
    else options.set(key, value);
  }
  return options;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() = default;

Server& Server::tcp_service(ServiceFactory factory) {
  tcp_ = std::move(factory);
  return *this;
}

Server& Server::datagram_service(DatagramServiceFactory factory) {
  datagram_ = std::move(factory);
  return *this;
}

Result<int> Server::run() {
  use_stderr_logger();
  if (!tcp_ && !datagram_) {
    return input_error("no service:", "register one with Server::tcp_service or Server::datagram_service");
  }
  Settings flags;
  for (const auto& [key, value] : options_.settings()) flags.push_back(Setting{key, value});
  if (auto refused = refuse_builtin_keys(flags, "option"); !refused) return std::unexpected(refused.error());
  Settings file;
  std::optional<std::string> config_path;
  if (!options_.config_path().empty()) {
    config_path = options_.config_path();
    auto read = read_config_file(*config_path);
    if (!read) return std::unexpected(read.error());
    file = std::move(*read);
    if (auto refused = refuse_builtin_keys(file, fmt::format("{}:", *config_path)); !refused) return std::unexpected(refused.error());
  }
  auto config = resolve_serve_config(file, flags);
  if (!config) return std::unexpected(config.error());
  for (const ListenAddress& address : config->listen) {
    const bool udp = address.transport == Transport::udp;
    if (udp && !datagram_) return input_error(fmt::format("listen {}:", address.url()), "no datagram service (Server::datagram_service)");
    if (!udp && !tcp_) return input_error(fmt::format("listen {}:", address.url()), "no TCP service (Server::tcp_service)");
  }
  prepare_open_files(*config, file, flags);
  auto services = std::make_shared<ServiceFactories>(ServiceFactories{tcp_, datagram_});
  const SignalMaskRestorer restore_mask;  // declared before the supervisor: restored after it is gone
  auto supervisor = Supervisor::create(SupervisorOptions{*config, flags, config_path, own_argv(), std::move(services)});
  if (!supervisor) return std::unexpected(supervisor.error());
  return (*supervisor)->run();
}

}  // namespace herdless
