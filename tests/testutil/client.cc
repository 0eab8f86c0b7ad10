// Blocking test clients.
#include "testutil/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>

namespace herdless::testutil {

namespace {

// A socket of `type` connected to `server`, with send and receive timeouts.
Result<Fd> connected_socket(const ListenAddress& server, int type, std::chrono::milliseconds timeout) {
  Fd fd(::socket(server.family(), type | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", server.url());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), server.sockaddr_ptr(), server.length) != 0) return sys_error("connect", server.url());
  return fd;
}

}  // namespace

Result<Fd> connect_to(const ListenAddress& server, std::chrono::milliseconds timeout) {
  return connected_socket(server, SOCK_STREAM, timeout);
}

Result<Fd> udp_socket_to(const ListenAddress& server, std::chrono::milliseconds timeout) {
  return connected_socket(server, SOCK_DGRAM, timeout);
}

Result<std::string> udp_exchange(int fd, std::string_view datagram) {
  if (::send(fd, datagram.data(), datagram.size(), 0) != static_cast<ssize_t>(datagram.size())) {
    return sys_error("send", std::to_string(datagram.size()) + " bytes");
  }
  return udp_receive(fd);
}

Result<std::string> udp_receive(int fd) {
  std::string reply(65536, '\0');
  const ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
  if (n < 0) return sys_error("recv", "a datagram");
  reply.resize(static_cast<size_t>(n));
  return reply;
}

Result<int> udp_worker_of(const ListenAddress& server, std::string_view datagram) {
  auto fd = udp_socket_to(server);
  if (!fd) return std::unexpected(fd.error());
  auto reply = udp_exchange(fd->get(), datagram);
  if (!reply) return std::unexpected(reply.error());
  return worker_of(*reply);
}

Result<std::string> read_some(int fd, size_t want) {
  std::string out;
  char buffer[4096];
  while (out.size() < want) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("recv", "after " + std::to_string(out.size()) + " bytes");
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> fetch(const ListenAddress& server, const std::string& request, std::chrono::milliseconds timeout) {
  auto fd = connect_to(server, timeout);
  if (!fd) return std::unexpected(fd.error());
  if (!request.empty() && ::send(fd->get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    return sys_error("send", server.url());
  }
  return read_some(fd->get(), SIZE_MAX);
}

int worker_of(const std::string& reply) {
  const size_t at = reply.find("worker=");
  if (at == std::string::npos) return -1;
  return std::atoi(reply.c_str() + at + 7);
}

}  // namespace herdless::testutil
