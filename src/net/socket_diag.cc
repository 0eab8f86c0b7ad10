// dump_sockets(): one NETLINK_SOCK_DIAG dump per family and protocol, the state filter applied
// by the kernel (100,000 TIME_WAIT sockets of a busy port cost nothing here; reading
// /proc/net/tcp lists them all). socket_owners(): /proc/*/fd links "socket:[inode]".
#include "herdless/socket_diag.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "herdless/fd.h"

namespace herdless {
namespace {

std::vector<std::string> entries(const std::string& path) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  return out;
}

ListenAddress local_address(const inet_diag_msg& msg, Transport transport) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (msg.idiag_family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = msg.id.idiag_sport;
    std::memcpy(&sin6.sin6_addr, msg.id.idiag_src, sizeof sin6.sin6_addr);
    std::memcpy(&storage, &sin6, sizeof sin6);
    length = sizeof sin6;
  } else {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = msg.id.idiag_sport;
    std::memcpy(&sin.sin_addr, msg.id.idiag_src, sizeof sin.sin_addr);
    std::memcpy(&storage, &sin, sizeof sin);
    length = sizeof sin;
  }
  return address_from_sockaddr(storage, length, transport);
}

bool has_peer(const inet_diag_msg& msg) {
  return msg.id.idiag_dport != 0;
}

}  // namespace

Result<std::vector<DiagSocket>> dump_sockets(int family, Transport transport, uint32_t states) {
  Fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) return sys_error("socket(NETLINK_SOCK_DIAG)", "");
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = transport == Transport::tcp ? IPPROTO_TCP : IPPROTO_UDP;
  message.request.idiag_states = states;
  if (::send(fd.get(), &message, sizeof message, 0) != static_cast<ssize_t>(sizeof message)) {
    return sys_error("send(sock_diag)", "");
  }
  std::vector<DiagSocket> out;
  alignas(nlmsghdr) char buffer[32768];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0) return sys_error("recv(sock_diag)", "");
    if (n == 0) return out;
    auto length = static_cast<unsigned int>(n);
    // The NLMSG_* macros are C casts: spelled out here (warnings are errors).
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, length);
         length -= NLMSG_ALIGN(h->nlmsg_len),
              h = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(h) + NLMSG_ALIGN(h->nlmsg_len))) {
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = reinterpret_cast<const nlmsgerr*>(reinterpret_cast<const char*>(h) + NLMSG_HDRLEN);
        return sys_error("sock_diag", "", -err->error);
      }
      const auto* msg = reinterpret_cast<const inet_diag_msg*>(reinterpret_cast<const char*>(h) + NLMSG_HDRLEN);
      DiagSocket socket;
      socket.inode = msg->idiag_inode;
      socket.transport = transport;
      socket.state = msg->idiag_state;
      socket.local = local_address(*msg, transport);
      socket.connected = has_peer(*msg);
      socket.unread = msg->idiag_rqueue;
      out.push_back(std::move(socket));
    }
  }
}

Result<std::vector<DiagSocket>> listeners_on(const std::vector<uint16_t>& tcp_ports,
                                             const std::vector<uint16_t>& udp_ports) {
  std::vector<DiagSocket> out;
  for (int family : {AF_INET, AF_INET6}) {
    for (Transport transport : {Transport::tcp, Transport::udp}) {
      const auto& ports = transport == Transport::tcp ? tcp_ports : udp_ports;
      if (ports.empty()) continue;
      // An unconnected UDP socket is in TCP_CLOSE as far as sock_diag is concerned.
      const uint32_t states = transport == Transport::tcp ? diag_state(TCP_LISTEN) : diag_state(TCP_CLOSE);
      auto dumped = dump_sockets(family, transport, states);
      if (!dumped) {
        if (family == AF_INET6 && dumped.error().code == EAFNOSUPPORT) continue;  // no IPv6 here
        return std::unexpected(dumped.error());
      }
      for (DiagSocket& s : *dumped) {
        if (s.connected || std::ranges::find(ports, s.local.port()) == ports.end()) continue;
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

std::map<int, uint64_t> socket_fds_of(pid_t pid) {
  std::map<int, uint64_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
  char target[64];
  for (const std::string& name : entries(dir)) {
    const ssize_t n = ::readlink((dir + name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long long inode = 0;
    if (std::sscanf(target, "socket:[%llu]", &inode) == 1) out[std::atoi(name.c_str())] = inode;
  }
  return out;
}

std::map<uint64_t, pid_t> socket_owners(const std::set<uint64_t>& inodes) {
  std::map<uint64_t, pid_t> out;
  if (inodes.empty()) return out;
  for (const std::string& name : entries("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(name.c_str()));
    for (const auto& [fd, inode] : socket_fds_of(pid)) {
      if (inodes.contains(inode) && !out.contains(inode)) out[inode] = pid;
    }
    if (out.size() == inodes.size()) break;
  }
  return out;
}

std::string describe_process(pid_t pid) {
  if (pid <= 0) return "unknown process";
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return std::to_string(pid) + (comm.empty() ? std::string() : " '" + comm + "'");
}

}  // namespace herdless
