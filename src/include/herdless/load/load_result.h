// LoadResult: what one run of the load generator measured (counts by outcome, rate,
// latency histogram, per-worker attribution), its JSON form, and the "worker=N" parser.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "herdless/load/histogram.h"

namespace herdless::load {

// The requests of one kind (primary or alternative: LoadOptions::alt_every).
struct RequestTally {
  uint64_t attempted = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;  // any failure kind (the totals in LoadResult say which)
  Histogram latency_us;  // of the completed ones, as LoadResult::latency_us
};

struct LoadResult {
  uint64_t attempted = 0;  // requests started (open loop: scheduled)
  // TCP: how many the server accepted (handshake done). udp: datagrams sent.
  uint64_t connected = 0;
  // connect: EOF after at least one byte. hold: still open when the hold ended. udp: a reply.
  uint64_t completed = 0;
  // failed == timed_out + refused + reset + closed + other; attempted == completed + failed
  // (except in a cancelled run, which leaves what was in flight uncounted).
  uint64_t failed = 0;
  // Did not finish (connect, udp) / connect (hold) within `timeout`; in an open loop also
  // the arrivals that found no free slot before their deadline.
  uint64_t timed_out = 0;
  uint64_t refused = 0;    // ECONNREFUSED (udp: ICMP port unreachable)
  uint64_t reset = 0;      // ECONNRESET or EPIPE
  uint64_t closed = 0;     // connect: EOF with no reply byte; hold: closed before the end
  uint64_t other = 0;      // local errors (socket, bind, EADDRNOTAVAIL, EMFILE, ...)
  std::string first_error; // message of the first `other` failure, if any
  bool cancelled = false;  // LoadOptions::cancel stopped the run early

  double seconds = 0;  // wall time of the whole run
  // connect, udp: completed / seconds. hold: connected / time taken to open the connections.
  double connections_per_second = 0;

  // Completed requests by the N of the first "worker=N" in their reply; the rest are
  // unattributed. Sum of per_worker + unattributed == completed.
  std::map<int, uint64_t> per_worker;
  uint64_t unattributed = 0;

  // Microseconds. connect, udp: from the (intended, in an open loop) start to EOF or reply
  // of each completed request. hold: from connect() until the connection was established.
  Histogram latency_us;

  // Set when LoadOptions::alt_every > 0: the same counts and latency split by the kind of
  // request. primary + alternative == the totals above (attempted, completed, failed,
  // latency_us) except in a cancelled run.
  bool split = false;
  RequestTally primary;
  RequestTally alternative;
};

// {"attempted":..,"connected":..,"completed":..,"failed":..,"timed_out":..,"refused":..,
//  "reset":..,"closed":..,"other":..,"seconds":..,"connections_per_second":..,
//  "latency_us":{"count","min","mean","p50","p90","p99","p999","max"},
//  "per_worker":{"0":n,...},"unattributed":n[,"first_error":".."][,"cancelled":true]
//  [,"primary":{"attempted","completed","failed","latency_us":{...}},"alternative":{...}]}
//  (primary and alternative when split)
nlohmann::json to_json(const LoadResult& result);

// The N of the first "worker=N" (N: decimal digits, fits an int) in `reply`, or -1.
int parse_worker_id(std::string_view reply);

}  // namespace herdless::load
