// Runs one strategy of one bench scenario: a fresh server, the load driven in-process with
// the load generator, /stats and /proc read before and after, the server stopped. Every
// failure (server refused the strategy, did not start, load error) becomes an unmeasured
// row with a note, so that one bad strategy never stops the others.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "herdless/bench/bench_report.h"
#include "herdless/bench/scenario.h"
#include "herdless/load/load_options.h"

namespace herdless::bench {

struct RunContext {
  std::string binary = "/proc/self/exe";  // the herdless binary to run `serve` from
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const load::LoadProgress&)> on_progress;
  std::vector<std::string> extra_serve_args;  // appended to every `herdless serve`
};

// The `herdless serve` arguments of a scenario under a strategy. Reuseport leaves out
// --accept (it is the default, so older servers run it too); `extra` comes last.
std::vector<std::string> serve_arguments(const Scenario& scenario, const Strategy& strategy,
                                         const std::vector<std::string>& extra = {});

BenchRow run_strategy(const Scenario& scenario, const Strategy& strategy, const RunContext& context);

}  // namespace herdless::bench
