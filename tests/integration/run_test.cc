// Integration: `herdless run -- COMMAND`: what a program is given (exactly the slot's sockets
// at fd 3.., the LISTEN_*/EINHORN_FDS/HERDLESS_* environment by --fd-env), how herdless
// decides it is ready, restarts on the same sockets, stops (gracefully, then SIGKILL of the
// whole process group), the fallback without BPF privilege, and bad input. Every test checks
// that no program outlives it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "integration/run_support.h"
#include "testutil/client.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using runtest::RunServer;
using testutil::ServerProcess;

std::string temp_name(const std::string& name) {
  return "/tmp/herdless-run-" + std::to_string(::getpid()) + "-" + name;
}

// Waits for a file that a program writes (atomically, by rename) and parses it.
nlohmann::json wait_json(const std::string& path, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::access(path.c_str(), R_OK) == 0) {
      auto parsed = nlohmann::json::parse(runtest::read_text(path), nullptr, false);
      if (!parsed.is_discarded()) return parsed;
    }
    std::this_thread::sleep_for(20ms);
  }
  return nullptr;
}

// Stops the supervisor with SIGTERM; expects exit 0 and no program (nor anything it forked) left.
void expect_clean_stop(RunServer& run, std::chrono::milliseconds timeout = 10s) {
  const std::set<int> programs = run.program_pids();
  run->signal(SIGTERM);
  EXPECT_EQ(run->wait_exit(timeout), std::optional<int>(0)) << run->log();
  const auto left = runtest::wait_gone(programs, 2s);
  EXPECT_TRUE(left.empty()) << "still running: " << runtest::join(left) << "\n" << run->log();
}

std::string env_of(const nlohmann::json& report, const std::string& key) {
  const auto& value = report["env"][key];
  return value.is_string() ? value.get<std::string>() : "<unset>";
}

// --- what a program is given ----------------------------------------------------------------

