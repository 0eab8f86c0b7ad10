// Blocking test clients.
#include "testutil/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>

namespace herdless::testutil {

Result<Fd> connect_to(const ListenAddress& server, std::chrono::milliseconds timeout) {
  Fd fd(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", server.url());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), server.sockaddr_ptr(), server.length) != 0) return sys_error("connect", server.url());
  return fd;
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
