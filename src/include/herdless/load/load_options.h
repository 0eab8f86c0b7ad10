// LoadOptions: what `herdless load` (and `herdless bench`) asks of the load generator: the
// mode (short TCP connections, held TCP connections, UDP request/reply), closed loop
// (`concurrency` in flight) or open loop (`rate` arrivals per second), the deadlines, and
// what to send (optionally another request every Nth time).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "herdless/address.h"
#include "herdless/error.h"

namespace herdless::load {

// A snapshot of a run in progress, handed to LoadOptions::on_progress.
struct LoadProgress {
  double elapsed_seconds = 0;
  uint64_t attempted = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t in_flight = 0;
};

struct LoadOptions {
  enum class Mode {
    // Connect; send `send` (if any); read until the server closes. Measures connections/s.
    connect,
    // Open `hold_connections` connections (at most `concurrency` connecting at a time) and
    // keep them all open for `duration` once the last one has connected or failed.
    hold,
    // Send `send` as one datagram from a fresh socket (a new source port) per request and
    // wait for one datagram in reply. Target: udp://HOST:PORT.
    udp,
  };

  ListenAddress target;
  Mode mode = Mode::connect;
  // Closed loop (rate == 0): requests in flight. Open loop: the most in flight at once;
  // an arrival that finds them all busy starts late, its latency still counted from its
  // intended start. Hold: connections connecting at once.
  int concurrency = 64;
  // connect, udp: requests per second started on a fixed schedule whatever the replies do
  // (open loop); latency and deadline run from the intended start, so a server stall shows
  // in the percentiles instead of slowing the client down (no coordinated omission).
  // 0: closed loop.
  double rate = 0;
  // connect, udp: how long new requests are started. hold: how long connections are held.
  std::chrono::milliseconds duration{3000};
  // connect, udp: deadline of a whole request (start to EOF or reply). hold: to connect.
  std::chrono::milliseconds timeout{1000};
  std::string send;  // connect/hold: written once connected, if not empty; udp: the datagram
  // connect, udp: when alt_every = N > 0, every Nth request (the Nth, 2Nth, ... started;
  // in an open loop the Nth, 2Nth, ... arrival) sends `send_alt` instead of `send` (must not
  // be empty), and LoadResult tallies those ("alternative") apart from the rest
  // ("primary"), latency included. 0: off.
  std::string send_alt;
  int alt_every = 0;
  int hold_connections = 0;
  // For a 127.x.x.x IPv4 target, bind each client socket to one of 4096 loopback source
  // addresses (port chosen at connect) so that the runs never exhaust ephemeral ports.
  bool spread_sources = true;

  // Called from the generator's thread about every `progress_interval` while it runs.
  std::function<void(const LoadProgress&)> on_progress;
  std::chrono::milliseconds progress_interval{250};
  // When set and true, the run stops within ~250 ms and the result is marked cancelled.
  const std::atomic<bool>* cancel = nullptr;
};

// Upper bound of `concurrency` and `hold_connections`.
inline constexpr int kMaxLoadConnections = 1 << 20;
// Upper bound of `rate` (arrivals per second).
inline constexpr double kMaxLoadRate = 10'000'000;

// Checks the options (target transport matches the mode, counts and rate in range,
// positive timeout) without running.
Result<void> validate_load_options(const LoadOptions& options);

}  // namespace herdless::load
