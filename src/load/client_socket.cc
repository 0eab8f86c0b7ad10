// Client sockets of the load generator.
#include "client_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace herdless::load {
namespace {

constexpr uint32_t kSourceBase = 0x7F640001;  // 127.100.0.1
constexpr uint32_t kSourceCount = 4096;

std::string ipv4_text(uint32_t network_order) {
  in_addr address{};
  address.s_addr = network_order;
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

}  // namespace

SourceAddresses::SourceAddresses(const ListenAddress& target, bool enabled) {
  if (!enabled || target.family() != AF_INET) return;
  const auto* in = reinterpret_cast<const sockaddr_in*>(&target.storage);
  spreading_ = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

uint32_t SourceAddresses::next() {
  const uint32_t host_order = kSourceBase + next_;
  next_ = (next_ + 1) % kSourceCount;
  return htonl(host_order);
}

Result<Fd> start_connect(const ListenAddress& target, SourceAddresses& sources) {
  Fd fd(::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", target.url());
  if (sources.spreading()) {
    // Let connect() pick the port for the full 4-tuple instead of bind() for the address.
    int one = 1;
    if (::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0) {
      return sys_error("setsockopt IP_BIND_ADDRESS_NO_PORT", target.url());
    }
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = sources.next();
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&source), sizeof source) < 0) {
      const int error = errno;
      return sys_error("bind", ipv4_text(source.sin_addr.s_addr), error);
    }
  }
  if (::connect(fd.get(), target.sockaddr_ptr(), target.length) < 0 && errno != EINPROGRESS) {
    return sys_error("connect", target.url());
  }
  return fd;
}

Result<Fd> start_datagram(const ListenAddress& target, SourceAddresses& sources, const std::string& datagram) {
  Fd fd(::socket(target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", target.url());
  if (sources.spreading()) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = sources.next();
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&source), sizeof source) < 0) {
      const int error = errno;
      return sys_error("bind", ipv4_text(source.sin_addr.s_addr), error);
    }
  }
  // Connected: only the target's datagrams arrive, and its ICMP errors are reported.
  if (::connect(fd.get(), target.sockaddr_ptr(), target.length) < 0) return sys_error("connect", target.url());
  if (::send(fd.get(), datagram.data(), datagram.size(), 0) < 0) return sys_error("send", target.url());
  return fd;
}

}  // namespace herdless::load
