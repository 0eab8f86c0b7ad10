// Integration: a worker out of file descriptors (EMFILE) keeps the extra connections queued
// without spinning and serves them once descriptors free up; --max-conns and --idle-timeout.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "testutil/client.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

// utime + stime of a process, in clock ticks.
long cpu_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

bool echoes(int fd, const std::string& text) {
  if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) return false;
  return testutil::read_some(fd, text.size()).value_or("") == text;
}

TEST(Limits, OutOfFileDescriptorsPausesAcceptingWithoutSpinning) {
  // 40 descriptors: stdio, the loop's own fds and the listener leave room for ~30 connections.
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--admin", "127.0.0.1:0"},
                       testutil::SpawnOptions{40});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const int worker = server.worker_pids().at(0);
  std::vector<Fd> clients;
  for (int i = 0; i < 60; ++i) {
    auto fd = testutil::connect_to(server.listener(), 3000ms);
    ASSERT_TRUE(fd) << fd.error().message();  // the kernel queues what the worker cannot take
    clients.push_back(std::move(*fd));
  }
  std::this_thread::sleep_for(300ms);
  const auto stats = server.stats();
  const auto accepted = stats["workers"][0]["accepted"].get<uint64_t>();
  EXPECT_LT(accepted, 60u);
  EXPECT_GT(stats["workers"][0]["errors"].get<uint64_t>(), 0u) << "EMFILE was counted";
  // Paused, not spinning: the worker burns well under half a core while EMFILE persists.
  const long before = cpu_ticks(worker);
  std::this_thread::sleep_for(1000ms);
  const long used = cpu_ticks(worker) - before;
  EXPECT_LT(used, sysconf(_SC_CLK_TCK) / 2) << "ticks used in 1s: " << used;
  // Free descriptors: every queued connection is then served, none was lost.
  for (size_t i = 0; i < 30; ++i) clients[i].reset();
  for (size_t i = 30; i < clients.size(); ++i) EXPECT_TRUE(echoes(clients[i].get(), "late")) << "client " << i;
}

TEST(Limits, MaxConnsStopsAcceptingAtTheLimitAndResumesBelowIt) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--max-conns", "2", "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto a = testutil::connect_to(server.listener());
  auto b = testutil::connect_to(server.listener());
  auto c = testutil::connect_to(server.listener(), 300ms);
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(echoes(a->get(), "a"));
  EXPECT_TRUE(echoes(b->get(), "b"));
  ASSERT_EQ(::send(c->get(), "c", 1, MSG_NOSIGNAL), 1);
  EXPECT_FALSE(testutil::read_some(c->get(), 1).has_value()) << "third connection served above the limit";
  EXPECT_EQ(server.stats()["workers"][0]["active"].get<int>(), 2);
  a->reset();
  timeval tv{2, 0};
  ::setsockopt(c->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(testutil::read_some(c->get(), 1).value_or(""), "c");
}

TEST(Limits, IdleConnectionsAreClosed) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--idle-timeout", "200ms", "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto conn = testutil::connect_to(server.listener(), 5000ms);
  ASSERT_TRUE(conn);
  EXPECT_TRUE(echoes(conn->get(), "x"));
  const auto start = std::chrono::steady_clock::now();
  auto rest = testutil::read_some(conn->get(), SIZE_MAX);
  ASSERT_TRUE(rest) << "not closed within 5s";
  EXPECT_EQ(*rest, "");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_EQ(server.stats()["workers"][0]["closed"].get<int>(), 1) << server.log();
}

}  // namespace
}  // namespace herdless
