// `herdless bench`: starts `herdless serve` (this same binary) under every accept strategy
// and steering policy, drives each with the load generator in-process, prints one table per
// scenario and writes DIR/bench-<scenario>.json and DIR/bench-<scenario>.svg. Every server
// runs in its own process group and is killed even on error or ^C (a second ^C kills them
// at once).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "herdless/bench/bench_server.h"
#include "herdless/bench/bench_table.h"
#include "herdless/bench/rounds.h"
#include "herdless/bench/scenario_runner.h"
#include "herdless/bench/svg_chart.h"
#include "herdless/duration.h"
#include "herdless/load/progress_line.h"

namespace herdless::cli {
namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signals{0};

// First signal: stop after the current step, servers stopped on the way out. Second: kill
// every server now and leave.
extern "C" void on_stop_signal(int) {
  if (g_signals.fetch_add(1) > 0) {
    bench::kill_all_bench_servers();
    ::_exit(130);
  }
  g_cancel.store(true);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &action, nullptr);
}

struct BenchFlags {
  bool quick = false;
  std::string out = "bench/results";
  int workers = 0;
  std::string duration;  // hidden: every scenario's load time (tests)
  std::vector<std::string> scenarios;
  std::vector<std::string> serve_args;
  int rounds = 0;  // 0: 4, or 1 with --quick
};

// Held connections need descriptors on both sides; the servers inherit the limit.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1 << 20);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

nlohmann::json environment(const BenchFlags& flags) {
  utsname names{};
  ::uname(&names);
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  return {{"date", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)))},
          {"kernel", names.release},
          {"cpus", std::thread::hardware_concurrency()},
          {"loadavg_start", {load[0], load[1], load[2]}},
          {"herdless", HERDLESS_VERSION},
          {"quick", flags.quick},
          {"extra_serve_args", flags.serve_args}};
}

Result<void> write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return sys_error("write", path.string());
  return {};
}

std::string run_summary(const bench::BenchRow& row) {
  if (!row.measured) return "n/a: " + row.note;
  return fmt::format("{} conn/s, {} failed", load::with_thousands(static_cast<uint64_t>(row.connections_per_second)),
                     load::with_thousands(row.failed));
}

int run(const BenchFlags& flags) {
  bench::PlanOptions plan;
  plan.quick = flags.quick;
  plan.base_workers = flags.workers > 0 ? flags.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  plan.only = flags.scenarios;
  if (!flags.duration.empty()) {
    auto duration = parse_duration(flags.duration);
    if (!duration || duration->count() <= 0) {
      std::fprintf(stderr, "herdless: invalid --duration %s\n", flags.duration.c_str());
      return kExitBadInput;
    }
    plan.duration = *duration;
  }
  const auto known = bench::bench_scenario_names();
  for (const std::string& name : flags.scenarios) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::fprintf(stderr, "herdless: unknown scenario %s (want steady, oversubscribed, stalled or long-lived)\n",
                   name.c_str());
      return kExitBadInput;
    }
  }
  std::error_code error;
  std::filesystem::create_directories(flags.out, error);
  if (error) {
    std::fprintf(stderr, "herdless: cannot create %s: %s\n", flags.out.c_str(), error.message().c_str());
    return 1;
  }
  install_signal_handlers();
  raise_fd_limit();

  const auto scenarios = bench::bench_scenarios(plan);
  const auto strategies = bench::bench_strategies();
  const std::size_t rounds = static_cast<std::size_t>(flags.rounds > 0 ? flags.rounds : flags.quick ? 1 : 4);
  const std::size_t total = scenarios.size() * strategies.size() * rounds;
  const auto began = std::chrono::steady_clock::now();
  load::ProgressLine progress;
  std::size_t step = 0;
  for (const bench::Scenario& scenario : scenarios) {
    bench::ScenarioReport report{scenario, {}, environment(flags)};
    report.environment["rounds"] = rounds;
    std::vector<std::vector<bench::BenchRow>> runs(strategies.size());
    for (std::size_t round = 0; round < rounds && !g_cancel; ++round) {
      for (std::size_t i = 0; i < strategies.size(); ++i) {
        const std::size_t index = bench::round_order_index(i, round, strategies.size());
        const bench::Strategy& strategy = strategies[index];
        const std::string what = fmt::format("bench [{}/{}] {} · {}{}", ++step, total, scenario.name, strategy.label(),
                                             rounds > 1 ? fmt::format(" (round {})", round + 1) : std::string());
        progress.show(what + ": starting the server", true);
        bench::RunContext context;
        context.cancel = &g_cancel;
        context.extra_serve_args = flags.serve_args;
        if (progress.enabled()) {
          context.on_progress = [&](const load::LoadProgress& p) { progress.show(what + ": " + load::describe(p)); };
        }
        runs[index].push_back(bench::run_strategy(scenario, strategy, context));
        if (g_cancel) break;
        if (!progress.enabled()) std::fprintf(stderr, "%s: %s\n", what.c_str(), run_summary(runs[index].back()).c_str());
      }
    }
    report.rows = bench::combine_rounds(runs);
    progress.clear();
    if (g_cancel) {
      std::fprintf(stderr, "herdless: bench interrupted; every server it started is stopped\n");
      return 130;
    }
    double load[3] = {0, 0, 0};
    ::getloadavg(load, 3);
    report.environment["loadavg_end"] = {load[0], load[1], load[2]};
    fmt::print("{}\n", bench::render_table(report));
    std::fflush(stdout);
    const std::filesystem::path base = std::filesystem::path(flags.out) / ("bench-" + scenario.name);
    for (auto written : {write_file(base.string() + ".json", bench::to_json(report).dump(2) + "\n"),
                         write_file(base.string() + ".svg", bench::render_svg(report))}) {
      if (!written) {
        std::fprintf(stderr, "herdless: %s\n", written.error().message().c_str());
        return 1;
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::fprintf(stderr, "bench: %zu runs in %.0f s; results in %s/bench-*.json and .svg\n", total, seconds,
               flags.out.c_str());
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure every accept strategy and steering policy of herdless serve on this machine");
  cmd->add_flag("--quick", flags->quick, "shorter runs (the whole bench in under 2 minutes)");
  cmd->add_option("--out", flags->out, "directory of bench-<scenario>.json and .svg")->capture_default_str();
  cmd->add_option("--workers", flags->workers,
                  "base worker count N (default: CPUs): steady N, oversubscribed 8N, stalled N, long-lived 4N");
  cmd->add_option("--scenario", flags->scenarios, "run only this scenario (repeatable): steady, oversubscribed, "
                                                  "stalled, long-lived");
  cmd->add_option("--rounds", flags->rounds,
                  "runs of every strategy, the order reversed every other round (ABBA); the median is reported (default 4, --quick 1)")
      ->check(CLI::Range(1, 20));
  cmd->add_option("--serve-arg", flags->serve_args,
                  "extra argument for every herdless serve, repeatable (e.g. --serve-arg=--accept-batch=1)")
      ->allow_extra_args(false);
  cmd->add_option("--duration", flags->duration, "load time of every scenario (for tests)")->group("");
  cmd->callback([flags, &exit_code] { exit_code = run(*flags); });
}

}  // namespace herdless::cli
