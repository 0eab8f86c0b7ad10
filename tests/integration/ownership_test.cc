// Integration: owning the port and outliving the supervisor, each test in its own network
// namespace. A hijacker bound to the more specific 127.0.0.1:P beside herdless's 0.0.0.0:P
// gets nothing while the SK_LOOKUP program is attached (also across a reload and a binary
// upgrade) and is reported without it; the workers of a supervisor killed with SIGKILL keep
// serving, a new supervisor on the same port takes over with no failed connection and the old
// workers exit; with no new supervisor they stop after --orphan-timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <map>
#include <thread>

#include "herdless/load/load_generator.h"
#include "testutil/client.h"
#include "testutil/load.h"
#include "testutil/netns.h"
#include "testutil/server_process.h"
#include "run_support.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

// A listener on 127.0.0.1:port with SO_REUSEPORT, non-blocking, as a hijacker would bind it.
Fd hijacker_on(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0 || ::listen(fd.get(), 1024) != 0) {
    return Fd();
  }
  return fd;
}

// Accepts (and closes) everything waiting on the hijacker; how many there were.
int drain(int fd) {
  int n = 0;
  while (true) {
    const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return n;
    ::close(c);
    ++n;
  }
}

struct Tally {
  int hijacked = 0;
  int served = 0;  // answered "hello world." by herdless
};

// `count` connections to 127.0.0.1:port, one after another.
Tally connect_many(uint16_t port, int hijacker, int count) {
  ListenAddress target = parse_listen_url("tcp://127.0.0.1:" + std::to_string(port)).value();
  Tally t;
  for (int i = 0; i < count; ++i) {
    auto reply = testutil::fetch(target, "", 300ms);
    if (reply && *reply == "hello world.") ++t.served;
    t.hijacked += drain(hijacker);
  }
  t.hijacked += drain(hijacker);
  return t;
}

