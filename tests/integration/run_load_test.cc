// Integration: `herdless run` under load, with real programs: the Python standard-library
// server spread over four slots (replies and /stats agree), rolling restarts (SIGHUP) that
// fail no request even when new programs take seconds to start or drop unread connections
// when asked to stop, a stopped program whose queue is rescued (against --steer hash, which
// cannot), and gunicorn / uvicorn as they are.
// Each test runs in its own network namespace when it may (as root).
#include <gtest/gtest.h>

#include <fstream>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "integration/run_support.h"
#include "testutil/client.h"
#include "testutil/netns.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using runtest::RunServer;

// Its own network namespace when the test may make one (root); else the host's.
#define RUN_ISOLATED_IF_POSSIBLE()                                               \
  do {                                                                           \
    if (::herdless::testutil::bpf_unavailable_reason().empty()) {                \
      if (auto why = ::herdless::testutil::enter_new_netns(); !why.empty()) {    \
        GTEST_SKIP() << why;                                                     \
      }                                                                          \
    }                                                                            \
  } while (0)

const std::vector<std::string> kFourWorkers = {"--listen", "tcp://127.0.0.1:0", "--workers", "4", "--admin",
                                               "127.0.0.1:0"};

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

void expect_clean_stop(RunServer& run, std::chrono::milliseconds timeout = 10s) {
  const std::set<int> programs = run.program_pids();
  run->signal(SIGTERM);
  EXPECT_EQ(run->wait_exit(timeout), std::optional<int>(0)) << run->log();
  const auto left = runtest::wait_gone(programs, 3s);
  EXPECT_TRUE(left.empty()) << "still running: " << runtest::join(left) << "\n" << run->log();
}

// Every program of the log other than the slots' current ones has exited.
void expect_old_generations_gone(RunServer& run, const nlohmann::json& stats) {
  std::set<int> old = run.program_pids();
  for (int pid : runtest::slot_pids(stats)) old.erase(pid);
  const auto left = runtest::wait_gone(old, 5s);
  EXPECT_TRUE(left.empty()) << "old programs still running: " << runtest::join(left) << "\n" << run->log();
}

