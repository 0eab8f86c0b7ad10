// Worker, end to end in one process: a Worker runs in a thread on SO_REUSEPORT sockets of
// 127.0.0.1:0 and plain blocking client sockets talk to it. Every read and write has a
// timeout; every wait is bounded; only lower time bounds are asserted.
#include "herdless/worker.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "herdless/address.h"
#include "herdless/listener.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kIoTimeout = 3000ms;

// --- sockets -----------------------------------------------------------------------------

Fd open_listener(uint16_t port = 0) {
  ListenAddress address = *parse_listen_url("tcp://127.0.0.1:0");
  address.set_port(port);
  auto fd = open_reuseport_socket(address, 128);
  EXPECT_TRUE(fd.has_value()) << fd.error().message();
  return fd ? std::move(*fd) : Fd();
}

uint16_t port_of(int listen_fd) {
  auto bound = bound_address(listen_fd, Transport::tcp);
  EXPECT_TRUE(bound.has_value()) << bound.error().message();
  return bound ? bound->port() : 0;
}

void set_timeouts(int fd, milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void set_buffers(int fd, int bytes) {
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0);
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0);
}

// Connects a blocking client socket; returns 0 or the connect errno.
int try_connect(uint16_t port, Fd& out, int buffer_bytes = 0) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  set_timeouts(fd.get(), kIoTimeout);
  if (buffer_bytes > 0) set_buffers(fd.get(), buffer_bytes);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) return errno;
  out = std::move(fd);
  return 0;
}

Fd connect_client(uint16_t port, int buffer_bytes = 0) {
  Fd fd;
  const int err = try_connect(port, fd, buffer_bytes);
  EXPECT_EQ(err, 0) << "connect to 127.0.0.1:" << port << ": " << std::strerror(err);
  return fd;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

enum class ReadEnd { complete, eof, timeout, error };  // complete: `want` bytes, still open

const char* name(ReadEnd end) {
  switch (end) {
    case ReadEnd::complete: return "complete";
    case ReadEnd::eof: return "eof";
    case ReadEnd::timeout: return "timeout";
    case ReadEnd::error: return "error";
  }
  return "?";
}

void PrintTo(ReadEnd end, std::ostream* os) { *os << name(end); }

// Appends what arrives to `out` until `want` bytes are there, EOF, an error or a timeout.
ReadEnd read_into(int fd, std::string& out, size_t want = SIZE_MAX, milliseconds limit = 20'000ms) {
  const auto deadline = Clock::now() + limit;
  char buffer[64 * 1024];
  while (out.size() < want) {
    if (Clock::now() >= deadline) return ReadEnd::timeout;
    const ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, want - out.size()), 0);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return ReadEnd::eof;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? ReadEnd::timeout : ReadEnd::error;
  }
  return ReadEnd::complete;
}

std::string read_to_eof(int fd) {
  std::string out;
  const ReadEnd end = read_into(fd, out);
  EXPECT_EQ(end, ReadEnd::eof) << "ended by " << name(end) << " after " << out.size() << " bytes";
  return out;
}

// Sends `text` and reads the same number of bytes back.
std::string round_trip(int fd, const std::string& text) {
  send_all(fd, text);
  std::string back;
  read_into(fd, back, text.size());
  return back;
}

// True when nothing (no data, no EOF) arrives on `fd` within `wait`.
bool stays_quiet(int fd, milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) == 0;
}

std::string pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + i / 4093) & 0xff);
  return out;
}

// --- waiting -----------------------------------------------------------------------------

bool wait_for(const std::function<bool()>& done, milliseconds limit = 3000ms) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A hung thread cannot be joined: end the process loudly rather than hang the suite.
template <class T>
T get_within(std::future<T>& result, milliseconds limit, const char* what) {
  if (result.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << what << " did not finish within " << limit.count() << "ms";
    std::fprintf(stderr, "%s hung; aborting\n", what);
    std::abort();
  }
  return result.get();
}

// --- a worker in a thread ----------------------------------------------------------------

struct Options {
  int index = 0;
  ServiceKind service = ServiceKind::echo;
  std::string message = "hello";
  milliseconds idle_timeout = 60'000ms;
  int max_conns = 1000;
  milliseconds drain_timeout = 2'000ms;
};