TEST(Run, EachProgramGetsExactlyItsSlotsSocketsAndEnvironment) {
  const std::string report = temp_name("fds-{worker}.json");
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", "--workers", "2", "--admin",
                 "127.0.0.1:0"},
                {runtest::kPython, runtest::app("fd_report.py"), report});
  ASSERT_TRUE(run->wait_ready(2)) << run->log();
  ASSERT_EQ(run->listeners().size(), 2u);
  const ListenAddress tcp = run->listeners()[0];
  const ListenAddress udp = run->listeners()[1];
  ASSERT_EQ(tcp.transport, Transport::tcp);
  ASSERT_EQ(udp.transport, Transport::udp);
  std::set<std::string> tcp_sockets, udp_sockets;
  for (int slot = 0; slot < 2; ++slot) {
    SCOPED_TRACE("slot " + std::to_string(slot));
    const std::string path = temp_name("fds-" + std::to_string(slot) + ".json");
    const nlohmann::json r = wait_json(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(r.is_object()) << run->log();
    const int pid = r["pid"].get<int>();
    std::set<std::string> fds;
    for (const auto& [fd, unused] : r["fds"].items()) fds.insert(fd);
    EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3", "4"})) << r.dump(1);
    EXPECT_EQ(r["fds"]["0"]["target"], "/dev/null");
    for (const char* out : {"1", "2"}) {  // prefixed output: pipes to the supervisor
      EXPECT_TRUE(r["fds"][out]["target"].get<std::string>().starts_with("pipe:")) << r["fds"][out].dump();
    }
    const auto& fd3 = r["fds"]["3"];
    EXPECT_FALSE(fd3["cloexec"].get<bool>());
    EXPECT_EQ(fd3["socket"]["family"], "AF_INET");
    EXPECT_EQ(fd3["socket"]["type"], "SOCK_STREAM");
    EXPECT_TRUE(fd3["socket"]["acceptconn"].get<bool>());
    EXPECT_TRUE(fd3["socket"]["reuseport"].get<bool>());
    EXPECT_EQ(fd3["socket"]["sockname"], nlohmann::json::array({"127.0.0.1", tcp.port()}));
    const auto& fd4 = r["fds"]["4"];
    EXPECT_FALSE(fd4["cloexec"].get<bool>());
    EXPECT_EQ(fd4["socket"]["type"], "SOCK_DGRAM");
    EXPECT_TRUE(fd4["socket"]["reuseport"].get<bool>());
    EXPECT_EQ(fd4["socket"]["sockname"], nlohmann::json::array({"127.0.0.1", udp.port()}));
    tcp_sockets.insert(fd3["target"].get<std::string>());
    udp_sockets.insert(fd4["target"].get<std::string>());

    EXPECT_EQ(env_of(r, "LISTEN_PID"), std::to_string(pid));
    EXPECT_EQ(env_of(r, "LISTEN_FDS"), "2");
    EXPECT_EQ(env_of(r, "LISTEN_FDNAMES"),
              "tcp-127.0.0.1-" + std::to_string(tcp.port()) + ":udp-127.0.0.1-" + std::to_string(udp.port()));
    EXPECT_EQ(env_of(r, "EINHORN_FDS"), "3 4");
    EXPECT_EQ(env_of(r, "HERDLESS_WORKER"), std::to_string(slot));
    EXPECT_EQ(env_of(r, "HERDLESS_WORKERS"), "2");
    EXPECT_TRUE(env_of(r, "NOTIFY_SOCKET")
                    .starts_with("@herdless/" + std::to_string(run->pid()) + "/" + std::to_string(slot) + "/1/"))
        << env_of(r, "NOTIFY_SOCKET");
    EXPECT_EQ(r["ppid"].get<int>(), run->pid()) << "the program itself, not a shell in between";
    // The program is the slot's pid in /stats.
    const auto stats = run.wait_all_ready(2);
    ASSERT_TRUE(stats.is_object()) << run->log();
    EXPECT_EQ(stats["workers"][static_cast<size_t>(slot)]["pid"].get<int>(), pid);
  }
  EXPECT_EQ(tcp_sockets.size(), 2u) << "each slot has its own TCP socket";
  EXPECT_EQ(udp_sockets.size(), 2u) << "each slot has its own UDP socket";
  // Both programs serve on their fd 3 (fd_report.py goes on like stdlib_server.py). Equally
  // loaded programs get the next connection in the order they last finished one, so one held
  // open (it sends nothing) loads its program and the next request goes to the other.
  std::set<int> seen;
  std::vector<Fd> held;
  for (int i = 0; i < 20 && seen.size() < 2; ++i) {
    auto reply = testutil::fetch(tcp, runtest::kRequest);
    ASSERT_TRUE(reply) << reply.error().message();
    seen.insert(testutil::worker_of(*reply));
    auto hold = testutil::connect_to(tcp);
    ASSERT_TRUE(hold) << hold.error().message();
    held.push_back(std::move(*hold));
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1}));
  held.clear();
  expect_clean_stop(run);
}