// Whether a line of `log` holds "(pid PID, generation" and then `tail`.
bool pid_line_with(const std::string& log, int pid, const std::string& tail) {
  const std::string head = fmt::format("(pid {}, generation", pid);
  for (size_t at = log.find(head); at != std::string::npos; at = log.find(head, at + 1)) {
    const size_t end = log.find('\n', at);
    if (log.substr(at, end == std::string::npos ? std::string::npos : end - at).find(tail) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Every program seen that is not among `current` exited with code 0 on its stop signal, and no
// program ended otherwise. A generation superseded before a slot's turn came (the roll waits
// for each slot's new program to be ready) never starts that slot's program, so how many there
// were depends on the machine's pace. The exit lines are written when the supervisor reaps a
// program, which can come after the test saw it gone: waited for up to `timeout`.
void expect_old_programs_exited_on_stop(RunServer& run, const std::vector<int>& current,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::set<int> old;
  std::vector<int> missing;
  do {
    old = run.program_pids();
    for (int pid : current) old.erase(pid);
    const std::string log = run->log();
    missing.clear();
    for (int pid : old) {
      if (!pid_line_with(log, pid, "exited with code 0 after its stop")) missing.push_back(pid);
    }
    if (missing.empty()) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  const std::string log = run->log();
  EXPECT_TRUE(missing.empty()) << "no exit on stop for: " << runtest::join(missing) << "\n" << log;
  EXPECT_EQ(runtest::count_of(log, "after its stop"), old.size()) << log;
  // Each reload starts at least its first slot's program, and the first generation is replaced.
  EXPECT_GE(old.size(), 8u) << log;
}

// Until every slot's current program is of `generation` and ready.
nlohmann::json wait_generation(RunServer& run, size_t workers, int generation, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    nlohmann::json s = run.wait_all_ready(workers, 1s);
    if (s.is_object()) {
      bool all = true;
      for (const auto& w : s["workers"]) all = all && w["program"]["generation"].get<int>() == generation;
      if (all) return s;
    }
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}

// --- distribution -----------------------------------------------------------------------------

TEST(RunLoad, FourProgramsShareConnectionsAndStatsCountWhatEachAccepted) {
  HERDLESS_REQUIRE_BPF_NETNS();  // least-loaded, and /stats' accepted comes from the kernel
  RunServer run(kFourWorkers, runtest::stdlib_server());
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto ready = run.wait_all_ready(4);
  ASSERT_TRUE(ready.is_object()) << run->log();
  EXPECT_EQ(ready["mode"], "program");
  EXPECT_EQ(ready["steer"], "least-loaded");
  EXPECT_EQ(ready["command"], nlohmann::json(runtest::stdlib_server()));
  const auto result = runtest::http_load(run->listener(), 3000ms);
  EXPECT_GT(result.completed, 1000u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  EXPECT_EQ(result.unattributed, 0u) << runtest::describe(result);
  runtest::expect_shares(result, 4, 0.15, 0.35);
  std::this_thread::sleep_for(300ms);  // a few samples of the kernel's counts
  const auto stats = run.stats();
  ASSERT_TRUE(stats.is_object());
  for (const auto& w : stats["workers"]) {
    const int id = w["id"].get<int>();
    const auto it = result.per_worker.find(id);
    const uint64_t replied = it == result.per_worker.end() ? 0 : it->second;
    EXPECT_EQ(w["accepted"].get<uint64_t>(), replied) << "worker " << id << ": " << w.dump();
    EXPECT_EQ(w["program"]["accepted"].get<uint64_t>(), replied) << "worker " << id;
    EXPECT_EQ(w["program"]["queued"].get<uint64_t>(), 0u) << "worker " << id;
    if (w["program"].contains("open")) {
      EXPECT_EQ(w["program"]["open"].get<int64_t>(), 0) << "worker " << id;
    }
    EXPECT_EQ(w["restarts"].get<int>(), 0);
    EXPECT_EQ(w["rescues"].get<int>(), 0);
    EXPECT_EQ(w["program"]["generation"].get<int>(), 1);
    EXPECT_TRUE(w["program"]["ready"].get<bool>());
    EXPECT_EQ(w["program"]["last_exit"], "");
  }
  expect_clean_stop(run);
}

// --- rolling restarts -------------------------------------------------------------------------

TEST(RunLoad, SighupEverySecondUnderLoadFailsNothing) {
  RUN_ISOLATED_IF_POSSIBLE();
  RunServer run(kFourWorkers, runtest::stdlib_server());
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto first = run.wait_all_ready(4);
  ASSERT_TRUE(first.is_object()) << run->log();
  auto load = runtest::start_http_load(run->listener(), 5500ms, 2000ms);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(1000ms);
    run->signal(SIGHUP);
  }
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  EXPECT_EQ(result.unattributed, 0u) << runtest::describe(result);
  const auto stats = wait_generation(run, 4, 6, 5s);
  ASSERT_TRUE(stats.is_object()) << run.stats().dump() << "\n" << run->log();
  const auto pids = runtest::slot_pids(stats);
  const auto before = runtest::slot_pids(first);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NE(pids[i], before[i]) << "slot " << i;
    EXPECT_EQ(stats["workers"][i]["restarts"].get<int>(), 0) << "a reload is not a crash";
  }
  expect_old_generations_gone(run, stats);
  expect_old_programs_exited_on_stop(run, pids, 5s);
  expect_clean_stop(run);
}

TEST(RunLoad, SighupWithProgramsSlowToStartFailsNothing) {
  RUN_ISOLATED_IF_POSSIBLE();
  // Every program sleeps 3 s before its first accept: the old generation goes on serving
  // until the new one accepts.
  RunServer run(with(kFourWorkers, {"--ready-timeout", "10s"}), runtest::stdlib_server({"--sleep-before-accept", "3"}));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(wait_generation(run, 4, 1, 8s).is_object()) << run->log();
  auto load = runtest::start_http_load(run->listener(), 4500ms, 2000ms);
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(1000ms);
    run->signal(SIGHUP);
    const auto s = run.stats();
    ASSERT_TRUE(s.is_object());
  }
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  // A reload rolls one slot at a time: the last generation reaches every slot after 4 starts.
  const auto stats = wait_generation(run, 4, 5, 20s);
  ASSERT_TRUE(stats.is_object()) << run.stats().dump() << "\n" << run->log();
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(stats["workers"][i]["restarts"].get<int>(), 0);
  expect_old_generations_gone(run, stats);
  // The new generation serves.
  const auto after = runtest::http_load(run->listener(), 300ms);
  EXPECT_EQ(after.failed, 0u) << runtest::describe(after);
  EXPECT_GT(after.completed, 0u);
  expect_clean_stop(run);
}

// Like uvicorn: takes a connection's request in only a while (200 ms) after accepting it, and
// when asked to stop closes every connection whose request it has not read (its client gets a
// reset: the request was unread). Four of them under load and reloads fail nothing only if a
// program gets its stop signal once nothing reaches it any more and it has read what it took.
const std::string kClosesUnreadOnStop = R"PY(
import os, selectors, signal, socket, time
s = socket.socket(fileno=3)
s.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
body = ('worker=%s\n' % os.environ['HERDLESS_WORKER']).encode()
reply = b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body
held = []
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
while not stopping:
    for _ in sel.select(0.02):
        while True:
            try:
                c, _ = s.accept()
            except BlockingIOError:
                break
            held.append((c, time.monotonic()))
    now = time.monotonic()
    for c, at in [h for h in held if now - h[1] >= 0.2]:
        c.setblocking(True)
        c.recv(4096)
        c.sendall(reply)
        c.close()
    held = [h for h in held if now - h[1] < 0.2]
for c, _ in held:
    c.close()
)PY";

TEST(RunLoad, SighupWithAProgramThatClosesUnreadConnectionsOnStopFailsNothing) {
  HERDLESS_REQUIRE_BPF_NETNS();  // the hand-over of a slot's sockets needs the steering program
  RunServer run(kFourWorkers, {runtest::kPython, "-c", kClosesUnreadOnStop});
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(4).is_object()) << run->log();
  auto load = runtest::start_http_load(run->listener(), 3500ms, 2000ms);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(1000ms);
    run->signal(SIGHUP);
  }
  const auto result = load.get();
  EXPECT_GT(result.completed, 200u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  const auto stats = wait_generation(run, 4, 4, 15s);
  ASSERT_TRUE(stats.is_object()) << run.stats().dump() << "\n" << run->log();
  expect_old_generations_gone(run, stats);
  expect_clean_stop(run);
}

