// Slow clients against a Worker (http, --http-header-timeout 1s) in a thread: 200 clients that
// trickle an endless request head, a byte every 100 ms each, are all closed about 1 s after they
// connected, while normal clients on new connections meanwhile get 0 failures, and a client that
// trickles a whole head within the timeout is served.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "herdless/listener.h"
#include "herdless/worker.h"
#include "herdless/worker_counters.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kTricklers = 200;
constexpr auto kHeaderTimeout = 1000ms;

Fd connect_to(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  timeval tv{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) fd.reset();
  return fd;
}

// One request on a new connection; true when it was answered 200 and closed.
bool normal_request(uint16_t port) {
  Fd fd = connect_to(port);
  if (!fd) return false;
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string reply;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) return false;
    reply.append(buffer, static_cast<size_t>(n));
  }
  return reply.starts_with("HTTP/1.1 200 OK\r\n");
}

// True when the server has closed `fd` (EOF or reset); never blocks.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

TEST(SlowClients, TricklersAreClosedAfterTheHeaderTimeoutWhileOthersAreServed) {
  auto table = StatsTable::create(1);
  ASSERT_TRUE(table) << table.error().message();
  auto listener = open_reuseport_socket(*parse_listen_url("tcp://127.0.0.1:0"), 1024);
  ASSERT_TRUE(listener) << listener.error().message();
  const uint16_t port = bound_address(listener->get(), Transport::tcp).value().port();
  WorkerOptions options;
  options.listeners.push_back(std::move(*listener));
  options.service = ServiceKind::http;
  options.http_header_timeout = kHeaderTimeout;
  options.counters = &table->slot(0);
  auto worker = Worker::create(std::move(options));
  ASSERT_TRUE(worker) << worker.error().message();
  Worker* w = worker->get();
  auto running = std::async(std::launch::async, [w] { return w->run(); });
  struct StopAtExit {  // an ASSERT that returns early must not leave the worker running
    Worker* worker;
    ~StopAtExit() { worker->request_stop(); }
  } stop_at_exit{w};

  struct Trickler {
    Fd fd;
    Clock::time_point connected;
    std::chrono::milliseconds closed_after{-1};
  };
  std::vector<Trickler> tricklers(kTricklers);
  for (Trickler& t : tricklers) {
    t.fd = connect_to(port);
    ASSERT_TRUE(t.fd) << "connect: " << std::strerror(errno);
    t.connected = Clock::now();
  }
  // Meanwhile: normal clients, and one slow client whose head is complete after ~0.5 s.
  std::atomic<bool> stop{false};
  auto normal = std::async(std::launch::async, [&] {
    std::pair<int, int> served_failed{0, 0};
    while (!stop.load()) (normal_request(port) ? served_failed.first : served_failed.second)++;
    return served_failed;
  });
  auto finisher = std::async(std::launch::async, [port] {
    Fd fd = connect_to(port);
    for (std::string_view piece : {"GET / HT", "TP/1.1\r\n", "Host: x\r\n", "Connection: close\r\n", "\r\n"}) {
      std::this_thread::sleep_for(100ms);
      if (::send(fd.get(), piece.data(), piece.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(piece.size())) return std::string();
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  });

  const std::string head = "GET / HTTP/1.1\r\nX-Slow: ";
  int open = kTricklers;
  const auto give_up = Clock::now() + 5s;
  for (size_t step = 0; open > 0 && Clock::now() < give_up; ++step) {
    for (Trickler& t : tricklers) {
      if (t.closed_after.count() >= 0) continue;
      const char byte = step < head.size() ? head[step] : 'a';
      if (closed_by_server(t.fd.get()) || ::send(t.fd.get(), &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        t.closed_after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t.connected);
        --open;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  const auto [served, failed] = normal.get();
  const std::string finished = finisher.get();

  EXPECT_EQ(open, 0) << "tricklers still open 5 s after they connected";
  auto earliest = 10'000ms, latest = 0ms;
  for (const Trickler& t : tricklers) {
    if (t.closed_after.count() < 0) continue;
    earliest = std::min(earliest, t.closed_after);
    latest = std::max(latest, t.closed_after);
  }
  EXPECT_GE(earliest, kHeaderTimeout - 50ms) << "a trickler was closed before the timeout";
  EXPECT_LE(latest, kHeaderTimeout + 1000ms) << "a trickler was held well past the timeout";
  EXPECT_EQ(failed, 0) << served << " served";
  EXPECT_GT(served, 50);
  EXPECT_TRUE(finished.starts_with("HTTP/1.1 200 OK\r\n")) << "a head completed in time was not served: '" << finished
                                                            << "'";
  std::printf("tricklers closed after %lld..%lld ms; normal requests: %d served, %d failed\n",
              static_cast<long long>(earliest.count()), static_cast<long long>(latest.count()), served, failed);
  w->request_stop();
  ASSERT_EQ(running.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(running.get(), 0);
}

}  // namespace
}  // namespace herdless
