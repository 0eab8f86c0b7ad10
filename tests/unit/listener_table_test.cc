// ListenerTable: one SO_REUSEPORT socket per slot and address, port 0 shared by the slots,
// reuse of the same sockets (and their queued connections) across a reopen, and the
// EADDRINUSE error when a socket without SO_REUSEPORT holds the port. 127.0.0.1 only.
#include "herdless/listener_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herdless/listener.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;

ListenAddress loopback(uint16_t port) {
  ListenAddress a = *parse_listen_url("tcp://127.0.0.1:0");
  a.set_port(port);
  return a;
}

uint16_t port_of(int fd) {
  auto bound = bound_address(fd, Transport::tcp);
  EXPECT_TRUE(bound.has_value()) << bound.error().message();
  return bound ? bound->port() : 0;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

bool is_listening(int fd) {
  int on = 0;
  socklen_t length = sizeof on;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &length) == 0 && on == 1;
}

bool has_reuseport(int fd) {
  int on = 0;
  socklen_t length = sizeof on;
  return ::getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &length) == 0 && on == 1;
}

// Connections waiting in a listening socket's accept queue (TCP_INFO aliases it for listeners).
unsigned accept_queue(int listen_fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return ~0u;
  return info.tcpi_unacked;
}

// Connects to 127.0.0.1:port; returns 0 or the errno of connect.
int connect_errno(uint16_t port, Fd& out) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) return errno;
  out = std::move(fd);
  return 0;
}

// Sum of the accept queues of `fds`, waited for (bounded) to reach `want`.
unsigned queued(const std::vector<int>& fds, unsigned want) {
  unsigned sum = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    sum = 0;
    for (int fd : fds) sum += accept_queue(fd);
    if (sum == want) break;
    std::this_thread::sleep_for(1ms);
  }
  return sum;
}

// A port on 127.0.0.1 held by a plain (no SO_REUSEPORT) listening socket.
struct Blocker {
  Fd fd;
  uint16_t port = 0;
};

Blocker block_a_port() {
  Blocker b;
  b.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const ListenAddress a = loopback(0);
  EXPECT_EQ(::bind(b.fd.get(), a.sockaddr_ptr(), a.length), 0) << std::strerror(errno);
  EXPECT_EQ(::listen(b.fd.get(), 8), 0);
  b.port = port_of(b.fd.get());
  return b;
}

// A port that was free a moment ago (bound and released).
uint16_t free_port() {
  auto fd = open_reuseport_socket(loopback(0), 1);
  EXPECT_TRUE(fd.has_value());
  return fd ? port_of(fd->get()) : 0;
}

std::vector<int> all_fds(const ListenerTable& t, int address_index) {
  std::vector<int> out;
  for (int slot = 0; slot < t.slots(); ++slot) out.push_back(t.slot_fds(slot).at(static_cast<size_t>(address_index)));
  return out;
}

