// The TCP load generator behind `herdless load`: one thread, one epoll loop, many
// non-blocking client connections against a target address. It measures connection rate,
// failures by kind, latency, and which worker answered (from "worker=N" in the reply).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/load/histogram.h"

namespace herdless::load {

struct LoadOptions {
  enum class Mode {
    // Closed loop: keep `concurrency` connections in flight; each connects, sends `send`
    // (if any), reads until the server closes. Measures accepted connections per second.
    connect,
    // Open `hold_connections` connections (at most `concurrency` connecting at a time) and
    // keep them all open for `duration` once the last one has connected or failed.
    hold,
  };

  ListenAddress target;
  Mode mode = Mode::connect;
  int concurrency = 64;
  // connect: how long new connections are started. hold: how long connections are held.
  std::chrono::milliseconds duration{3000};
  // connect: deadline of a whole connection (connect to EOF). hold: deadline to connect.
  std::chrono::milliseconds timeout{1000};
  std::string send;  // written once connected, if not empty
  int hold_connections = 0;
  // For a 127.x.x.x IPv4 target, bind each client socket to one of 4096 loopback source
  // addresses (port chosen at connect) so that the runs never exhaust ephemeral ports.
  bool spread_sources = true;
};

struct LoadResult {
  uint64_t attempted = 0;  // connections started
  uint64_t connected = 0;  // of those, how many the server accepted (TCP handshake done)
  // connect: EOF after at least one byte. hold: still open when the hold ended.
  uint64_t completed = 0;
  // failed == timed_out + refused + reset + closed + other; attempted == completed + failed.
  uint64_t failed = 0;
  uint64_t timed_out = 0;  // did not finish (connect) / connect (hold) within `timeout`
  uint64_t refused = 0;    // ECONNREFUSED
  uint64_t reset = 0;      // ECONNRESET or EPIPE
  uint64_t closed = 0;     // connect: EOF with no reply byte; hold: closed before the end
  uint64_t other = 0;      // local errors (socket, bind, EADDRNOTAVAIL, EMFILE, ...)
  std::string first_error; // message of the first `other` failure, if any

  double seconds = 0;  // wall time of the whole run
  // connect: completed / seconds. hold: connected / time taken to open the connections.
  double connections_per_second = 0;

  // Completed connections by the N of the first "worker=N" in their reply; the rest are
  // unattributed. Sum of per_worker + unattributed == completed.
  std::map<int, uint64_t> per_worker;
  uint64_t unattributed = 0;

  // Microseconds. connect: from connect() to EOF of each completed connection.
  // hold: from connect() until the connection was established.
  Histogram latency_us;
};

// Upper bound of `concurrency` and `hold_connections`.
inline constexpr int kMaxLoadConnections = 1 << 20;

// Checks the options (tcp target, counts in range, positive timeout) without running.
Result<void> validate_load_options(const LoadOptions& options);

// Runs the load. Per-connection failures are counted in the result; an Error is returned
// only for invalid options (validate_load_options) or when the loop itself cannot run
// (epoll_create1, epoll_wait). Returns within about duration + timeout in connect mode.
Result<LoadResult> run_load(const LoadOptions& options);

// {"attempted":..,"connected":..,"completed":..,"failed":..,"timed_out":..,"refused":..,
//  "reset":..,"closed":..,"other":..,"seconds":..,"connections_per_second":..,
//  "latency_us":{"count","min","mean","p50","p90","p99","p999","max"},
//  "per_worker":{"0":n,...},"unattributed":n[,"first_error":".."]}
nlohmann::json to_json(const LoadResult& result);

// The N of the first "worker=N" (N: decimal digits, fits an int) in `reply`, or -1.
int parse_worker_id(std::string_view reply);

}  // namespace herdless::load
