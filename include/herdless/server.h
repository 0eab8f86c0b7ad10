// Server: a herdless server in a user's own program. Configure it with the options of
// `herdless serve` (the same keys as its TOML file and flags), register a TCP service and/or a
// datagram service, and run(): the calling process becomes the supervisor, forks one worker per
// slot (or starts a thread per slot with mode = "thread"), and each worker calls the factories
// once and serves its slot's sockets. Everything `herdless serve` guarantees holds: kernel
// steering, stall rescue, restarts after a crash, SIGHUP reload and SIGUSR2 upgrade without a
// lost connection, /stats and /metrics. See docs/LIBRARY.md.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herdless/datagram_service.h"
#include "herdless/error.h"
#include "herdless/service.h"

namespace herdless {

class ServerOptions {
 public:
  // One option by its key in `herdless serve`'s TOML file (= its flag without "--"): "listen"
  // (repeatable, one address each: "tcp://0.0.0.0:6379", "udp://[::]:5353"), "workers",
  // "mode", "steer", "idle-timeout", "max-conns", "drain-timeout", "admin", "udp-session-key",
  // ...; the value as written there. Checked by Server::run, not here. The options of the
  // built-in services ("service", "message", "http-body", ...) are refused: the services are
  // yours.
  ServerOptions& set(std::string_view key, std::string_view value);
  // A TOML file with the same keys, read at start and again on every SIGHUP; set() overrides it.
  ServerOptions& config_file(std::string path);

  // Options from command-line words, for a program that passes its argv on: "--KEY VALUE",
  // "--KEY=VALUE", "--pin-workers", "--config FILE". Anything else is an Error naming it.
  static Result<ServerOptions> from_args(int argc, const char* const* argv);

  const std::vector<std::pair<std::string, std::string>>& settings() const { return settings_; }
  const std::string& config_path() const { return config_path_; }

 private:
  std::vector<std::pair<std::string, std::string>> settings_;
  std::string config_path_;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The service of every tcp:// listen address; its factory is called once in each worker.
  Server& tcp_service(ServiceFactory factory);
  // The service of every udp:// listen address; its factory is called once in each worker.
  Server& datagram_service(DatagramServiceFactory factory);

  // Starts the supervisor and its workers and serves until SIGTERM or SIGINT, then drains
  // (up to drain-timeout) and returns the exit code (0). Call it from main's thread before
  // starting threads of your own (workers are forked). An Error: bad options, no service for
  // a listen address's kind, or a listen address that cannot be bound; nothing then runs.
  // SIGHUP: new workers (new service objects) on the same sockets, then the old ones drain.
  // SIGUSR2: this program's binary (/proc/self/exe) is executed again with the same argv and
  // inherits the sockets: a new build of your server, without a lost connection.
  Result<int> run();

 private:
  ServerOptions options_;
  ServiceFactory tcp_;
  DatagramServiceFactory datagram_;
};

}  // namespace herdless