TEST(Run, FdEnvSelectsTheConventionsAndStaleValuesAreNotPassedOn) {
  // Values the supervisor itself inherited must not reach a program as if they were its own.
  ::setenv("LISTEN_FDS", "9", 1);
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("EINHORN_FDS", "7 8 9", 1);
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  struct Case {
    std::string fd_env;
    bool systemd, einhorn;
  };
  std::vector<std::unique_ptr<RunServer>> runs;
  const std::vector<Case> cases = {{"einhorn", false, true}, {"systemd", true, false}, {"none", false, false},
                                   {"systemd,einhorn", true, true}};
  for (const Case& c : cases) {
    runs.push_back(std::make_unique<RunServer>(
        std::vector<std::string>{"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "off", "--fd-env",
                                 c.fd_env},
        std::vector<std::string>{runtest::kPython, runtest::app("fd_report.py"), temp_name("env-" + c.fd_env)}));
  }
  for (const char* key : {"LISTEN_FDS", "LISTEN_PID", "EINHORN_FDS", "NOTIFY_SOCKET"}) ::unsetenv(key);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("--fd-env " + c.fd_env);
    RunServer& run = *runs[i];
    ASSERT_TRUE(run->wait_ready()) << run->log();
    const std::string path = temp_name("env-" + c.fd_env);
    const nlohmann::json r = wait_json(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(r.is_object()) << run->log();
    EXPECT_EQ(env_of(r, "LISTEN_FDS"), c.systemd ? "1" : "<unset>");
    EXPECT_EQ(env_of(r, "LISTEN_PID"), c.systemd ? std::to_string(r["pid"].get<int>()) : "<unset>");
    EXPECT_EQ(env_of(r, "LISTEN_FDNAMES"),
              c.systemd ? "tcp-127.0.0.1-" + std::to_string(run->listener().port()) : "<unset>");
    EXPECT_EQ(env_of(r, "EINHORN_FDS"), c.einhorn ? "3" : "<unset>");
    EXPECT_EQ(env_of(r, "HERDLESS_WORKER"), "0");
    EXPECT_EQ(env_of(r, "HERDLESS_WORKERS"), "1");
    EXPECT_TRUE(env_of(r, "NOTIFY_SOCKET").starts_with("@herdless/")) << env_of(r, "NOTIFY_SOCKET");
    // Whatever the convention, the socket is at fd 3.
    EXPECT_TRUE(r["fds"]["3"]["socket"]["acceptconn"].get<bool>()) << r.dump(1);
    EXPECT_FALSE(r["fds"].contains("4")) << r.dump(1);
    if (c.systemd || c.einhorn) {
      auto reply = testutil::fetch(run->listener(), runtest::kRequest);
      ASSERT_TRUE(reply) << reply.error().message();
      EXPECT_EQ(testutil::worker_of(*reply), 0);
    }
  }
  for (auto& run : runs) expect_clean_stop(*run);
}

// --- readiness ------------------------------------------------------------------------------

// A one-line Python program on fd 3 (`-c`).
std::vector<std::string> python_c(const std::string& code) { return {runtest::kPython, "-c", code}; }

const std::string kSaysReadyThenSleeps =
    "import os, socket, time\n"
    "path = os.environ['NOTIFY_SOCKET']\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "s.connect('\\0' + path[1:] if path.startswith('@') else path)\n"
    "s.send(b'STATUS=starting\\nREADY=1')\n"
    "time.sleep(60)\n";

const std::string kBlockingAccept =
    "import os, socket\n"
    "s = socket.socket(fileno=3)\n"
    "s.setblocking(True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(('worker=%s\\n' % os.environ['HERDLESS_WORKER']).encode())\n"
    "    c.close()\n";

// gunicorn's sync worker waits the same way: select() on its listener, then accept().
const std::string kSelectAcceptOnceAndHold =
    "import select, socket, time\n"
    "s = socket.socket(fileno=3)\n"
    "select.select([s], [], [])\n"
    "c, _ = s.accept()\n"
    "time.sleep(60)\n";

// Tries accept() between sleeps: no sign of waiting for its listener until it has accepted.
const std::string kSleepsBetweenAcceptsOnceAndHolds =
    "import socket, time\n"
    "s = socket.socket(fileno=3)\n"
    "s.setblocking(False)\n"
    "while True:\n"
    "    try:\n"
    "        c, _ = s.accept()\n"
    "        break\n"
    "    except BlockingIOError:\n"
    "        time.sleep(0.05)\n"
    "time.sleep(60)\n";

const std::string kNeverAccepts = "import time\ntime.sleep(60)\n";

// The "is ready: HOW" of slot 0's first program, from the log ("" until there is one).
std::string ready_how(const std::string& log) {
  const size_t at = log.find(", generation 1) is ready: ");
  if (at == std::string::npos) return "";
  const size_t start = at + std::string(", generation 1) is ready: ").size();
  return log.substr(start, log.find('\n', start) - start);
}

TEST(Run, ReadyWhenTheProgramSaysReadyOnNotifySocket) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "30s"},
                python_c(kSaysReadyThenSleeps));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  EXPECT_EQ(ready_how(run->log()), "said READY=1") << run->log();
  expect_clean_stop(run);
}

