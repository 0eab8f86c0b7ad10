// run_load against an in-test server thread on 127.0.0.1:0 that answers "hello worker=N"
// with N alternating deterministically: the generator's counts and per-worker attribution
// must equal what the server did. Also: silent server -> timeouts, closed port -> refused.
#include "herdless/load/load_generator.h"
#include "testutil/polled_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herdless/fd.h"
#include "herdless/listener.h"

namespace herdless::load {
namespace {

using namespace std::chrono_literals;

class TestServer final : public testutil::PolledServer {
 public:
  enum class Behavior {
    reply,          // write "hello worker=N\n", close
    read_then_reply,  // read one line first (kept in requests_), then as `reply`
    close_at_once,  // close without writing
    silent,         // accept and keep open, never write
    hold,           // write "hello worker=N\n", keep open
  };

  TestServer(Behavior behavior, int workers) : PolledServer("tcp://127.0.0.1:0"), behavior_(behavior), workers_(workers) {
    start();
  }
  ~TestServer() override { stop(); }

  const std::map<int, uint64_t>& sent_per_worker() const { return sent_; }
  uint64_t accepted() const { return peers_.size(); }
  const std::vector<std::string>& peers() const { return peers_; }
  const std::vector<std::string>& requests() const { return requests_; }

 private:
  void on_readable() override {
    for (;;) {
      sockaddr_in peer{};
      socklen_t length = sizeof peer;
      Fd fd(::accept4(socket(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC));
      if (!fd) return;
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
      peers_.emplace_back(text);
      serve(std::move(fd));
    }
  }

  void serve(Fd fd) {
    if (behavior_ == Behavior::read_then_reply) requests_.push_back(read_line(fd.get()));
    if (behavior_ == Behavior::close_at_once) return;
    if (behavior_ == Behavior::silent) return kept_.push_back(std::move(fd));
    const int worker = static_cast<int>(peers_.size() - 1) % workers_;
    const std::string reply = "hello worker=" + std::to_string(worker) + "\n";
    ASSERT_EQ(::send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL), static_cast<ssize_t>(reply.size()));
    ++sent_[worker];
    if (behavior_ == Behavior::hold) kept_.push_back(std::move(fd));
  }

  static std::string read_line(int fd) {
    const timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string line;
    char c = 0;
    while (line.size() < 256 && ::read(fd, &c, 1) == 1) {
      line += c;
      if (c == '\n') break;
    }
    return line;
  }

