// StatsSample: the parts of a server's GET /stats that the bench reads (strategy, steering,
// mode, per-worker pid and counters), and the per-run figures taken from two samples.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "herdless/error.h"

namespace herdless::bench {

struct WorkerSample {
  int id = 0;
  int pid = 0;
  uint64_t accepted = 0;
  int64_t active = 0;
  std::optional<uint64_t> wakeups;        // absent from servers that do not count them
  std::optional<uint64_t> empty_accepts;  // absent likewise
};

struct StatsSample {
  std::string mode;    // "process" or "thread"
  std::string steer;   // the steering in force ("hash", "least-loaded", ...)
  std::string accept;  // the accept strategy; empty when the server does not say
  std::vector<WorkerSample> workers;
};

// Parses /stats JSON; an Error if it is not an object with a "workers" array of objects.
Result<StatsSample> parse_stats(const nlohmann::json& stats);

// What changed between two samples of the same server, summed over its workers.
struct StatsDelta {
  uint64_t accepted = 0;
  std::optional<uint64_t> wakeups;        // nullopt unless every worker reports it in both
  std::optional<uint64_t> empty_accepts;  // likewise
  // wakeups / accepted; nullopt without wake-ups or without an accepted connection.
  std::optional<double> wakeups_per_accept() const;
};

// Matches workers by id; a worker missing from `before` counts from zero.
StatsDelta stats_delta(const StatsSample& before, const StatsSample& after);

}  // namespace herdless::bench