TEST(Run, ReadyWhenTheProgramPollsItsListener) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "30s"},
                runtest::stdlib_server());
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  EXPECT_EQ(ready_how(run->log()), "polls its listener") << run->log();
  expect_clean_stop(run);
}

TEST(Run, ReadyWhenTheProgramWaitsInAccept) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "30s"},
                python_c(kBlockingAccept));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  EXPECT_EQ(ready_how(run->log()), "waits in accept()") << run->log();
  auto reply = testutil::fetch(run->listener());
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "worker=0\n");
  expect_clean_stop(run);
}

TEST(Run, ReadyWhenTheProgramWaitsInSelect) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "30s"},
                python_c(kSelectAcceptOnceAndHold));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  EXPECT_EQ(ready_how(run->log()), "waits in select()/poll() on its listener") << run->log();
  expect_clean_stop(run);
}

TEST(Run, ReadyWhenTheProgramAcceptedAConnection) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "30s"},
                python_c(kSleepsBetweenAcceptsOnceAndHolds));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  std::this_thread::sleep_for(400ms);  // started, sleeping between accepts: no evidence yet
  auto stats = run.stats();
  ASSERT_TRUE(stats.is_object());
  EXPECT_FALSE(stats["workers"][0]["program"]["ready"].get<bool>()) << run->log();
  auto conn = testutil::connect_to(run->listener());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  EXPECT_EQ(ready_how(run->log()), "accepted a connection") << run->log();
  expect_clean_stop(run);
}

TEST(Run, ReadyTimeoutForAProgramThatNeverAccepts) {
  const auto start = std::chrono::steady_clock::now();
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "1s"},
                python_c(kNeverAccepts));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  auto stats = run.stats();
  ASSERT_TRUE(stats.is_object());
  EXPECT_FALSE(stats["workers"][0]["program"]["ready"].get<bool>()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1, 5s).is_object()) << run->log();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ready_how(run->log()), "reached --ready-timeout") << run->log();
  EXPECT_GE(took, 950ms);
  EXPECT_LE(took, 3s);
  EXPECT_EQ(run.stats()["workers"][0]["program"]["generation"].get<int>(), 1);
  expect_clean_stop(run);
}

// --- restarts and stops ---------------------------------------------------------------------

TEST(Run, KilledProgramIsRestartedOnTheSameSocketWithItsQueueIntact) {
  // --sleep-before-accept: the replacement takes a second before it accepts, so the
  // connections made right after the kill wait in the slot's queue meanwhile.
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0"},
                runtest::stdlib_server({"--sleep-before-accept", "1"}));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  auto stats = run.wait_all_ready(1);
  ASSERT_TRUE(stats.is_object()) << run->log();
  const int victim = stats["workers"][0]["pid"].get<int>();
  const std::string socket_before = runtest::fd_target(victim, 3);
  ASSERT_TRUE(socket_before.starts_with("socket:")) << socket_before;
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  std::vector<Fd> clients;
  for (int i = 0; i < 20; ++i) {
    auto fd = testutil::connect_to(run->listener(), 5000ms);
    ASSERT_TRUE(fd) << fd.error().message();
    ASSERT_EQ(::send(fd->get(), runtest::kRequest.data(), runtest::kRequest.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(runtest::kRequest.size()));
    clients.push_back(std::move(*fd));
  }
  stats = run.wait_replaced(0, victim);
  ASSERT_TRUE(stats.is_object()) << run->log();
  const int replacement = stats["workers"][0]["pid"].get<int>();
  EXPECT_NE(replacement, victim);
  EXPECT_EQ(runtest::fd_target(replacement, 3), socket_before) << "the same listening socket";
  for (Fd& fd : clients) {
    const std::string reply = testutil::read_some(fd.get(), SIZE_MAX).value_or("<error>");
    EXPECT_NE(reply.find("worker=0 pid=" + std::to_string(replacement) + "\n"), std::string::npos) << reply;
  }
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, 900ms) << "answered only once the replacement accepted";
  stats = run.stats();
  EXPECT_EQ(stats["workers"][0]["restarts"].get<int>(), 1);
  const std::string last_exit = stats["workers"][0]["program"]["last_exit"].get<std::string>();
  EXPECT_NE(last_exit.find("Killed"), std::string::npos) << last_exit;
  EXPECT_NE(run->log().find("worker 0 (pid " + std::to_string(victim) + ") killed by signal Killed; restarting"),
            std::string::npos)
      << run->log();
  EXPECT_FALSE(runtest::alive(victim));
  expect_clean_stop(run);
}