class RunningWorker {
 public:
  // Creates the worker; run() starts only with start() so a test can queue connections first.
  RunningWorker(const Options& o, std::vector<Fd> listeners, WorkerCounters& counters) {
    WorkerOptions options;
    options.index = o.index;
    options.listeners = std::move(listeners);
    options.service = o.service;
    options.message = o.message;
    options.idle_timeout = o.idle_timeout;
    options.max_conns = o.max_conns;
    options.drain_timeout = o.drain_timeout;
    options.counters = &counters;
    auto worker = Worker::create(std::move(options));
    EXPECT_TRUE(worker.has_value()) << worker.error().message();
    if (worker) worker_ = std::move(*worker);
  }
  ~RunningWorker() {
    if (result_.valid()) {
      worker_->request_stop();
      get_within(result_, 10'000ms, "Worker::run at teardown");
    }
  }
  RunningWorker(const RunningWorker&) = delete;
  RunningWorker& operator=(const RunningWorker&) = delete;

  bool ok() const { return worker_ != nullptr; }
  void start() {
    Worker* w = worker_.get();
    result_ = std::async(std::launch::async, [w] { return w->run(); });
  }
  Worker& worker() { return *worker_; }
  bool finished(milliseconds wait) { return result_.wait_for(wait) == std::future_status::ready; }
  int exit_code(milliseconds limit = 10'000ms) { return get_within(result_, limit, "Worker::run"); }

 private:
  std::unique_ptr<Worker> worker_;
  std::future<int> result_;
};

// One started worker on its own port.
class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto table = StatsTable::create(2);
    ASSERT_TRUE(table.has_value()) << table.error().message();
    table_ = std::move(*table);
  }

  // Opens a listener on 127.0.0.1:0, lets `prepare` adjust it, starts a worker on it.
  void start(const Options& o, const std::function<void(int)>& prepare = nullptr) {
    Fd listener = open_listener();
    ASSERT_TRUE(listener);
    port_ = port_of(listener.get());
    ASSERT_NE(port_, 0);
    if (prepare) prepare(listener.get());
    std::vector<Fd> listeners;
    listeners.push_back(std::move(listener));
    worker_ = std::make_unique<RunningWorker>(o, std::move(listeners), counters());
    ASSERT_TRUE(worker_->ok());
    worker_->start();
  }

  WorkerCounters& counters() { return table_.slot(0); }
  uint64_t accepted() { return counters().accepted.load(); }
  uint64_t closed() { return counters().closed.load(); }
  // A worker with this idle timeout keeps a quiet connection for 1.5 s and still serves it.
  void expect_quiet_connection_kept(std::chrono::milliseconds idle_timeout) {
    Options o;
    o.idle_timeout = idle_timeout;
    ASSERT_NO_FATAL_FAILURE(start(o));
    Fd c = connect_client(port_);
    ASSERT_TRUE(c);
    EXPECT_EQ(round_trip(c.get(), "x"), "x");
    EXPECT_TRUE(stays_quiet(c.get(), std::chrono::milliseconds(1500))) << "the connection was closed";
    EXPECT_EQ(closed(), 0u);
    EXPECT_EQ(round_trip(c.get(), "y"), "y");
  }
  int64_t active() { return counters().active.load(); }

  StatsTable table_;
  uint16_t port_ = 0;
  std::unique_ptr<RunningWorker> worker_;  // declared last: stopped before the table goes
};

// --- hello -------------------------------------------------------------------------------

TEST_F(WorkerTest, HelloRepliesWithTheMessageExpandedForTheWorker) {
  Options o;
  o.index = 3;
  o.service = ServiceKind::hello;
  o.message = "hello from {worker} ({worker})\n";
  ASSERT_NO_FATAL_FAILURE(start(o));
  for (int i = 0; i < 3; ++i) {
    Fd c = connect_client(port_);
    ASSERT_TRUE(c);
    EXPECT_EQ(read_to_eof(c.get()), "hello from 3 (3)\n");
  }
  EXPECT_TRUE(wait_for([&] { return closed() == 3; })) << "closed " << closed();
  EXPECT_EQ(accepted(), 3u);
  EXPECT_EQ(active(), 0);
  EXPECT_EQ(counters().errors.load(), 0u);
  EXPECT_EQ(counters().pid.load(), ::getpid());
}

