// SocketAddress: an IPv4 or IPv6 address and port as the kernel gave it (a connection's peer or
// local address, a datagram's sender), printable as "127.0.0.1:6379" or "[::1]:6379".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace herdless {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;  // 0: unknown (the socket was already closed, or the call failed)

  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // "127.0.0.1:6379", "[::1]:6379"; "" when unknown.
  std::string to_string() const;
};

}  // namespace herdless