// O_NONBLOCK belongs to the socket's open file description, which every program of a slot
// shares (and the supervisor): starting the slot's next program must not switch the running
// program's listener to blocking, or a program that accepts until EAGAIN (most event loops)
// blocks in accept() while the connections it accepted wait.
TEST(Run, ReloadLeavesTheRunningProgramsListenerAsItSetIt) {
  const std::string delay = temp_name("delay");
  std::ofstream(delay) << "0\n";
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0"},
                {"/bin/sh", "-c",
                 "sleep $(cat " + delay + "); exec " + runtest::kPython + " " + runtest::app("stdlib_server.py")});
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto stats = run.wait_all_ready(1);
  ASSERT_TRUE(stats.is_object()) << run->log();
  const int old = stats["workers"][0]["pid"].get<int>();
  auto flags_of = [](int pid) {
    const std::string info = runtest::read_text("/proc/" + std::to_string(pid) + "/fdinfo/3");
    const size_t at = info.find("flags:");
    return at == std::string::npos ? -1 : std::stoi(info.substr(at + 6), nullptr, 8);
  };
  ASSERT_NE(flags_of(old) & O_NONBLOCK, 0) << "stdlib_server.py made its listener non-blocking";
  // The next generation starts slowly (a shell sleeping 3 s before Python): meanwhile the
  // old program serves alone.
  std::ofstream(delay) << "3\n";
  run->signal(SIGHUP);
  ASSERT_TRUE(run.wait_log("reloaded", 2s)) << run->log();
  std::this_thread::sleep_for(200ms);
  ::unlink(delay.c_str());  // read by the new program's shell by now
  EXPECT_NE(flags_of(old) & O_NONBLOCK, 0) << "the old program's listener was switched to blocking";
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto reply = testutil::fetch(run->listener(), runtest::kRequest, 2000ms);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_NE(reply->find("pid=" + std::to_string(old)), std::string::npos) << *reply;
    EXPECT_LT(took, 500ms) << "request " << i << " waited while the old program was stuck in accept()";
  }
  expect_clean_stop(run);
}

