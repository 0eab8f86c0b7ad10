// SCM_RIGHTS over a socketpair.
#include "herdless/fd_passing.h"

#include <sys/socket.h>

#include <cstring>

namespace herdless {

Result<std::pair<Fd, Fd>> make_channel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    return sys_error("socketpair", "worker channel");
  }
  return std::make_pair(Fd(fds[0]), Fd(fds[1]));
}

Result<void> send_listener(int channel, uint32_t group, int listener) {
  msghdr message{};
  iovec payload{&group, sizeof group};
  message.msg_iov = &payload;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &listener, sizeof listener);
  if (::sendmsg(channel, &message, MSG_NOSIGNAL) < 0) return sys_error("sendmsg(SCM_RIGHTS)", "worker channel");
  return {};
}

Result<PassedListener> receive_listener(int channel) {
  PassedListener out;
  msghdr message{};
  iovec payload{&out.group, sizeof out.group};
  message.msg_iov = &payload;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(channel, &message, MSG_CMSG_CLOEXEC);
  if (n < 0) return sys_error("recvmsg", "worker channel");
  if (n == 0) return sys_error("recvmsg", "worker channel closed", EPIPE);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS || n != static_cast<ssize_t>(sizeof out.group)) {
    return input_error("malformed message", "worker channel");
  }
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  out.fd.reset(fd);
  return out;
}

}  // namespace herdless
