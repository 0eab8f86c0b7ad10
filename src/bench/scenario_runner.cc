// One strategy of one scenario: server up, (worker stopped,) load, counters, server down.
#include "herdless/bench/scenario_runner.h"

#include <signal.h>

#include <optional>
#include <thread>

#include "herdless/bench/bench_server.h"
#include "herdless/bench/cpu_time.h"
#include "herdless/load/load_generator.h"

namespace herdless::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = 15s;
constexpr auto kSettle = 200ms;         // every worker's loop turning before the load
constexpr auto kStallBeforeLoad = 300ms;  // the stopped worker's heartbeat is stale by then

bool cancelled(const RunContext& context) { return context.cancel != nullptr && context.cancel->load(); }

void sleep_unless_cancelled(Clock::duration time, const RunContext& context) {
  const auto until = Clock::now() + time;
  while (Clock::now() < until && !cancelled(context)) std::this_thread::sleep_for(std::min<Clock::duration>(20ms, until - Clock::now()));
}

// SIGSTOP now, SIGCONT when destroyed: a worker is never left stopped.
class StoppedProcess {
 public:
  explicit StoppedProcess(int pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
  ~StoppedProcess() { ::kill(pid_, SIGCONT); }
  StoppedProcess(const StoppedProcess&) = delete;
  StoppedProcess& operator=(const StoppedProcess&) = delete;

 private:
  int pid_;
};

load::LoadOptions load_options(const Scenario& s, const ListenAddress& target, const RunContext& context) {
  load::LoadOptions o;
  o.target = target;
  o.mode = s.kind == Scenario::Kind::hold ? load::LoadOptions::Mode::hold : load::LoadOptions::Mode::connect;
  o.concurrency = s.concurrency;
  o.duration = s.duration;
  o.timeout = s.timeout;
  o.hold_connections = s.hold_connections;
  o.on_progress = context.on_progress;
  o.cancel = context.cancel;
  return o;
}

// Runs the hold load on a thread and, once the workers hold every connection (or their
// sum has not moved for 0.5 s), reads each worker's active count from /stats.
Result<load::LoadResult> run_hold(const Scenario& s, const BenchServer& server, const load::LoadOptions& options,
                                  std::vector<double>& active, const RunContext& context) {
  std::optional<Result<load::LoadResult>> result;
  std::atomic<bool> done{false};
  std::thread loader([&] {
    result = load::run_load(options);
    done = true;
  });
  int64_t last = -1;
  auto since = Clock::now();
  const auto give_up = Clock::now() + 10s + s.timeout;
  std::optional<StatsSample> held;
  while (!done && !cancelled(context) && Clock::now() < give_up) {
    if (auto sample = server.stats()) {
      int64_t total = 0;
      for (const WorkerSample& w : sample->workers) total += w.active;
      if (total != last) {
        last = total;
        since = Clock::now();
      }
      held = *sample;
      if (total >= s.hold_connections || (total > 0 && Clock::now() - since > 500ms)) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  loader.join();
  if (!held) return input_error("could not read /stats while connections were held", server.admin().host_port());
  active.assign(held->workers.size(), 0.0);
  for (std::size_t i = 0; i < held->workers.size(); ++i) active[i] = static_cast<double>(held->workers[i].active);
  return std::move(*result);
}

// Runs the load on a thread of its own, so the client is a new task for the scheduler in
// every run. On one long-lived thread the run after a `shared` one (a wake-up of every worker
// per connection) was 5-15 % slower whatever its strategy, in every round and even after a
// 1.5 s pause, while separate `herdless load` processes showed nothing of the kind; with a
// new thread per run the effect is gone (8 ABBA rounds: least-loaded after shared 0.99-1.06x
// hash, before 0.87-0.91x). Likely cause, not measured: per-task wake-up history such as the
// count of switches between wakees that wake_wide() reads, halved at most once a second.
Result<load::LoadResult> run_load_on_new_thread(const load::LoadOptions& options) {
  std::optional<Result<load::LoadResult>> result;
  std::thread([&] { result = load::run_load(options); }).join();
  return std::move(*result);
}

std::vector<double> replies_per_worker(const load::LoadResult& result, int workers) {
  std::vector<double> shares(static_cast<std::size_t>(workers), 0.0);
  for (const auto& [worker, count] : result.per_worker) {
    if (worker >= 0 && worker < workers) shares[static_cast<std::size_t>(worker)] = static_cast<double>(count);
  }
  return shares;
}

std::vector<int> pids_of(const StatsSample& sample) {
  std::vector<int> pids;
  for (const WorkerSample& w : sample.workers) pids.push_back(w.pid);
  return pids;
}

// What the server reports it runs, when that differs from what was asked.
std::string mismatch(const StatsSample& sample, const Strategy& strategy) {
  std::string note;
  if (!sample.accept.empty() && sample.accept != strategy.accept) note = "the server runs accept " + sample.accept;
  if (!strategy.steer.empty() && sample.steer != strategy.steer) {
    note += (note.empty() ? "" : "; ") + std::string("steering fell back to ") + sample.steer;
  }
  return note;
}

}  // namespace

std::vector<std::string> serve_arguments(const Scenario& s, const Strategy& strategy,
                                         const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--listen",  "tcp://127.0.0.1:0", "--admin",   "127.0.0.1:0",
                                   "--workers", std::to_string(s.workers), "--service", s.service,
                                   "--message", "worker={worker}\\n",  "--drain-timeout", "1s"};
  if (strategy.accept != "reuseport") args.insert(args.end(), {"--accept", strategy.accept});
  if (!strategy.steer.empty()) args.insert(args.end(), {"--steer", strategy.steer});
  if (s.accept_batch > 0) args.insert(args.end(), {"--accept-batch", std::to_string(s.accept_batch)});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

BenchRow run_strategy(const Scenario& s, const Strategy& strategy, const RunContext& context) {
  auto server = BenchServer::start(context.binary, serve_arguments(s, strategy, context.extra_serve_args), kStartTimeout, context.cancel);
  if (!server) return unmeasured_row(strategy, server.error().message());
  sleep_unless_cancelled(kSettle, context);
  auto before = (*server)->stats();
  if (!before) return unmeasured_row(strategy, before.error().message());
  BenchRow row;
  row.strategy = strategy;
  const std::vector<int> pids = pids_of(*before);
  std::optional<StoppedProcess> stopped;
  if (s.kind == Scenario::Kind::stalled && s.stopped_worker < static_cast<int>(pids.size())) {
    stopped.emplace(pids[static_cast<std::size_t>(s.stopped_worker)]);
    sleep_unless_cancelled(kStallBeforeLoad, context);
  }
  const bool processes = before->mode != "thread";
  const auto cpu_before = processes ? total_cpu_seconds(pids) : std::nullopt;

  const load::LoadOptions options = load_options(s, (*server)->listener(), context);
  std::vector<double> shares;
  Result<load::LoadResult> result = s.kind == Scenario::Kind::hold
                                        ? run_hold(s, **server, options, shares, context)
                                        : run_load_on_new_thread(options);

  const auto cpu_after = processes ? total_cpu_seconds(pids) : std::nullopt;
  auto after = (*server)->stats();
  stopped.reset();
  (*server)->stop();
  if (!result) return unmeasured_row(strategy, result.error().message());
  if (result->cancelled || cancelled(context)) return unmeasured_row(strategy, "cancelled");
  if (!after) return unmeasured_row(strategy, after.error().message());

  set_load_figures(row, *result);
  row.note = mismatch(*after, strategy);
  if (s.kind != Scenario::Kind::hold) shares = replies_per_worker(*result, s.workers);
  set_balance(row, std::move(shares));
  const StatsDelta delta = stats_delta(*before, *after);
  row.accepted = delta.accepted;
  row.wakeups = delta.wakeups;
  row.empty_accepts = delta.empty_accepts;
  row.wakeups_per_accept = delta.wakeups_per_accept();
  const uint64_t served = s.kind == Scenario::Kind::hold ? result->connected : result->completed;
  if (cpu_before && cpu_after && served > 0 && pids_of(*after) == pids) {
    row.cpu_us_per_connection = (*cpu_after - *cpu_before) * 1e6 / static_cast<double>(served);
  }
  return row;
}

}  // namespace herdless::bench