TEST(Run, SigtermStopsProgramsGracefullyAndExitsZero) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0", "--drain-timeout",
                 "5s"},
                runtest::stdlib_server());
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(2).is_object()) << run->log();
  // A connection in progress: accepted, its request head not complete yet.
  auto conn = testutil::connect_to(run->listener(), 5000ms);
  ASSERT_TRUE(conn);
  const std::string head = "GET / HTTP/1.0\r\n";
  ASSERT_EQ(::send(conn->get(), head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(200ms);
  const std::set<int> programs = run.program_pids();
  ASSERT_EQ(programs.size(), 2u) << run->log();
  run->signal(SIGTERM);
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(::send(conn->get(), "\r\n", 2, MSG_NOSIGNAL), 2);
  const std::string reply = testutil::read_some(conn->get(), SIZE_MAX).value_or("<error>");
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << "the connection in progress is answered: " << reply;
  EXPECT_EQ(run->wait_exit(5s), std::optional<int>(0)) << run->log();
  const std::string log = run->log();
  EXPECT_EQ(runtest::count_of(log, "exited with code 0 after its stop"), 2u) << log;
  EXPECT_EQ(log.find("killing"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  EXPECT_TRUE(runtest::wait_gone(programs, 2s).empty());
  auto refused = testutil::connect_to(run->listener(), 500ms);
  EXPECT_FALSE(refused.has_value()) << "nothing listens any more";
}

TEST(Run, StopSignalIsWhatTheProgramGets) {
  // Exits 0 on SIGINT only; SIGTERM is ignored.
  const std::string program =
      "import signal, sys, time\n"
      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
      "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))\n"
      "while True:\n"
      "    time.sleep(1)\n";
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0", "--stop-signal", "INT",
                 "--drain-timeout", "10s", "--ready-timeout", "200ms"},
                python_c(program));
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(2).is_object()) << run->log();
  const auto start = std::chrono::steady_clock::now();
  expect_clean_stop(run, 5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "the program got SIGINT, not SIGTERM";
  EXPECT_EQ(runtest::count_of(run->log(), "exited with code 0 after its stop"), 2u) << run->log();
}

TEST(Run, DrainTimeoutKillsTheProgramsWholeProcessGroup) {
  // A shell that ignores SIGTERM, with a child (which inherits the ignored SIGTERM).
  const std::string marker = temp_name("child-pid");
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "127.0.0.1:0", "--drain-timeout",
                 "500ms", "--ready-timeout", "200ms"},
                {"/bin/sh", "-c", "trap '' TERM; sleep 100 & echo $! > " + marker + "; wait"});
  ASSERT_TRUE(run->wait_ready()) << run->log();
  ASSERT_TRUE(run.wait_all_ready(1).is_object()) << run->log();
  int child = 0;
  for (int i = 0; i < 100 && child == 0; ++i) {
    std::ifstream(marker) >> child;
    if (child == 0) std::this_thread::sleep_for(20ms);
  }
  ::unlink(marker.c_str());
  ASSERT_GT(child, 0);
  const std::set<int> programs = run.program_pids();
  ASSERT_EQ(programs.size(), 1u);
  EXPECT_EQ(::getpgid(child), *programs.begin()) << "the child is in the program's group";
  const auto start = std::chrono::steady_clock::now();
  run->signal(SIGTERM);
  EXPECT_EQ(run->wait_exit(5s), std::optional<int>(0)) << run->log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_NE(run->log().find("did not stop within 500ms of its stop signal; killing it"), std::string::npos)
      << run->log();
  const auto left = runtest::wait_gone({*programs.begin(), child}, 2s);
  EXPECT_TRUE(left.empty()) << "still running: " << runtest::join(left);
}

TEST(Run, ProgramOutputIsPrefixedWithSlotAndPid) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0", "--ready-timeout",
                 "200ms"},
                {"/bin/sh", "-c", "echo \"to stderr $HERDLESS_WORKER\" >&2; exec sleep 100"});
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto stats = run.wait_all_ready(2);
  ASSERT_TRUE(stats.is_object()) << run->log();
  const auto pids = runtest::slot_pids(stats);
  ASSERT_EQ(pids.size(), 2u);
  for (int slot = 0; slot < 2; ++slot) {
    const std::string line = "[w" + std::to_string(slot) + " " + std::to_string(pids[static_cast<size_t>(slot)]) +
                             "] to stderr " + std::to_string(slot) + "\n";
    EXPECT_TRUE(run.wait_log(line, 2s)) << line << run->log();
  }
  expect_clean_stop(run);
}

// --- without BPF privilege ------------------------------------------------------------------

