// DatagramServer over real loopback UDP sockets: hello and echo replies go back to each
// sender, batches larger than one recvmmsg are all served, oversized datagrams are counted
// and not answered, replies on a wildcard address leave from the address the request went to,
// and socket_drops() reports what a full receive buffer cost.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "herdless/builtin_services.h"
#include "herdless/datagram_server.h"
#include "herdless/listener.h"
#include "testutil/client.h"

namespace herdless {
namespace {

using testutil::udp_exchange;
using testutil::udp_receive;
using testutil::udp_socket_to;

// A non-blocking UDP socket on 127.0.0.1, port chosen by the kernel.
struct BoundSocket {
  Fd fd;
  ListenAddress address;
};

BoundSocket bind_loopback_udp(const char* url = "udp://127.0.0.1:0") {
  auto address = parse_listen_url(url);
  EXPECT_TRUE(address.has_value());
  auto fd = open_reuseport_socket(*address, 0);
  EXPECT_TRUE(fd.has_value()) << (fd ? "" : fd.error().message());
  auto bound = bound_address(fd->get(), Transport::udp);
  EXPECT_TRUE(bound.has_value());
  return BoundSocket{std::move(*fd), *bound};
}

// A built-in datagram service (hello: `message`; echo) as the worker makes it.
std::unique_ptr<DatagramService> builtin(ServiceKind kind, std::string message) {
  ServiceOptions options;
  options.kind = kind;
  options.message = std::move(message);
  return make_datagram_service(options);
}

// Sends from `client`, lets the server serve one round, and returns the reply.
std::string exchange_through(DatagramServer& server, int server_fd, int client, const std::string& datagram,
                             DatagramTally* tally = nullptr) {
  EXPECT_EQ(::send(client, datagram.data(), datagram.size(), 0), static_cast<ssize_t>(datagram.size()));
  const DatagramTally t = server.serve(server_fd, 1);
  if (tally != nullptr) *tally = t;
  auto reply = udp_receive(client);
  return reply ? *reply : "<no reply: " + reply.error().message() + ">";
}

TEST(DatagramServer, HelloAnswersEachSenderWithTheMessage) {
  BoundSocket server = bind_loopback_udp();
  auto hello_service = builtin(ServiceKind::hello, "hello worker=3");
  DatagramServer hello(*hello_service, 2048);
  auto a = udp_socket_to(server.address);
  auto b = udp_socket_to(server.address);
  ASSERT_TRUE(a && b);
  DatagramTally tally;
  EXPECT_EQ(exchange_through(hello, server.fd.get(), a->get(), "ping", &tally), "hello worker=3");
  EXPECT_EQ(tally.received, 1u);
  EXPECT_EQ(tally.sent, 1u);
  EXPECT_TRUE(tally.drained);
  EXPECT_EQ(exchange_through(hello, server.fd.get(), b->get(), ""), "hello worker=3");  // empty is a request too
}

TEST(DatagramServer, EchoReturnsBinaryAndEmptyDatagramsIntact) {
  BoundSocket server = bind_loopback_udp();
  auto echo_service = builtin(ServiceKind::echo, "");
  DatagramServer echo(*echo_service, 65507);
  auto client = udp_socket_to(server.address);
  ASSERT_TRUE(client);
  std::string binary(1200, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  EXPECT_EQ(exchange_through(echo, server.fd.get(), client->get(), binary), binary);
  EXPECT_EQ(exchange_through(echo, server.fd.get(), client->get(), ""), "");
  const std::string large(60000, 'x');
  EXPECT_EQ(exchange_through(echo, server.fd.get(), client->get(), large), large);
}

TEST(DatagramServer, OversizedDatagramsAreCountedAndNotAnswered) {
  BoundSocket server = bind_loopback_udp();
  auto echo_service = builtin(ServiceKind::echo, "");
  DatagramServer echo(*echo_service, 512);
  auto client = udp_socket_to(server.address, std::chrono::milliseconds(200));
  ASSERT_TRUE(client);
  const std::string fits(512, 'a');
  EXPECT_EQ(exchange_through(echo, server.fd.get(), client->get(), fits), fits);
  const std::string over(513, 'b');
  ASSERT_EQ(::send(client->get(), over.data(), over.size(), 0), 513);
  const DatagramTally tally = echo.serve(server.fd.get(), 1);
  EXPECT_EQ(tally.received, 1u);
  EXPECT_EQ(tally.truncated, 1u);
  EXPECT_EQ(tally.sent, 0u);
  EXPECT_FALSE(udp_receive(client->get()).has_value());  // nothing came back
}

TEST(DatagramServer, ServesEveryQueuedDatagramAcrossBatches) {
  BoundSocket server = bind_loopback_udp();
  auto echo_service = builtin(ServiceKind::echo, "");
  DatagramServer echo(*echo_service, 2048);
  auto client = udp_socket_to(server.address);
  ASSERT_TRUE(client);
  constexpr int kCount = 3 * DatagramServer::kBatch + 5;
  for (int i = 0; i < kCount; ++i) {
    const std::string d = fmt::format("n{}", i);  // not "n" + std::string: GCC 12 -O3's -Wrestrict
    ASSERT_EQ(::send(client->get(), d.data(), d.size(), 0), static_cast<ssize_t>(d.size()));
  }
  const DatagramTally first = echo.serve(server.fd.get(), 2);  // two batches only
  EXPECT_EQ(first.received, 2u * DatagramServer::kBatch);
  EXPECT_FALSE(first.drained);
  const DatagramTally rest = echo.serve(server.fd.get(), 8);
  EXPECT_EQ(rest.received, static_cast<uint64_t>(kCount) - 2u * DatagramServer::kBatch);
  EXPECT_TRUE(rest.drained);
  for (int i = 0; i < kCount; ++i) {  // in order, one reply each
    auto reply = udp_receive(client->get());
    ASSERT_TRUE(reply) << "reply " << i;
    EXPECT_EQ(*reply, fmt::format("n{}", i));
  }
  const DatagramTally idle = echo.serve(server.fd.get(), 1);
  EXPECT_EQ(idle.received, 0u);
  EXPECT_TRUE(idle.drained);
}

TEST(DatagramServer, OnAWildcardAddressRepliesLeaveFromTheAddressTheRequestWentTo) {
  BoundSocket server = bind_loopback_udp("udp://0.0.0.0:0");
  auto hello_service = builtin(ServiceKind::hello, "from the right address");
  DatagramServer hello(*hello_service, 2048);
  for (const char* host : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
    auto target = parse_listen_url(std::string("udp://") + host + ":" + std::to_string(server.address.port()));
    ASSERT_TRUE(target.has_value());
    // A connected client hears only its peer's address: a reply from 127.0.0.1 to a request
    // sent to 127.0.0.2 never arrives.
    auto client = udp_socket_to(*target, std::chrono::milliseconds(500));
    ASSERT_TRUE(client);
    EXPECT_EQ(exchange_through(hello, server.fd.get(), client->get(), "?"), "from the right address") << host;
  }
}

TEST(SocketDrops, CountsWhatAFullReceiveBufferCost) {
  BoundSocket server = bind_loopback_udp();
  const int small = 4096;  // the kernel doubles it; a few dozen datagrams fit
  ASSERT_EQ(::setsockopt(server.fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  EXPECT_EQ(socket_drops(server.fd.get()), 0u);
  auto client = udp_socket_to(server.address);
  ASSERT_TRUE(client);
  constexpr uint64_t kSent = 2000;
  const std::string datagram(100, 'd');
  for (uint64_t i = 0; i < kSent; ++i) ASSERT_EQ(::send(client->get(), datagram.data(), datagram.size(), 0), 100);
  auto echo_service = builtin(ServiceKind::echo, "");
  DatagramServer echo(*echo_service, 2048);
  const DatagramTally tally = echo.serve(server.fd.get(), 1000);
  const uint64_t dropped = socket_drops(server.fd.get());
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(tally.received + dropped, kSent);  // every datagram either served or counted
}

}  // namespace
}  // namespace herdless
