// SO_REUSEPORT socket creation.
#include "herdless/listener.h"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace herdless {
namespace {

bool is_wildcard(const ListenAddress& address) {
  if (address.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_addr;
  return IN6_IS_ADDR_UNSPECIFIED(&a);
}

}  // namespace

Result<Fd> open_reuseport_socket(const ListenAddress& address, int backlog, bool nonblocking) {
  const int type = address.transport == Transport::tcp ? SOCK_STREAM : SOCK_DGRAM;
  Fd fd(::socket(address.family(), type | (nonblocking ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", address.url());
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return sys_error("setsockopt(SO_REUSEPORT)", address.url());
  }
  if (address.family() == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    return sys_error("setsockopt(IPV6_V6ONLY)", address.url());
  }
  if (address.transport == Transport::udp && is_wildcard(address)) {
    // Bound to every address: learn each datagram's destination to reply from it.
    const bool v4 = address.family() == AF_INET;
    if (::setsockopt(fd.get(), v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_PKTINFO : IPV6_RECVPKTINFO, &one, sizeof one) !=
        0) {
      return sys_error(v4 ? "setsockopt(IP_PKTINFO)" : "setsockopt(IPV6_RECVPKTINFO)", address.url());
    }
  }
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length) != 0) {
    if (errno == EADDRINUSE) {
      return sys_error("bind", address.url() +
                                   " (held by a socket without SO_REUSEPORT or by another user)");
    }
    return sys_error("bind", address.url());
  }
  if (address.transport == Transport::tcp && ::listen(fd.get(), backlog) != 0) {
    return sys_error("listen", address.url());
  }
  return fd;
}

uint64_t socket_drops(int fd) {
  uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) != 0 || length <= SK_MEMINFO_DROPS * sizeof(uint32_t)) {
    return 0;
  }
  return info[SK_MEMINFO_DROPS];
}

Result<ListenAddress> bound_address(int fd, Transport transport) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return sys_error("getsockname", "fd " + std::to_string(fd));
  }
  return address_from_sockaddr(storage, length, transport);
}

}  // namespace herdless
