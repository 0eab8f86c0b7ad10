// herdless-redis: a Redis-protocol (RESP2) server on herdless's public API. Every worker is a
// thread of this one process (mode = "thread", forced), so they all share one Store.
//   herdless-redis [--listen tcp://127.0.0.1:6379] [--workers N] [other `herdless serve` options]
// Without --listen (and without --config) it listens on tcp://127.0.0.1:6379.
#include <cstdio>
#include <memory>

#include <herdless/herdless.h>

#include "redis_service.h"
#include "store.h"

int main(int argc, char** argv) {
  auto options = herdless::ServerOptions::from_args(argc - 1, argv + 1);
  if (!options) {
    std::fprintf(stderr, "herdless-redis: %s\n", options.error().message().c_str());
    return 2;
  }
  bool has_listen = !options->config_path().empty();
  for (const auto& [key, value] : options->settings()) {
    if (key == "listen") has_listen = true;
    if (key == "mode" && value != "thread") {
      std::fprintf(stderr, "herdless-redis: --mode %s: the store is shared by threads, only thread mode works\n",
                   value.c_str());
      return 2;
    }
  }
  if (!has_listen) options->set("listen", "tcp://127.0.0.1:6379");
  options->set("mode", "thread");

  // Outlives the workers: run() returns after every worker thread ended. A reload (SIGHUP)
  // makes new services on the same store; an upgrade (SIGUSR2) starts a new process, whose
  // store starts empty (this example keeps nothing on disk).
  auto store = std::make_shared<redis::Store>();
  herdless::Server server(std::move(*options));
  server.tcp_service([store](herdless::WorkerContext& context) {
    return std::make_unique<redis::RedisService>(store, context.worker());
  });
  auto code = server.run();
  if (!code) {
    std::fprintf(stderr, "herdless-redis: %s\n", code.error().message().c_str());
    return 2;
  }
  return *code;
}