TEST(ListenerTable, PortZeroIsResolvedOnceAndSharedByEverySlot) {
  auto table = ListenerTable::open({loopback(0)}, 4, 64);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  EXPECT_EQ(table->slots(), 4);
  const auto bound = table->bound_addresses();
  ASSERT_EQ(bound.size(), 1u);
  const uint16_t port = bound[0].port();
  ASSERT_NE(port, 0);
  EXPECT_EQ(bound[0].url(), "tcp://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(table->transports(), std::vector<Transport>{Transport::tcp});

  std::set<int> distinct;
  for (int slot = 0; slot < 4; ++slot) {
    const std::vector<int> fds = table->slot_fds(slot);
    ASSERT_EQ(fds.size(), 1u);
    EXPECT_EQ(port_of(fds[0]), port) << "slot " << slot;
    EXPECT_TRUE(is_listening(fds[0])) << "slot " << slot;
    EXPECT_TRUE(has_reuseport(fds[0])) << "slot " << slot;
    EXPECT_NE(::fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0) << "slot " << slot;
    distinct.insert(fds[0]);
  }
  EXPECT_EQ(distinct.size(), 4u);
  EXPECT_EQ(table->groups(), 1u);
  EXPECT_EQ(table->group_fds(0), all_fds(*table, 0));

  // Connections to the port land in the slots' queues, nowhere else.
  std::vector<Fd> clients(8);
  for (Fd& c : clients) ASSERT_EQ(connect_errno(port, c), 0);
  EXPECT_EQ(queued(all_fds(*table, 0), 8), 8u);
}

TEST(ListenerTable, SlotFdsFollowTheAddressOrder) {
  auto table = ListenerTable::open({loopback(0), loopback(0)}, 2, 64);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  const auto bound = table->bound_addresses();
  ASSERT_EQ(bound.size(), 2u);
  EXPECT_NE(bound[0].port(), bound[1].port());
  for (int slot = 0; slot < 2; ++slot) {
    const std::vector<int> fds = table->slot_fds(slot);
    ASSERT_EQ(fds.size(), 2u);
    EXPECT_EQ(port_of(fds[0]), bound[0].port());
    EXPECT_EQ(port_of(fds[1]), bound[1].port());
  }
  EXPECT_TRUE(table->same_addresses({loopback(0), loopback(0)}));
  EXPECT_FALSE(table->same_addresses({loopback(0)}));
  EXPECT_FALSE(table->same_addresses({loopback(0), loopback(bound[1].port())}));
}

TEST(ListenerTable, ExplicitPortIsBoundByEverySlot) {
  const uint16_t port = free_port();
  auto table = ListenerTable::open({loopback(port)}, 3, 64);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  EXPECT_EQ(table->bound_addresses()[0].port(), port);
  for (int fd : all_fds(*table, 0)) EXPECT_EQ(port_of(fd), port);
}

TEST(ListenerTable, ResizeUpReusesTheSameSocketsAndTheirQueues) {
  auto first = ListenerTable::open({loopback(0)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const std::vector<int> before = all_fds(*first, 0);
  const uint16_t port = first->bound_addresses()[0].port();
  std::vector<Fd> clients(4);
  for (Fd& c : clients) ASSERT_EQ(connect_errno(port, c), 0);
  ASSERT_EQ(queued(before, 4), 4u);
  const unsigned queue0 = accept_queue(before[0]), queue1 = accept_queue(before[1]);

  auto second = ListenerTable::open({loopback(0)}, 4, 64, &*first);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_EQ(second->slots(), 4);
  EXPECT_EQ(second->bound_addresses()[0].port(), port);
  const std::vector<int> after = all_fds(*second, 0);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1]);
  // The same sockets, not new ones on recycled numbers: the queued connections are still there.
  EXPECT_EQ(accept_queue(after[0]), queue0);
  EXPECT_EQ(accept_queue(after[1]), queue1);
  for (int slot = 2; slot < 4; ++slot) {
    EXPECT_EQ(port_of(after[static_cast<size_t>(slot)]), port);
    EXPECT_TRUE(is_listening(after[static_cast<size_t>(slot)]));
  }
  // The previous table gave its group away: destroying it closes nothing still in use.
  EXPECT_TRUE(first->bound_addresses().empty());
  *first = ListenerTable();
  for (int fd : after) EXPECT_TRUE(is_listening(fd));
}

TEST(ListenerTable, ResizeDownKeepsTheFirstSlotsAndClosesTheRest) {
  auto first = ListenerTable::open({loopback(0)}, 3, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const std::vector<int> before = all_fds(*first, 0);
  const uint16_t port = first->bound_addresses()[0].port();

  auto second = ListenerTable::open({loopback(0)}, 1, 64, &*first);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_EQ(second->slots(), 1);
  EXPECT_EQ(second->slot_fds(0), std::vector<int>{before[0]});
  EXPECT_EQ(second->bound_addresses()[0].port(), port);
  EXPECT_FALSE(is_open(before[1]));
  EXPECT_FALSE(is_open(before[2]));
  // Only the remaining socket takes connections now.
  std::vector<Fd> clients(6);
  for (Fd& c : clients) ASSERT_EQ(connect_errno(port, c), 0);
  EXPECT_EQ(queued({before[0]}, 6), 6u);
}

TEST(ListenerTable, ChangedAddressesReuseOnlyTheUnchangedOnes) {
  const uint16_t kept_port = free_port();
  auto first = ListenerTable::open({loopback(0), loopback(kept_port)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const uint16_t dropped_port = first->bound_addresses()[0].port();
  const std::vector<int> kept = all_fds(*first, 1);

  const uint16_t new_port = free_port();
  auto second = ListenerTable::open({loopback(kept_port), loopback(new_port)}, 2, 64, &*first);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_EQ(all_fds(*second, 0), kept);
  EXPECT_EQ(second->bound_addresses()[1].port(), new_port);
  EXPECT_TRUE(second->same_addresses({loopback(kept_port), loopback(new_port)}));

  // The dropped address stays with the previous table until that one goes.
  ASSERT_EQ(first->bound_addresses().size(), 1u);
  EXPECT_EQ(first->bound_addresses()[0].port(), dropped_port);
  *first = ListenerTable();
  Fd probe;
  EXPECT_EQ(connect_errno(dropped_port, probe), ECONNREFUSED);
  EXPECT_EQ(connect_errno(kept_port, probe), 0);
}

TEST(ListenerTable, PortHeldWithoutReuseportIsEaddrinuse) {
  Blocker blocker = block_a_port();
  ASSERT_NE(blocker.port, 0);
  const ListenAddress held = loopback(blocker.port);
  auto table = ListenerTable::open({held}, 2, 64);
  ASSERT_FALSE(table.has_value());
  EXPECT_EQ(table.error().call, "bind");
  EXPECT_EQ(table.error().code, EADDRINUSE);
  EXPECT_NE(table.error().context.find(held.url()), std::string::npos) << table.error().context;
  EXPECT_NE(table.error().message().find("SO_REUSEPORT"), std::string::npos) << table.error().message();
}

TEST(ListenerTable, FailedReopenHandsReusedSocketsBack) {
  auto first = ListenerTable::open({loopback(0)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const std::vector<int> before = all_fds(*first, 0);
  Blocker blocker = block_a_port();

  auto second = ListenerTable::open({loopback(0), loopback(blocker.port)}, 2, 64, &*first);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, EADDRINUSE);
  EXPECT_TRUE(first->same_addresses({loopback(0)}));
  EXPECT_EQ(all_fds(*first, 0), before);
  for (int fd : before) EXPECT_TRUE(is_listening(fd));
}

// A failed reopen must leave the previous table as it was. Today the addresses opened for the
// failed request are appended to it: they stay bound (their queues fill with connections
// nobody accepts) and every later slot_fds() hands them to restarted workers.
TEST(ListenerTable, FailedReopenLeavesNoNewAddressInThePreviousTable) {
  auto first = ListenerTable::open({loopback(0)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const ListenAddress original = first->bound_addresses()[0];
  const uint16_t extra_port = free_port();
  Blocker blocker = block_a_port();

  auto second = ListenerTable::open({loopback(0), loopback(extra_port), loopback(blocker.port)}, 2, 64, &*first);
  ASSERT_FALSE(second.has_value());
  EXPECT_TRUE(first->same_addresses({loopback(0)}));
  ASSERT_EQ(first->bound_addresses().size(), 1u);
  EXPECT_EQ(first->bound_addresses()[0].url(), original.url());
  EXPECT_EQ(first->slot_fds(0).size(), 1u);
  Fd probe;
  EXPECT_EQ(connect_errno(extra_port, probe), ECONNREFUSED) << "the failed request's port is still listening";
}

// Same root cause: handing the groups back appends them in the new request's order.
TEST(ListenerTable, FailedReopenKeepsThePreviousAddressOrder) {
  const uint16_t a = free_port();
  const uint16_t b = free_port();
  auto first = ListenerTable::open({loopback(a), loopback(b)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const std::vector<int> slot0 = first->slot_fds(0);
  Blocker blocker = block_a_port();

  auto second = ListenerTable::open({loopback(b), loopback(a), loopback(blocker.port)}, 2, 64, &*first);
  ASSERT_FALSE(second.has_value());
  EXPECT_TRUE(first->same_addresses({loopback(a), loopback(b)}));
  EXPECT_EQ(first->slot_fds(0), slot0);
}

// A failed reopen with fewer slots shrinks the reused group before failing and hands it back
// that small: the previous table's later slots lose their sockets (slot_fds throws).
TEST(ListenerTable, FailedReopenWithFewerSlotsKeepsEveryPreviousSlot) {
  auto first = ListenerTable::open({loopback(0)}, 2, 64);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  const std::vector<int> before = all_fds(*first, 0);
  Blocker blocker = block_a_port();

  auto second = ListenerTable::open({loopback(0), loopback(blocker.port)}, 1, 64, &*first);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(first->slots(), 2);
  std::vector<int> slot1;
  EXPECT_NO_THROW(slot1 = first->slot_fds(1));
  EXPECT_EQ(slot1, std::vector<int>{before[1]});
  EXPECT_TRUE(is_listening(before[1])) << "slot 1's socket was closed by the failed reopen";
}

}  // namespace
}  // namespace herdless
