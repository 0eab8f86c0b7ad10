// The scenarios and strategies of `herdless bench`.
#include "herdless/bench/scenario.h"

#include <algorithm>

namespace herdless::bench {

std::vector<std::string> bench_scenario_names() { return {"steady", "oversubscribed", "stalled", "long-lived"}; }

std::vector<Scenario> bench_scenarios(const PlanOptions& options) {
  using std::chrono::milliseconds;
  const int n = std::max(options.base_workers, 1);
  const milliseconds load_time = options.quick ? milliseconds(2000) : milliseconds(5000);
  const milliseconds hold_time = options.quick ? milliseconds(1500) : milliseconds(3000);
  std::vector<Scenario> all;

  Scenario steady;
  steady.name = "steady";
  steady.workers = n;
  steady.title = "steady short connections, " + std::to_string(n) + " workers";
  steady.duration = load_time;
  all.push_back(steady);

  Scenario over = steady;
  over.name = "oversubscribed";
  over.workers = 8 * n;
  // One accept per wake-up (nginx's default, multi_accept off), so wake-ups show the herd.
  over.accept_batch = 1;
  over.title = "more workers than cores: " + std::to_string(over.workers) + " workers, one accept per wake-up";
  all.push_back(over);

  Scenario stalled = steady;
  stalled.name = "stalled";
  stalled.kind = Scenario::Kind::stalled;
  stalled.workers = std::max(n, 2);
  stalled.title = "one of " + std::to_string(stalled.workers) + " workers stopped (SIGSTOP), 1 s client timeout";
  all.push_back(stalled);

  Scenario hold;
  hold.name = "long-lived";
  hold.kind = Scenario::Kind::hold;
  hold.workers = 4 * n;
  hold.service = "echo";
  hold.hold_connections = 2000;
  hold.duration = hold_time;
  hold.timeout = milliseconds(2000);
  hold.title = "long-lived balance: 2000 connections held on " + std::to_string(hold.workers) + " workers (echo)";
  all.push_back(hold);

  std::vector<Scenario> chosen;
  for (Scenario& s : all) {
    if (!options.only.empty() && std::find(options.only.begin(), options.only.end(), s.name) == options.only.end()) {
      continue;
    }
    if (options.duration.count() > 0) s.duration = options.duration;
    chosen.push_back(s);
  }
  return chosen;
}

std::vector<Strategy> bench_strategies() {
  return {{"reuseport", "hash"}, {"reuseport", "least-loaded"}, {"shared", ""}, {"shared-exclusive", ""},
          {"accept-mutex", ""}};
}

}  // namespace herdless::bench