// --- binary upgrade ---------------------------------------------------------------------------

TEST(RunLoad, BinaryUpgradeUnderLoadFailsNothingAndHandsTheSlotsOver) {
  RUN_ISOLATED_IF_POSSIBLE();
  const std::string pid_file = "/tmp/herdless-run-upgrade-" + std::to_string(::getpid());
  RunServer run(with(kFourWorkers, {"--pid-file", pid_file}), runtest::stdlib_server());
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto first = run.wait_all_ready(4);
  ASSERT_TRUE(first.is_object()) << run->log();
  const auto before = runtest::slot_pids(first);
  auto load = runtest::start_http_load(run->listener(), 4000ms, 2000ms);
  std::this_thread::sleep_for(1000ms);
  run->signal(SIGUSR2);
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  // The old supervisor drains once the new one's programs are ready, and exits 0.
  EXPECT_EQ(run->wait_exit(15s), std::optional<int>(0)) << run->log();
  int successor = 0;
  std::ifstream(pid_file) >> successor;
  ASSERT_GT(successor, 0) << run->log();
  EXPECT_NE(successor, run->pid());
  EXPECT_TRUE(runtest::alive(successor));
  // The same admin endpoint (handed over) shows four new programs, and the old ones are gone.
  const auto stats = run.wait_all_ready(4);
  ASSERT_TRUE(stats.is_object()) << run->log();
  const auto pids = runtest::slot_pids(stats);
  std::set<int> old(before.begin(), before.end());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(old.count(pids[i]), 0u) << "slot " << i << " kept its program";
  EXPECT_TRUE(runtest::wait_gone(old, 5s).empty()) << run->log();
  const auto after = runtest::http_load(run->listener(), 500ms);
  EXPECT_EQ(after.failed, 0u) << runtest::describe(after);
  runtest::expect_shares(after, 4, 0.05, 0.6);
  ::kill(successor, SIGTERM);
  std::set<int> current(pids.begin(), pids.end());
  current.insert(successor);
  EXPECT_TRUE(runtest::wait_gone(current, 10s).empty()) << "left running after SIGTERM to the successor";
  ::unlink(pid_file.c_str());
}

// --- a stopped program ------------------------------------------------------------------------

struct StallOutcome {
  load::LoadResult during;
  load::LoadResult after;
  nlohmann::json stats;
  std::string log;
  int stopped_pid = 0;
};

// Four programs under load (1 s timeout); slot 1's is SIGSTOPped for 3 s.
StallOutcome stop_one_program_under_load(const std::vector<std::string>& extra) {
  StallOutcome out;
  RunServer run(with(kFourWorkers, extra), runtest::stdlib_server());
  EXPECT_TRUE(run->wait_ready()) << run->log();
  const auto ready = run.wait_all_ready(4);
  EXPECT_TRUE(ready.is_object()) << run->log();
  if (!ready.is_object()) return out;
  out.stopped_pid = runtest::slot_pids(ready).at(1);
  auto load = runtest::start_http_load(run->listener(), 4000ms, 1000ms);
  std::this_thread::sleep_for(700ms);
  ::kill(out.stopped_pid, SIGSTOP);
  std::this_thread::sleep_for(3000ms);
  ::kill(out.stopped_pid, SIGCONT);
  out.during = load.get();
  out.after = runtest::http_load(run->listener(), 1000ms, 1000ms);
  out.stats = run.stats();
  out.log = run->log();
  expect_clean_stop(run);
  return out;
}