  Behavior behavior_;
  int workers_;
  std::map<int, uint64_t> sent_;
  std::vector<std::string> peers_;
  std::vector<std::string> requests_;
  std::vector<Fd> kept_;
};

LoadOptions connect_options(const ListenAddress& target, std::chrono::milliseconds duration,
                            std::chrono::milliseconds timeout, int concurrency) {
  LoadOptions o;
  o.target = target;
  o.mode = LoadOptions::Mode::connect;
  o.concurrency = concurrency;
  o.duration = duration;
  o.timeout = timeout;
  return o;
}

TEST(LoadGenerator, CountsEveryConnectionAndAttributesEachWorker) {
  TestServer server(TestServer::Behavior::reply, 3);
  auto result = run_load(connect_options(server.address(), 300ms, 10s, 8));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  const LoadResult& r = *result;
  EXPECT_GT(r.attempted, 8u);
  EXPECT_EQ(r.completed, r.attempted);
  EXPECT_EQ(r.connected, r.attempted);
  EXPECT_EQ(r.failed, 0u) << r.first_error;
  EXPECT_EQ(server.accepted(), r.attempted);
  EXPECT_EQ(r.per_worker, server.sent_per_worker());
  EXPECT_EQ(r.per_worker.size(), 3u);
  EXPECT_EQ(r.unattributed, 0u);
  EXPECT_EQ(r.latency_us.count(), r.completed);
  EXPECT_GE(r.seconds, 0.3);
  EXPECT_GT(r.connections_per_second, 0.0);
}

TEST(LoadGenerator, SendsTheRequestBeforeReading) {
  TestServer server(TestServer::Behavior::read_then_reply, 2);
  LoadOptions options = connect_options(server.address(), 200ms, 10s, 4);
  options.send = "GET /\n";
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_GT(result->attempted, 0u);
  EXPECT_EQ(result->completed, result->attempted);
  EXPECT_EQ(server.requests(), std::vector<std::string>(result->attempted, "GET /\n"));
  EXPECT_EQ(result->per_worker, server.sent_per_worker());
}

TEST(LoadGenerator, SpreadsSourcesOverLoopbackAddressesUnlessDisabled) {
  for (bool spread : {true, false}) {
    TestServer server(TestServer::Behavior::reply, 1);
    LoadOptions options = connect_options(server.address(), 100ms, 10s, 4);
    options.spread_sources = spread;
    auto result = run_load(options);
    server.stop();
    ASSERT_TRUE(result) << result.error().message();
    ASSERT_EQ(server.accepted(), result->attempted);
    const std::set<std::string> distinct(server.peers().begin(), server.peers().end());
    for (const std::string& peer : distinct) EXPECT_EQ(peer.rfind(spread ? "127.100." : "127.0.0.1", 0), 0u) << peer;
    EXPECT_EQ(distinct.size(), spread ? std::min<uint64_t>(result->attempted, 4096) : 1u);
  }
}

TEST(LoadGenerator, SilentServerTimesOutEveryConnection) {
  TestServer server(TestServer::Behavior::silent, 1);
  auto result = run_load(connect_options(server.address(), 250ms, 100ms, 4));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  const LoadResult& r = *result;
  EXPECT_GE(r.attempted, 4u);  // usually three rounds of 4
  EXPECT_EQ(r.timed_out, r.attempted);
  EXPECT_EQ(r.failed, r.attempted);
  EXPECT_EQ(r.completed, 0u);
  EXPECT_LT(r.seconds, 0.25 + 0.1 + 2.0);  // duration + timeout, with a wide margin
}

TEST(LoadGenerator, EmptyReplyCountsAsClosed) {
  TestServer server(TestServer::Behavior::close_at_once, 1);
  auto result = run_load(connect_options(server.address(), 100ms, 10s, 4));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_GT(result->attempted, 0u);
  EXPECT_EQ(result->closed, result->attempted);
  EXPECT_EQ(result->completed, 0u);
}

TEST(LoadGenerator, ClosedPortIsRefused) {
  // A bound socket that never listens reserves the port; SYNs to it are answered with RST.
  Fd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ListenAddress target = *parse_listen_url("tcp://127.0.0.1:0");
  ASSERT_EQ(::bind(tcp.get(), target.sockaddr_ptr(), target.length), 0);
  target = *bound_address(tcp.get(), Transport::tcp);
  auto result = run_load(connect_options(target, 100ms, 1s, 4));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_GT(result->attempted, 0u);
  EXPECT_EQ(result->refused, result->attempted);
  EXPECT_EQ(result->failed, result->attempted);
}

TEST(LoadGenerator, HoldKeepsConnectionsOpenAndAttributesThem) {
  TestServer server(TestServer::Behavior::hold, 2);
  LoadOptions options = connect_options(server.address(), 200ms, 10s, 5);
  options.mode = LoadOptions::Mode::hold;
  options.hold_connections = 20;
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  const LoadResult& r = *result;
  EXPECT_EQ(r.attempted, 20u);
  EXPECT_EQ(r.connected, 20u);
  EXPECT_EQ(r.completed, 20u);
  EXPECT_EQ(r.failed, 0u) << r.first_error;
  EXPECT_EQ(r.per_worker, (std::map<int, uint64_t>{{0, 10}, {1, 10}}));
  EXPECT_EQ(r.latency_us.count(), 20u);
  EXPECT_GE(r.seconds, 0.2);
}

TEST(LoadGenerator, HoldCountsAServerCloseAsAFailure) {
  TestServer server(TestServer::Behavior::reply, 2);
  LoadOptions options = connect_options(server.address(), 200ms, 10s, 5);
  options.mode = LoadOptions::Mode::hold;
  options.hold_connections = 10;
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->connected, 10u);
  EXPECT_EQ(result->closed, 10u);
  EXPECT_EQ(result->completed, 0u);
  EXPECT_LT(result->seconds, 2.0);  // nothing left to hold: returns early
}

TEST(LoadGenerator, RejectsInvalidOptions) {
  LoadOptions options = connect_options(*parse_listen_url("tcp://127.0.0.1:1"), 100ms, 1s, 0);
  EXPECT_FALSE(run_load(options));
  options.concurrency = 1;
  options.timeout = 0ms;
  EXPECT_FALSE(run_load(options));
  options.timeout = 1s;
  options.mode = LoadOptions::Mode::hold;
  EXPECT_FALSE(run_load(options));  // hold_connections == 0
  options.target = *parse_listen_url("udp://127.0.0.1:1");
  options.mode = LoadOptions::Mode::connect;
  EXPECT_FALSE(run_load(options));
}

TEST(LoadGenerator, ParsesTheFirstWorkerId) {
  EXPECT_EQ(parse_worker_id("hello worker=12\n"), 12);
  EXPECT_EQ(parse_worker_id("worker=x worker=3"), 3);
  EXPECT_EQ(parse_worker_id("worker="), -1);
  EXPECT_EQ(parse_worker_id("worker=99999999999"), -1);
  EXPECT_EQ(parse_worker_id(""), -1);
}

TEST(LoadGenerator, JsonHasCountsLatencyAndStringKeyedWorkers) {
  LoadResult r;
  r.attempted = r.completed = 3;
  r.per_worker = {{0, 2}, {7, 1}};
  for (uint64_t v : {100u, 200u, 300u}) r.latency_us.record(v);
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["completed"], 3);
  EXPECT_EQ(j["per_worker"]["7"], 1);
  EXPECT_EQ(j["latency_us"]["p50"], 200);
  EXPECT_EQ(j["latency_us"]["max"], 300);
  EXPECT_FALSE(j.contains("first_error"));
}

}  // namespace
}  // namespace herdless::load