bool log_has(const ServerProcess& server, const std::string& text, std::chrono::milliseconds wait) {
  for (auto waited = 0ms; waited <= wait; waited += 50ms) {
    if (server.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

int foreign_listeners(const ServerProcess& server) {
  const auto stats = server.stats();
  return stats.contains("foreign_listeners") ? stats["foreign_listeners"].get<int>() : -1;
}

TEST(OwnPort, AMoreSpecificBindGetsNothingAcrossReloadAndUpgrade) {
  HERDLESS_REQUIRE_BPF_NETNS();
  const std::string pid_file = "/tmp/herdless-ownport-" + std::to_string(::getpid());
  ServerProcess server({"serve", "--listen", "tcp://0.0.0.0:0", "--workers", "2", "--admin", "127.0.0.1:0",
                        "--pid-file", pid_file, "--drain-timeout", "2s"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_EQ(server.stats()["owns_port"], true) << server.log();
  const uint16_t port = server.listener().port();
  Fd hijacker = hijacker_on(port);
  ASSERT_TRUE(hijacker) << "bind 127.0.0.1:" << port;

  Tally before = connect_many(port, hijacker.get(), 300);
  EXPECT_EQ(before.hijacked, 0);
  EXPECT_EQ(before.served, 300);
  // Reported even so, as foreign (the program keeps the traffic).
  EXPECT_TRUE(log_has(server, "foreign listener on tcp://127.0.0.1:" + std::to_string(port), 3s)) << server.log();
  EXPECT_EQ(foreign_listeners(server), 1);

  server.signal(SIGHUP);
  ASSERT_TRUE(log_has(server, "reloaded", 5s)) << server.log();
  Tally reloaded = connect_many(port, hijacker.get(), 100);
  EXPECT_EQ(reloaded.hijacked, 0) << "after a reload";
  EXPECT_EQ(reloaded.served, 100);

  server.signal(SIGUSR2);
  int next = 0;
  for (int i = 0; i < 300 && (next == 0 || next == server.pid()); ++i) {
    std::this_thread::sleep_for(10ms);
    std::ifstream in(pid_file);
    in >> next;
  }
  ASSERT_NE(next, server.pid()) << "no new supervisor\n" << server.log();
  EXPECT_EQ(server.wait_exit(5s), std::optional<int>(0)) << "the old supervisor drained\n" << server.log();
  Tally upgraded = connect_many(port, hijacker.get(), 100);
  EXPECT_EQ(upgraded.hijacked, 0) << "after an upgrade, under the new supervisor\n" << server.log();
  EXPECT_EQ(upgraded.served, 100);
  ::kill(next, SIGTERM);
  for (int i = 0; i < 100 && ::kill(next, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  ::unlink(pid_file.c_str());
}

TEST(OwnPort, WithoutTheProgramAHijackerIsReportedAndItsDepartureToo) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server({"serve", "--listen", "tcp://0.0.0.0:0", "--workers", "2", "--admin", "127.0.0.1:0",
                        "--own-port", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  EXPECT_EQ(server.stats()["owns_port"], false);
  EXPECT_EQ(foreign_listeners(server), 0);
  const uint16_t port = server.listener().port();
  Fd hijacker = hijacker_on(port);
  ASSERT_TRUE(hijacker);
  const std::string line = "foreign listener on tcp://127.0.0.1:" + std::to_string(port) + " (pid " +
                           std::to_string(::getpid());
  EXPECT_TRUE(log_has(server, line, 3s)) << server.log();
  EXPECT_EQ(foreign_listeners(server), 1);
  EXPECT_NE(server.stats().dump().find("\"foreign_listeners\":1"), std::string::npos);
  // The kernel prefers the more specific bind: the hijacker takes them all.
  Tally t = connect_many(port, hijacker.get(), 50);
  EXPECT_EQ(t.hijacked, 50);
  hijacker.reset();
  EXPECT_TRUE(log_has(server, ") is gone", 3s)) << server.log();
  EXPECT_EQ(foreign_listeners(server), 0);
  // One line when it came, one when it went: never a line a second.
  const std::string log = server.log();
  size_t lines = 0;
  for (size_t at = log.find("foreign listener on"); at != std::string::npos; at = log.find("foreign listener on", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << log;
}

// The same configuration each time but for the reply, which names the generation and worker.
std::vector<std::string> fixed_port_args(const std::string& orphan_timeout, const std::string& generation) {
  return {"serve", "--listen", "tcp://127.0.0.1:7013", "--workers", "2", "--admin", "127.0.0.1:0",
          "--orphan-timeout", orphan_timeout, "--drain-timeout", "2s", "--message", generation + "{worker}"};
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  return close != std::string::npos && text[close + 2] != 'Z';
}

TEST(SupervisorDeath, ANewSupervisorTakesOverUnderLoadWithNoFailedConnection) {
  HERDLESS_REQUIRE_BPF_NETNS();
  auto first = std::make_unique<ServerProcess>(fixed_port_args("30s", "old"));
  ASSERT_TRUE(first->wait_ready()) << first->log();
  const std::vector<int> old_workers = first->worker_pids();
  ASSERT_EQ(old_workers.size(), 2u);
  auto load = testutil::start_load(first->listener(), 3000ms, 2000ms);
  std::this_thread::sleep_for(700ms);
  ASSERT_EQ(::kill(first->pid(), SIGKILL), 0);
  first->wait_exit(1s);
  std::this_thread::sleep_for(1000ms);
  for (int pid : old_workers) EXPECT_TRUE(alive(pid)) << "worker " << pid << " outlives its supervisor";
  ServerProcess second(fixed_port_args("30s", "new"));
  ASSERT_TRUE(second.wait_ready()) << second.log();
  const auto result = load.get();
  EXPECT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u) << "timed out " << result.timed_out << ", refused " << result.refused << ", reset "
                               << result.reset << "\n" << second.log();
  EXPECT_TRUE(log_has(second, "took over the port: asked 2 occupants", 3s)) << second.log();
  // The old generation drains and exits; the new one serves.
  for (int i = 0; i < 100 && (alive(old_workers[0]) || alive(old_workers[1])); ++i) std::this_thread::sleep_for(50ms);
  for (int pid : old_workers) EXPECT_FALSE(alive(pid)) << "old worker " << pid << " left running";
  const std::vector<int> new_workers = second.worker_pids();
  ASSERT_EQ(new_workers.size(), 2u);
  std::map<std::string, int> replies;
  for (int i = 0; i < 40; ++i) ++replies[testutil::fetch(second.listener()).value_or("failed")];
  EXPECT_EQ(replies["new0"] + replies["new1"], 40) << "every one served by the new supervisor's workers";
  EXPECT_GT(replies["new0"], 0);
  EXPECT_GT(replies["new1"], 0);
  // The old keeper went with its occupants.
  EXPECT_TRUE(log_has(*first, "are gone (a new supervisor took over)", 3s)) << first->log();
}

TEST(SupervisorDeath, WithoutANewSupervisorTheWorkersServeThenStopAfterTheOrphanTimeout) {
  HERDLESS_REQUIRE_BPF_NETNS();
  ServerProcess server(fixed_port_args("1500ms", "old"));
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::vector<int> workers = server.worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(::kill(server.pid(), SIGKILL), 0);
  server.wait_exit(1s);
  std::this_thread::sleep_for(300ms);
  int served = 0;
  for (int i = 0; i < 20; ++i) served += testutil::fetch(server.listener()).value_or("").starts_with("old") ? 1 : 0;
  EXPECT_EQ(served, 20) << "orphaned workers keep serving";
  EXPECT_TRUE(log_has(server, "stopped in 1500ms unless a new supervisor takes over", 2s)) << server.log();
  EXPECT_TRUE(log_has(server, "no supervisor took over", 3s)) << server.log();
  for (int i = 0; i < 100 && (alive(workers[0]) || alive(workers[1])); ++i) std::this_thread::sleep_for(50ms);
  for (int pid : workers) EXPECT_FALSE(alive(pid)) << "worker " << pid << " still runs";
}

TEST(SupervisorDeath, HerdlessRunsProgramsAreTakenOverToo) {
  HERDLESS_REQUIRE_BPF_NETNS();
  std::vector<std::string> args{"run", "--listen", "tcp://127.0.0.1:7013", "--workers", "2", "--admin", "127.0.0.1:0",
                                "--drain-timeout", "2s", "--"};
  for (const std::string& word : runtest::stdlib_server()) args.push_back(word);
  auto first = std::make_unique<ServerProcess>(args);
  ASSERT_TRUE(first->wait_ready()) << first->log();
  ASSERT_TRUE(log_has(*first, "worker 1 (pid", 10s)) << first->log();
  std::vector<int> old_programs = first->worker_pids();
  ASSERT_EQ(old_programs.size(), 2u);
  auto load = testutil::start_load(first->listener(), 3000ms, 2000ms, "GET / HTTP/1.0\r\n\r\n");
  std::this_thread::sleep_for(700ms);
  ASSERT_EQ(::kill(first->pid(), SIGKILL), 0);
  first->wait_exit(1s);
  std::this_thread::sleep_for(1000ms);
  for (int pid : old_programs) EXPECT_TRUE(alive(pid)) << "program " << pid << " outlives its supervisor";
  ServerProcess second(args);
  ASSERT_TRUE(second.wait_ready()) << second.log();
  const auto result = load.get();
  EXPECT_GT(result.completed, 500u);
  EXPECT_EQ(result.failed, 0u) << "timed out " << result.timed_out << ", refused " << result.refused << ", reset "
                               << result.reset << "\n" << second.log();
  EXPECT_TRUE(log_has(second, "took over the port: asked 2 occupants", 5s)) << second.log();
  for (int i = 0; i < 100 && (alive(old_programs[0]) || alive(old_programs[1])); ++i) std::this_thread::sleep_for(50ms);
  for (int pid : old_programs) {
    EXPECT_FALSE(alive(pid)) << "old program " << pid << " left running";
    if (alive(pid)) ::kill(-pid, SIGKILL);  // not left behind even when the test fails
  }
  const std::vector<int> programs = second.worker_pids();
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait_exit(5s), std::optional<int>(0));
  for (int pid : programs) {
    if (pid > 0 && alive(pid)) ::kill(-pid, SIGKILL);
  }
}

}  // namespace
}  // namespace herdless
