// ListenAddress: a parsed listen URL (tcp://HOST:PORT, udp://HOST:PORT, IPv4 or [IPv6])
// and its socket address. Parsing is strict: numeric hosts only, port 0..65535.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "herdless/error.h"

namespace herdless {

enum class Transport { tcp, udp };

struct ListenAddress {
  Transport transport = Transport::tcp;
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t port);
  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage); }

  // "tcp://127.0.0.1:10013", "tcp://[::1]:80".
  std::string url() const;
  // "127.0.0.1:10013", "[::1]:80".
  std::string host_port() const;

  friend bool operator==(const ListenAddress& a, const ListenAddress& b) { return a.url() == b.url(); }
};

// Parses "tcp://HOST:PORT" or "udp://HOST:PORT"; HOST is an IPv4 literal or "[IPv6]".
Result<ListenAddress> parse_listen_url(std::string_view url);

// Parses "HOST:PORT" (no scheme) as a TCP address, e.g. for --admin.
Result<ListenAddress> parse_host_port(std::string_view host_port);

// Builds a ListenAddress from what getsockname() reported.
ListenAddress address_from_sockaddr(const sockaddr_storage& storage, socklen_t length, Transport transport);

}  // namespace herdless
