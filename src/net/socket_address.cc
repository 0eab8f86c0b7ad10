// SocketAddress (public socket_address.h) and Datagram::peer(): printed through ListenAddress,
// the one place that formats an address.
#include "herdless/socket_address.h"

#include "herdless/address.h"
#include "herdless/datagram_service.h"

namespace herdless {

uint16_t SocketAddress::port() const {
  if (length == 0) return 0;
  return address_from_sockaddr(storage, length, Transport::tcp).port();
}

std::string SocketAddress::to_string() const {
  if (length == 0) return {};
  return address_from_sockaddr(storage, length, Transport::tcp).host_port();
}

SocketAddress Datagram::peer() const {
  SocketAddress address;
  if (sender == nullptr) return address;
  address.storage = *sender;
  address.length = sender_length;
  return address;
}

}  // namespace herdless