TEST(Run, WithoutBpfPrivilegeServesWithTheKernelsHash) {
  RunServer run({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0"},
                runtest::stdlib_server(), testutil::SpawnOptions{.drop_bpf_caps = true});
  ASSERT_TRUE(run->wait_ready()) << run->log();
  const auto stats = run.wait_all_ready(2);
  ASSERT_TRUE(stats.is_object()) << run->log();
  EXPECT_EQ(stats["steer"], "hash");
  const auto result = runtest::http_load(run->listener(), 1000ms);
  EXPECT_GT(result.completed, 200u) << runtest::describe(result);
  EXPECT_EQ(result.failed, 0u) << runtest::describe(result);
  EXPECT_EQ(result.per_worker.size(), 2u) << runtest::describe(result);
  const std::string log = run->log();
  EXPECT_EQ(runtest::count_of(log, "[warning]"), 1u) << log;
  EXPECT_NE(log.find("using the kernel's hash"), std::string::npos) << log;
  EXPECT_EQ(runtest::count_of(log, "[error]"), 0u) << log;
  EXPECT_EQ(log.find("libbpf:"), std::string::npos) << "no library noise on stderr\n" << log;
  expect_clean_stop(run);
}

// --- bad input ------------------------------------------------------------------------------

void expect_one_line_refusal(const std::vector<std::string>& args, const std::string& says) {
  SCOPED_TRACE(testing::PrintToString(args));
  const auto r = testutil::run_herdless(args, 10s);
  EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
  EXPECT_EQ(runtest::count_of(r.stderr_text, "\n"), 1u) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(says), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "");
  EXPECT_FALSE(r.left_running);
}

std::vector<std::string> run_args(std::vector<std::string> flags, std::vector<std::string> command) {
  std::vector<std::string> args{"run", "--listen", "tcp://127.0.0.1:0", "--admin", "off"};
  args.insert(args.end(), flags.begin(), flags.end());
  if (!command.empty()) args.push_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

TEST(Run, BadCommandIsRefusedWithOneLine) {
  expect_one_line_refusal(run_args({}, {}), "no command");
  expect_one_line_refusal({"run", "--listen", "tcp://127.0.0.1:0", "--admin", "off", "--"}, "no command");
  expect_one_line_refusal(run_args({}, {"/nonexistent/program"}), "/nonexistent/program");
  expect_one_line_refusal(run_args({}, {"herdless-no-such-command-in-path"}), "herdless-no-such-command-in-path");
  const std::string not_executable = temp_name("not-executable.sh");
  std::ofstream(not_executable) << "#!/bin/sh\nexit 0\n";
  ::chmod(not_executable.c_str(), 0644);
  expect_one_line_refusal(run_args({}, {not_executable, "arg"}), not_executable);
  ::unlink(not_executable.c_str());
  expect_one_line_refusal(run_args({}, {"/tmp"}), "/tmp");
}

TEST(Run, ServeOnlyAndInvalidFlagsAreRefusedWithOneLine) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{{"--service", "http"},
                                                                                    {"--message", "x"},
                                                                                    {"--max-conns", "10"},
                                                                                    {"--mode", "thread"},
                                                                                    {"--http-body", "x"},
                                                                                    {"--accept", "shared"}}) {
    expect_one_line_refusal(run_args({flag, value}, {"true"}), "does not apply to herdless run");
  }
  expect_one_line_refusal(run_args({"--fd-env", "inetd"}, {"true"}), "inetd");
  expect_one_line_refusal(run_args({"--stop-signal", "NOSUCHSIG"}, {"true"}), "NOSUCHSIG");
  expect_one_line_refusal(run_args({"--ready-timeout", "0"}, {"true"}), "ready-timeout");
  expect_one_line_refusal(run_args({"--output", "sideways"}, {"true"}), "sideways");
  expect_one_line_refusal(run_args({"--workers", "0"}, {"true"}), "workers");
}

TEST(Run, ProgramThatNeverStartsMakesHerdlessGiveUp) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = testutil::run_herdless(run_args({"--workers", "2"}, {"false"}), 20s);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_EQ(runtest::count_of(r.stderr_text, "giving up"), 1u) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("'false' ended 3 times without ever becoming ready (last: exited with code 1)"),
            std::string::npos)
      << r.stderr_text;
  EXPECT_LE(runtest::count_of(r.stderr_text, "\n"), 15u) << "a bounded log\n" << r.stderr_text;
  EXPECT_LT(took, 5s);
  EXPECT_FALSE(r.left_running);
  const auto left = runtest::wait_gone(runtest::pids_in_log(r.stderr_text), 1s);
  EXPECT_TRUE(left.empty()) << "still running: " << runtest::join(left) << "\n" << r.stderr_text;
}

}  // namespace
}  // namespace herdless