// A client that sends a request before reading (curl, a load generator) still gets the whole
// message. The close that follows may be a reset rather than a FIN (the worker closes with
// the request unread), so only the bytes are asserted here.
TEST_F(WorkerTest, HelloReachesAClientThatSpokeFirst) {
  Options o;
  o.service = ServiceKind::hello;
  o.message = "hello {worker}";
  ASSERT_NO_FATAL_FAILURE(start(o));
  for (int i = 0; i < 20; ++i) {
    Fd c = connect_client(port_);
    ASSERT_TRUE(c);
    send_all(c.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string reply;
    const ReadEnd end = read_into(c.get(), reply);
    const int err = errno;
    EXPECT_EQ(reply, "hello 0") << "connection " << i;
    EXPECT_TRUE(end == ReadEnd::eof || (end == ReadEnd::error && err == ECONNRESET))
        << "connection " << i << " ended by " << name(end) << ": " << std::strerror(err);
  }
}

// --- echo --------------------------------------------------------------------------------

TEST_F(WorkerTest, EchoReturnsOneMebibyteAndClosesAfterPeerShutsWriting) {
  ASSERT_NO_FATAL_FAILURE(start(Options{}));
  Fd c = connect_client(port_);
  ASSERT_TRUE(c);
  const std::string payload = pattern(1 << 20);
  // Write from a second thread while this one reads: the echo must flow both ways at once.
  auto writer = std::async(std::launch::async, [&] {
    send_all(c.get(), payload);
    return ::shutdown(c.get(), SHUT_WR);
  });
  std::string back;
  const ReadEnd end = read_into(c.get(), back);
  EXPECT_EQ(get_within(writer, 20'000ms, "the writer"), 0);
  EXPECT_EQ(end, ReadEnd::eof) << "ended by " << name(end);
  ASSERT_EQ(back.size(), payload.size());
  EXPECT_TRUE(back == payload) << "echoed bytes differ";
  EXPECT_TRUE(wait_for([&] { return closed() == 1; }));
  EXPECT_EQ(accepted(), 1u);
  EXPECT_EQ(active(), 0);
}

// With small socket buffers on both sides, a peer that writes without reading must be
// stopped by the worker (it stops reading above TcpConnection::kHighWatermark of pending
// output) long before 2 MiB; once the peer reads, every byte arrives in order.
TEST_F(WorkerTest, EchoStopsReadingWhileOutputIsPending) {
  ASSERT_NO_FATAL_FAILURE(start(Options{}, [](int listener) { set_buffers(listener, 32 * 1024); }));
  Fd c = connect_client(port_, 16 * 1024);
  ASSERT_TRUE(c);
  const std::string payload = pattern(2 << 20);
  std::atomic<size_t> sent{0};
  std::atomic<bool> give_up{false};
  auto writer = std::async(std::launch::async, [&] {
    std::string_view rest = payload;
    while (!rest.empty() && !give_up) {
      const ssize_t n = ::send(c.get(), rest.data(), std::min<size_t>(rest.size(), 4096),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        rest.remove_prefix(static_cast<size_t>(n));
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      pollfd p{c.get(), POLLOUT, 0};
      ::poll(&p, 1, 20);
    }
    return rest.empty() && ::shutdown(c.get(), SHUT_WR) == 0;
  });
  // Wait until the writer makes no progress for 300ms (or finishes, which is the failure).
  size_t last = 0;
  auto last_change = Clock::now();
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && sent < payload.size()) {
    if (sent != last) {
      last = sent;
      last_change = Clock::now();
    } else if (Clock::now() - last_change >= 300ms) {
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  const size_t stalled_at = sent;
  EXPECT_LT(stalled_at, size_t{1} << 20) << "the worker kept reading with " << stalled_at
                                         << " bytes sent and none read back";
  EXPECT_EQ(active(), 1);

  std::string back;
  const ReadEnd end = read_into(c.get(), back, SIZE_MAX, 30'000ms);
  give_up = true;
  EXPECT_TRUE(get_within(writer, 30'000ms, "the writer"));
  EXPECT_EQ(end, ReadEnd::eof) << "ended by " << name(end);
  ASSERT_EQ(back.size(), payload.size());
  EXPECT_TRUE(back == payload) << "echoed bytes differ";
}

// --- limits ------------------------------------------------------------------------------

TEST_F(WorkerTest, MaxConnsOneServesTheSecondConnectionOnlyAfterTheFirstCloses) {
  Options o;
  o.max_conns = 1;
  ASSERT_NO_FATAL_FAILURE(start(o));
  Fd first = connect_client(port_);
  ASSERT_TRUE(first);
  EXPECT_EQ(round_trip(first.get(), "one"), "one");

  Fd second = connect_client(port_);  // completes in the kernel's accept queue
  ASSERT_TRUE(second);
  send_all(second.get(), "two");
  EXPECT_TRUE(stays_quiet(second.get(), 300ms)) << "the second connection was served at the limit";
  EXPECT_EQ(accepted(), 1u);
  EXPECT_EQ(active(), 1);

  first.reset();
  std::string back;
  read_into(second.get(), back, 3);
  EXPECT_EQ(back, "two");
  EXPECT_EQ(accepted(), 2u);
  EXPECT_EQ(round_trip(second.get(), "again"), "again");
  EXPECT_TRUE(wait_for([&] { return closed() == 1 && active() == 1; }))
      << "closed " << closed() << " active " << active();
}

TEST_F(WorkerTest, IdleTimeoutClosesOnlyTheIdleConnection) {
  Options o;
  o.idle_timeout = 200ms;
  ASSERT_NO_FATAL_FAILURE(start(o));
  // `busy` first: it heads the accept order, so only a least-recently-active order (not the
  // accept order) lets the sweep reach `idle` behind it.
  Fd busy = connect_client(port_);
  ASSERT_TRUE(busy);
  EXPECT_EQ(round_trip(busy.get(), "b"), "b");
  Fd idle = connect_client(port_);
  ASSERT_TRUE(idle);
  EXPECT_EQ(round_trip(idle.get(), "ping"), "ping");
  const auto quiet_since = Clock::now();

  // Keep `busy` talking every 50ms until `idle` has been closed (or 3s pass).
  bool idle_closed = false;
  const auto deadline = Clock::now() + 3s;
  while (!idle_closed && Clock::now() < deadline) {
    EXPECT_EQ(round_trip(busy.get(), "b"), "b");
    pollfd p{idle.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) {
      char byte = 0;
      EXPECT_EQ(::recv(idle.get(), &byte, 1, 0), 0) << "data on the idle connection";
      idle_closed = true;
    }
  }
  ASSERT_TRUE(idle_closed) << "the idle connection was still open after 3s";
  EXPECT_GE(Clock::now() - quiet_since, 180ms);
  // The busy one outlived the idle one by far more than the timeout's worth of total time.
  EXPECT_EQ(round_trip(busy.get(), "still here"), "still here");
  EXPECT_TRUE(wait_for([&] { return closed() == 1; }));
  EXPECT_EQ(active(), 1);
}

TEST_F(WorkerTest, CountersTrackAcceptedActiveAndClosed) {
  ASSERT_NO_FATAL_FAILURE(start(Options{}));
  EXPECT_EQ(counters().pid.load(), ::getpid());
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_client(port_));
    ASSERT_TRUE(clients.back());
    EXPECT_EQ(round_trip(clients.back().get(), "x"), "x");
  }
  EXPECT_EQ(accepted(), 3u);
  EXPECT_EQ(active(), 3);
  EXPECT_EQ(closed(), 0u);

  clients[1].reset();
  EXPECT_TRUE(wait_for([&] { return closed() == 1; }));
  EXPECT_EQ(active(), 2);
  clients.clear();
  EXPECT_TRUE(wait_for([&] { return closed() == 3; })) << "closed " << closed();
  EXPECT_EQ(accepted(), 3u);
  EXPECT_EQ(active(), 0);
  EXPECT_EQ(counters().errors.load(), 0u);
  // The heartbeat is the loop's: fresh while the worker is idle.
  std::this_thread::sleep_for(100ms);
  EXPECT_LT(monotonic_ns() - counters().heartbeat_ns.load(), int64_t{2'000'000'000});
}

// --- stop and drain ----------------------------------------------------------------------

TEST_F(WorkerTest, RequestStopServesOpenConnectionUntilItCloses) {
  Options o;
  o.drain_timeout = 10'000ms;
  ASSERT_NO_FATAL_FAILURE(start(o));
  Fd c = connect_client(port_);
  ASSERT_TRUE(c);
  EXPECT_EQ(round_trip(c.get(), "before"), "before");

  worker_->worker().request_stop();
  EXPECT_EQ(round_trip(c.get(), "during drain"), "during drain");
  EXPECT_FALSE(worker_->finished(200ms)) << "run() returned with a connection open";
  EXPECT_EQ(round_trip(c.get(), "still"), "still");

  // The listener is let go: new connections are refused (a connect may still land in the
  // queue just before the socket closes; that one is reset or served and closed).
  int refused = 0;
  ASSERT_TRUE(wait_for([&] {
    Fd probe;
    refused = try_connect(port_, probe);
    return refused == ECONNREFUSED;
  })) << "last connect: " << std::strerror(refused);

  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  std::string rest;
  EXPECT_EQ(read_into(c.get(), rest), ReadEnd::eof);
  EXPECT_EQ(rest, "");
  EXPECT_EQ(worker_->exit_code(), 0);
  EXPECT_EQ(active(), 0);
}

TEST_F(WorkerTest, ShortDrainTimeoutClosesTheOpenConnection) {
  Options o;
  o.drain_timeout = 100ms;
  ASSERT_NO_FATAL_FAILURE(start(o));
  Fd c = connect_client(port_);
  ASSERT_TRUE(c);
  EXPECT_EQ(round_trip(c.get(), "x"), "x");
  const auto stop_at = Clock::now();
  worker_->worker().request_stop();
  std::string rest;
  const ReadEnd end = read_into(c.get(), rest, SIZE_MAX, 5000ms);
  EXPECT_EQ(end, ReadEnd::eof) << "ended by " << name(end);
  EXPECT_GE(Clock::now() - stop_at, 80ms);
  EXPECT_EQ(worker_->exit_code(), 0);
  EXPECT_EQ(closed(), 1u);
  EXPECT_EQ(active(), 0);
}

TEST_F(WorkerTest, RequestStopWithoutConnectionsEndsRunAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start(Options{}));
  worker_->worker().request_stop();
  EXPECT_EQ(worker_->exit_code(5000ms), 0);
  Fd probe;
  EXPECT_EQ(try_connect(port_, probe), ECONNREFUSED);
}

// An idle timeout of ~317 years fits in milliseconds but not in the int64 nanoseconds the
// sweep computes (idle_timeout.count() * 1'000'000): the product overflows, the limit turns
// negative and every connection is closed at the first sweep.
TEST_F(WorkerTest, HugeIdleTimeoutDoesNotCloseConnections) {
  expect_quiet_connection_kept(milliseconds(10'000'000'000'000));
}

// --idle-timeout off (zero): no sweep at all (a zero limit would close everything at once).
TEST_F(WorkerTest, IdleTimeoutOffNeverClosesConnections) { expect_quiet_connection_kept(milliseconds::zero()); }

// --- two workers on one port -------------------------------------------------------------

// Connections waiting in a listening socket's accept queue (TCP_INFO aliases it for listeners).
unsigned accept_queue(int listen_fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return ~0u;
  return info.tcpi_unacked;
}

// Before the workers run, each connection is placed in one socket's queue; afterwards the
// reply must name the worker of that socket, and each worker's counter equals its share.
TEST(TwoWorkers, EachReplyNamesTheWorkerWhoseSocketGotTheConnection) {
  auto table = StatsTable::create(2);
  ASSERT_TRUE(table.has_value());
  Fd s0 = open_listener();
  ASSERT_TRUE(s0);
  const uint16_t port = port_of(s0.get());
  Fd s1 = open_listener(port);
  ASSERT_TRUE(s1);
  ASSERT_EQ(port_of(s1.get()), port);
  const int fds[2] = {s0.get(), s1.get()};

  std::vector<Fd> clients;
  std::vector<int> expected;
  int per_worker[2] = {0, 0};
  for (int i = 0; i < 64 && (i < 16 || per_worker[0] == 0 || per_worker[1] == 0); ++i) {
    const unsigned before[2] = {accept_queue(fds[0]), accept_queue(fds[1])};
    clients.push_back(connect_client(port));
    ASSERT_TRUE(clients.back());
    unsigned after[2] = {before[0], before[1]};
    ASSERT_TRUE(wait_for([&] {
      after[0] = accept_queue(fds[0]);
      after[1] = accept_queue(fds[1]);
      return after[0] + after[1] == before[0] + before[1] + 1;
    })) << "accept queues " << after[0] << "+" << after[1];
    const int which = after[0] > before[0] ? 0 : 1;
    expected.push_back(which);
    ++per_worker[which];
  }
  ASSERT_GT(per_worker[0], 0);
  ASSERT_GT(per_worker[1], 0);

  Options o;
  o.service = ServiceKind::hello;
  o.message = "w={worker}";
  std::vector<Fd> l0, l1;
  l0.push_back(std::move(s0));
  l1.push_back(std::move(s1));
  o.index = 0;
  RunningWorker w0(o, std::move(l0), table->slot(0));
  o.index = 1;
  RunningWorker w1(o, std::move(l1), table->slot(1));
  ASSERT_TRUE(w0.ok() && w1.ok());
  w0.start();
  w1.start();

  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_EQ(read_to_eof(clients[i].get()), "w=" + std::to_string(expected[i])) << "connection " << i;
  }
  EXPECT_TRUE(wait_for([&] {
    return table->slot(0).closed.load() + table->slot(1).closed.load() == clients.size();
  }));
  EXPECT_EQ(table->slot(0).accepted.load(), static_cast<uint64_t>(per_worker[0]));
  EXPECT_EQ(table->slot(1).accepted.load(), static_cast<uint64_t>(per_worker[1]));
}

}  // namespace
}  // namespace herdless
