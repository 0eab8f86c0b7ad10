// The plan of `herdless bench`: its scenarios (server shape and load) and the strategies
// (accept strategy, steering) each scenario runs. Worker counts scale from one base N
// (--workers, default the CPU count): steady N, oversubscribed 8N, stalled N (at least 2),
// long-lived 4N; on a 2-CPU machine that is 2, 16, 2 and 8.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace herdless::bench {

struct Scenario {
  enum class Kind {
    steady,   // closed loop of short connections; per-worker shares from the replies
    stalled,  // the same with one worker stopped (SIGSTOP) for the whole run
    hold,     // open `hold_connections` and keep them; per-worker shares from /stats active
  };
  std::string name;   // file name part: bench-<name>.json
  std::string title;  // one line for the table and the chart
  Kind kind = Kind::steady;
  int workers = 2;
  std::string service = "hello";  // `herdless serve --service`
  int concurrency = 64;           // clients in flight (hold: connecting at once)
  std::chrono::milliseconds duration{5000};  // load time (hold: how long connections are held)
  std::chrono::milliseconds timeout{1000};   // per-connection deadline (hold: to connect)
  int hold_connections = 0;
  int stopped_worker = 1;  // stalled: the slot whose worker gets SIGSTOP
  int accept_batch = 0;    // `herdless serve --accept-batch` (0: the server's default)
};

struct Strategy {
  std::string accept;  // reuseport | shared | shared-exclusive | accept-mutex
  std::string steer;   // reuseport only: hash | least-loaded; empty otherwise
  // "reuseport hash", "shared-exclusive", ...
  std::string label() const { return steer.empty() ? accept : accept + " " + steer; }
};

struct PlanOptions {
  bool quick = false;  // shorter runs: the whole bench in under 2 minutes
  int base_workers = 2;
  // Overrides every scenario's load time when positive (tests: a few hundred ms).
  std::chrono::milliseconds duration{0};
  std::vector<std::string> only;  // scenario names to run; empty: all
};

// The scenarios in run order: steady, oversubscribed, stalled, long-lived.
std::vector<Scenario> bench_scenarios(const PlanOptions& options);

// reuseport hash, reuseport least-loaded, shared, shared-exclusive, accept-mutex.
std::vector<Strategy> bench_strategies();

// The scenario names bench_scenarios knows, for --scenario validation.
std::vector<std::string> bench_scenario_names();

}  // namespace herdless::bench
