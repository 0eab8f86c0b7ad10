// Integration: `herdless serve` on port 0 spreads connections over its workers; the replies
// ({worker}) and /stats agree on which worker got how many.
#include <gtest/gtest.h>

#include "herdless/load/load_generator.h"
#include "testutil/client.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using testutil::ServerProcess;

load::LoadResult short_connections(const ListenAddress& target, std::chrono::milliseconds duration) {
  load::LoadOptions options;
  options.target = target;
  options.concurrency = 64;
  options.duration = duration;
  options.timeout = std::chrono::milliseconds(2000);
  auto result = load::run_load(options);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message());
  return result.value_or(load::LoadResult{});
}

void expect_balanced(const load::LoadResult& result, int workers) {
  ASSERT_GT(result.completed, 1000u);
  EXPECT_EQ(result.failed, 0u);
  EXPECT_EQ(result.unattributed, 0u);
  ASSERT_EQ(result.per_worker.size(), static_cast<size_t>(workers));
  for (const auto& [worker, count] : result.per_worker) {
    const double share = static_cast<double>(count) / static_cast<double>(result.completed);
    EXPECT_GE(share, 0.15) << "worker " << worker;
    EXPECT_LE(share, 0.35) << "worker " << worker;
  }
}

void expect_stats_match(const ServerProcess& server, const load::LoadResult& result) {
  const nlohmann::json stats = server.stats();
  ASSERT_TRUE(stats.is_object());
  ASSERT_EQ(stats["listeners"].size(), 1u);
  EXPECT_EQ(stats["listeners"][0]["url"], server.listener().url());
  for (const auto& w : stats["workers"]) {
    const int id = w["id"];
    const auto it = result.per_worker.find(id);
    const uint64_t replied = it == result.per_worker.end() ? 0 : it->second;
    // Every connection a worker accepted got exactly one reply naming that worker.
    EXPECT_EQ(w["accepted"].get<uint64_t>(), replied) << "worker " << id;
    EXPECT_EQ(w["closed"].get<uint64_t>(), replied) << "worker " << id;
    EXPECT_EQ(w["active"].get<int64_t>(), 0) << "worker " << id;
    EXPECT_GT(w["pid"].get<int>(), 0);
    EXPECT_LT(w["heartbeat_age_ms"].get<int64_t>(), 1000);
  }
}

TEST(Distribution, FourProcessWorkersShareShortConnections) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "4", "--admin", "127.0.0.1:0",
                        "--message", "hello world. worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const auto pids = server.worker_pids();
  ASSERT_EQ(pids.size(), 4u);
  for (size_t i = 0; i < pids.size(); ++i) {
    for (size_t j = i + 1; j < pids.size(); ++j) EXPECT_NE(pids[i], pids[j]) << "process mode: one pid per worker";
  }
  const auto result = short_connections(server.listener(), std::chrono::milliseconds(1500));
  expect_balanced(result, 4);
  expect_stats_match(server, result);
}

TEST(Distribution, ThreadModeWorkersShareShortConnections) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "4", "--mode", "thread", "--admin",
                        "127.0.0.1:0", "--message", "worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  for (int pid : server.worker_pids()) EXPECT_EQ(pid, server.pid()) << "thread mode: workers live in the supervisor";
  const auto result = short_connections(server.listener(), std::chrono::milliseconds(1000));
  expect_balanced(result, 4);
  expect_stats_match(server, result);
}

TEST(Distribution, DefaultMessageIsTheDemosHelloWorld) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--admin", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto reply = testutil::fetch(server.listener());
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "hello world.");
}

TEST(Distribution, IPv6AndSeveralListenAddresses) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--listen", "tcp://[::1]:0", "--workers", "2",
                        "--admin", "127.0.0.1:0", "--message", "worker={worker}"});
  ASSERT_TRUE(server.wait_ready(2)) << server.log();
  ASSERT_EQ(server.listeners().size(), 2u);
  EXPECT_EQ(server.listeners()[1].family(), AF_INET6);
  std::set<int> seen;
  for (int i = 0; i < 200 && seen.size() < 2; ++i) {
    auto reply = testutil::fetch(server.listeners()[static_cast<size_t>(i % 2)]);
    ASSERT_TRUE(reply) << reply.error().message();
    seen.insert(testutil::worker_of(*reply));
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1}));
  EXPECT_EQ(server.stats()["listeners"].size(), 2u);
}

TEST(Distribution, EchoServiceEchoesUntilPeerCloses) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--service", "echo",
                        "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto fd = testutil::connect_to(server.listener());
  ASSERT_TRUE(fd);
  std::string payload(300'000, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] {
    ::send(fd->get(), payload.data(), payload.size(), MSG_NOSIGNAL);
    ::shutdown(fd->get(), SHUT_WR);
  });
  auto echoed = testutil::read_some(fd->get(), SIZE_MAX);
  writer.join();
  ASSERT_TRUE(echoed) << echoed.error().message();
  EXPECT_EQ(*echoed, payload);
}


// Urgent (out-of-band) data ends a read at its mark with more data queued behind it: the
// worker must read on (edge-triggered epoll raises no new edge for what is already queued).
TEST(Distribution, EchoReadsOnPastAnUrgentMark) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--admin", "off"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto fd = testutil::connect_to(server.listener());
  ASSERT_TRUE(fd);
  const std::string before(1000, 'b');
  const std::string after(1000, 'a');
  ASSERT_EQ(::send(fd->get(), before.data(), before.size(), MSG_NOSIGNAL), 1000);
  ASSERT_EQ(::send(fd->get(), "!", 1, MSG_OOB | MSG_NOSIGNAL), 1);  // the urgent byte is not echoed
  ASSERT_EQ(::send(fd->get(), after.data(), after.size(), MSG_NOSIGNAL), 1000);
  auto echoed = testutil::read_some(fd->get(), 2000);  // the socket's 2 s timeout bounds it
  ASSERT_TRUE(echoed) << echoed.error().message();
  EXPECT_EQ(*echoed, before + after);
}

}  // namespace
}  // namespace herdless
