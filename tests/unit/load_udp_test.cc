// --mode udp against an in-test UDP server on 127.0.0.1:0 that answers "worker=N" with N
// chosen round-robin, and drops every k-th datagram when asked: replies, timeouts and the
// per-worker attribution must equal what the server did; a closed port is refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "herdless/fd.h"
#include "herdless/listener.h"
#include "herdless/load/load_generator.h"
#include "testutil/polled_server.h"

namespace herdless::load {
namespace {

using namespace std::chrono_literals;

class UdpServer final : public testutil::PolledServer {
 public:
  // Answers datagram i with "worker=<i % workers> <payload>", except every `drop_every`-th
  // (i % drop_every == drop_every - 1) when drop_every > 0.
  UdpServer(int workers, int drop_every) : PolledServer("udp://127.0.0.1:0"), workers_(workers), drop_every_(drop_every) {
    start();
  }
  ~UdpServer() override { stop(); }

  uint64_t received() const { return received_; }
  uint64_t dropped() const { return dropped_; }
  const std::map<int, uint64_t>& sent_per_worker() const { return sent_; }
  const std::map<std::string, uint64_t>& payloads() const { return payloads_; }
  const std::set<std::pair<std::string, int>>& sources() const { return sources_; }

 private:
  void on_readable() override {
    char buffer[2048];
    for (;;) {
      sockaddr_in peer{};
      socklen_t length = sizeof peer;
      const ssize_t n = ::recvfrom(socket(), buffer, sizeof buffer, MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&peer), &length);
      if (n < 0) return;
      const uint64_t index = received_++;
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
      sources_.emplace(text, ntohs(peer.sin_port));
      const std::string payload(buffer, static_cast<std::size_t>(n));
      ++payloads_[payload];
      if (drop_every_ > 0 && index % static_cast<uint64_t>(drop_every_) == static_cast<uint64_t>(drop_every_ - 1)) {
        ++dropped_;
        continue;
      }
      const int worker = static_cast<int>(index % static_cast<uint64_t>(workers_));
      const std::string reply = "worker=" + std::to_string(worker) + " " + payload;
      EXPECT_EQ(::sendto(socket(), reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&peer), length),
                static_cast<ssize_t>(reply.size()));
      ++sent_[worker];
    }
  }

  int workers_;
  int drop_every_;
  uint64_t received_ = 0;
  uint64_t dropped_ = 0;
  std::map<int, uint64_t> sent_;
  std::map<std::string, uint64_t> payloads_;
  std::set<std::pair<std::string, int>> sources_;
};

LoadOptions udp_options(const ListenAddress& target, std::chrono::milliseconds duration,
                        std::chrono::milliseconds timeout, int concurrency) {
  LoadOptions o;
  o.target = target;
  o.mode = LoadOptions::Mode::udp;
  o.send = "hello";
  o.concurrency = concurrency;
  o.duration = duration;
  o.timeout = timeout;
  return o;
}

TEST(LoadUdp, CountsEveryReplyAndAttributesEachWorker) {
  UdpServer server(3, 0);
  auto result = run_load(udp_options(server.address(), 300ms, 5s, 8));
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  const LoadResult& r = *result;
  EXPECT_GT(r.attempted, 8u);
  EXPECT_EQ(r.connected, r.attempted);  // every datagram went out
  EXPECT_EQ(r.completed, r.attempted);
  EXPECT_EQ(r.failed, 0u) << r.first_error;
  EXPECT_EQ(server.received(), r.attempted);
  EXPECT_EQ(server.payloads(), (std::map<std::string, uint64_t>{{"hello", r.attempted}}));
  EXPECT_EQ(r.per_worker, server.sent_per_worker());
  EXPECT_EQ(r.per_worker.size(), 3u);
  EXPECT_EQ(r.unattributed, 0u);
  EXPECT_EQ(r.latency_us.count(), r.completed);
}

TEST(LoadUdp, EveryRequestComesFromAFreshSocket) {
  UdpServer server(1, 0);
  LoadOptions options = udp_options(server.address(), 200ms, 5s, 4);
  options.rate = 500;  // 100 requests
  options.spread_sources = false;
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->attempted, 100u);
  EXPECT_EQ(server.received(), 100u);
  // One source address; ports chosen anew per socket (the kernel may reuse a freed one).
  std::set<int> ports;
  for (const auto& [address, port] : server.sources()) {
    EXPECT_EQ(address, "127.0.0.1");
    ports.insert(port);
  }
  EXPECT_GE(ports.size(), 50u);
}

TEST(LoadUdp, SpreadsSourcesOverLoopbackAddresses) {
  UdpServer server(1, 0);
  LoadOptions options = udp_options(server.address(), 200ms, 5s, 4);
  options.rate = 500;
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  std::set<std::string> addresses;
  for (const auto& [address, port] : server.sources()) addresses.insert(address);
  EXPECT_EQ(addresses.size(), 100u);
  for (const std::string& a : addresses) EXPECT_EQ(a.rfind("127.100.", 0), 0u) << a;
}

TEST(LoadUdp, DroppedDatagramsTimeOutExactly) {
  UdpServer server(2, 2);  // drops every second datagram
  LoadOptions options = udp_options(server.address(), 500ms, 100ms, 50);
  options.rate = 200;  // 100 requests
  auto result = run_load(options);
  server.stop();
  ASSERT_TRUE(result) << result.error().message();
  const LoadResult& r = *result;
  EXPECT_EQ(r.attempted, 100u);
  EXPECT_EQ(server.received(), 100u);
  EXPECT_EQ(server.dropped(), 50u);
  EXPECT_EQ(r.completed, 50u);
  EXPECT_EQ(r.timed_out, 50u);
  EXPECT_EQ(r.failed, 50u);
  EXPECT_EQ(r.per_worker, server.sent_per_worker());
  EXPECT_LT(r.seconds, 0.5 + 0.1 + 1.0);
}

TEST(LoadUdp, ClosedPortIsRefused) {
  // Find a free UDP port, then leave nothing bound to it: the kernel answers with ICMP
  // port unreachable, which the connected client socket reports as ECONNREFUSED.
  ListenAddress target = *parse_listen_url("udp://127.0.0.1:0");
  {
    Fd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::bind(probe.get(), target.sockaddr_ptr(), target.length), 0);
    target = *bound_address(probe.get(), Transport::udp);
  }
  auto result = run_load(udp_options(target, 100ms, 1s, 4));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_GT(result->attempted, 0u);
  EXPECT_EQ(result->refused, result->attempted);
  EXPECT_EQ(result->failed, result->attempted);
}

TEST(LoadUdp, WantsAUdpTarget) {
  LoadOptions options = udp_options(*parse_listen_url("tcp://127.0.0.1:1"), 100ms, 1s, 1);
  EXPECT_FALSE(validate_load_options(options));
  options.target = *parse_listen_url("udp://127.0.0.1:1");
  EXPECT_TRUE(validate_load_options(options));
  options.mode = LoadOptions::Mode::connect;
  EXPECT_FALSE(validate_load_options(options));
}

}  // namespace
}  // namespace herdless::load
