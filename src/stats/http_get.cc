// http_get: connect, send one request with "Connection: close", read to EOF.
#include "herdless/http_get.h"

#include <sys/socket.h>
#include <sys/time.h>

#include "herdless/fd.h"

namespace herdless {

Result<std::string> http_get(const ListenAddress& server, std::string_view path, std::chrono::milliseconds timeout) {
  const std::string where = "http://" + server.host_port() + std::string(path);
  Fd fd(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket", where);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), server.sockaddr_ptr(), server.length) != 0) return sys_error("connect", where);
  const std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + server.host_port() +
                              "\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return sys_error("send", where);
  }
  std::string response;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("recv", where);
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  const size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || !response.starts_with("HTTP/1.")) {
    return input_error("malformed HTTP response", where);
  }
  const std::string status = response.substr(9, 3);
  if (status != "200") return input_error("HTTP status " + status, where);
  return response.substr(head_end + 4);
}

}  // namespace herdless