TEST(RunLoad, StoppedProgramsQueueIsRescuedAndANewProgramTakesItsSlot) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const StallOutcome least_loaded = stop_one_program_under_load({});
  ASSERT_TRUE(least_loaded.stats.is_object()) << least_loaded.log;
  const load::LoadResult& r = least_loaded.during;
  EXPECT_GT(r.completed, 1000u) << runtest::describe(r);
  EXPECT_LE(static_cast<double>(r.timed_out), 0.005 * static_cast<double>(r.attempted)) << runtest::describe(r);
  EXPECT_EQ(r.failed, r.timed_out) << runtest::describe(r);
  EXPECT_NE(least_loaded.log.find("worker 1 stalled"), std::string::npos) << least_loaded.log;
  EXPECT_NE(least_loaded.log.find("a new program takes its slot"), std::string::npos) << least_loaded.log;
  EXPECT_EQ(least_loaded.stats["workers"][1]["rescues"].get<int>(), 1) << least_loaded.stats.dump();
  EXPECT_NE(least_loaded.stats["workers"][1]["pid"].get<int>(), least_loaded.stopped_pid);
  EXPECT_TRUE(least_loaded.stats["workers"][1]["program"]["ready"].get<bool>());
  // Right after SIGCONT every slot answers again.
  EXPECT_EQ(least_loaded.after.failed, 0u) << runtest::describe(least_loaded.after);
  runtest::expect_shares(least_loaded.after, 4, 0.10, 0.40);

  // The kernel's hash leaves the stopped program's share waiting in its queue.
  const StallOutcome hash = stop_one_program_under_load({"--steer", "hash"});
  ASSERT_TRUE(hash.stats.is_object()) << hash.log;
  std::printf("  least-loaded: %s\n  hash:         %s\n", runtest::describe(r).c_str(),
              runtest::describe(hash.during).c_str());
  EXPECT_EQ(hash.log.find("worker 1 stalled"), std::string::npos) << hash.log;
  EXPECT_GE(hash.during.timed_out, 30u) << runtest::describe(hash.during);
  EXPECT_GE(hash.during.timed_out, 5 * std::max<uint64_t>(r.timed_out, 1))
      << "least-loaded: " << runtest::describe(r) << "\nhash: " << runtest::describe(hash.during);
}

// --- third-party servers ----------------------------------------------------------------------

bool python_has(const std::string& module) {
  const std::string command = runtest::kPython + " -c 'import " + module + "' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

void serve_four_and_stop(const std::vector<std::string>& flags, const std::vector<std::string>& command) {
  RunServer run(flags, command);
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(4, 20s).is_object()) << run->log();
  const auto result = runtest::http_load(run->listener(), 3000ms);
  EXPECT_GT(result.completed, 1000u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  EXPECT_EQ(result.unattributed, 0u) << runtest::describe(result);
  runtest::expect_shares(result, 4, 0.15, 0.35);
  const auto stats = run.stats();
  for (const auto& w : stats["workers"]) EXPECT_EQ(w["restarts"].get<int>(), 0) << run->log();
  expect_clean_stop(run, 15s);
}

TEST(RunThirdParty, GunicornInEveryWorkerSlot) {
  if (!python_has("gunicorn")) GTEST_SKIP() << runtest::kPython << " cannot import gunicorn (scripts/install-deps.sh)";
  RUN_ISOLATED_IF_POSSIBLE();
  // gunicorn 20.1 refuses --bind fd://3 together with LISTEN_FDS: einhorn's variable only.
  serve_four_and_stop(with(kFourWorkers, {"--fd-env", "einhorn"}),
                      {runtest::kPython, "-m", "gunicorn", "--workers", "1", "--bind", "fd://3", "--chdir",
                       runtest::apps_dir(), "wsgi_app:app"});
}

TEST(RunThirdParty, UvicornInEveryWorkerSlot) {
  if (!python_has("uvicorn")) GTEST_SKIP() << runtest::kPython << " cannot import uvicorn (scripts/install-deps.sh)";
  RUN_ISOLATED_IF_POSSIBLE();
  serve_four_and_stop(kFourWorkers, {runtest::kPython, "-m", "uvicorn", "--fd", "3", "--no-access-log", "--app-dir",
                                     runtest::apps_dir(), "asgi_app:app"});
}

}  // namespace
}  // namespace herdless
