// serving_evidence(): /proc/PID/task/*/children for the process tree; per process,
// /proc/PID/fd for socket inodes, /proc/PID/task/*/syscall for a blocked accept (or a
// select()/poll() whose set, read with process_vm_readv, holds a listener: gunicorn's workers),
// /proc/PID/fdinfo of its epoll descriptors for registered listeners, and sock_diag
// (socket_diag.h) for which of its sockets are established connections on our ports.
// unread_connections(): the same tree's sockets, and sock_diag's receive queue of each.
#include "herdless/accept_probe.h"

#include "herdless/socket_diag.h"

#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

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

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task/";
  for (const std::string& tid : entries(tasks)) {
    std::ifstream in(tasks + tid + "/children");
    pid_t child = 0;
    while (in >> child) out.push_back(child);
  }
  return out;
}

struct ProcessFds {
  std::map<int, uint64_t> sockets;  // fd -> socket inode
  std::vector<int> epolls;          // fds that are epoll instances
};

ProcessFds read_fds(pid_t pid) {
  ProcessFds out;
  out.sockets = socket_fds_of(pid);
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
  char target[64];
  for (const std::string& name : entries(dir)) {
    const int fd = std::atoi(name.c_str());
    if (out.sockets.contains(fd)) continue;
    const ssize_t n = ::readlink((dir + name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strcmp(target, "anon_inode:[eventpoll]") == 0) out.epolls.push_back(fd);
  }
  return out;
}

bool listener_at(const ProcessFds& fds, long fd, const ServingProbe& probe) {
  const auto it = fds.sockets.find(static_cast<int>(fd));
  return it != fds.sockets.end() && probe.listener_inodes.contains(it->second);
}

// `length` bytes at `address` in `pid` (a descendant of ours: ptrace access is granted).
bool read_memory(pid_t pid, uint64_t address, void* out, size_t length) {
  iovec local{out, length};
  iovec remote{reinterpret_cast<void*>(address), length};
  return ::process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(length);
}

// select()/pselect6() (nfds, readfds, ...) or poll()/ppoll() (fds, nfds, ...) waiting for a
// listener to be readable.
bool selects_listener(pid_t pid, long nr, const uint64_t (&arg)[2], const ProcessFds& fds, const ServingProbe& probe) {
  if (nr == SYS_select || nr == SYS_pselect6) {
    const uint64_t nfds = arg[0];
    if (arg[1] == 0 || nfds == 0 || nfds > 65536) return false;
    std::vector<uint64_t> set((nfds + 63) / 64);
    if (!read_memory(pid, arg[1], set.data(), set.size() * sizeof(uint64_t))) return false;
    for (const auto& [fd, inode] : fds.sockets) {
      if (static_cast<uint64_t>(fd) < nfds && (set[static_cast<size_t>(fd) / 64] >> (fd % 64) & 1) != 0 &&
          probe.listener_inodes.contains(inode)) {
        return true;
      }
    }
    return false;
  }
  if (nr == SYS_poll || nr == SYS_ppoll) {
    const uint64_t nfds = arg[1];
    if (arg[0] == 0 || nfds == 0 || nfds > 65536) return false;
    std::vector<pollfd> set(nfds);
    if (!read_memory(pid, arg[0], set.data(), set.size() * sizeof(pollfd))) return false;
    return std::ranges::any_of(set, [&](const pollfd& p) { return (p.events & POLLIN) != 0 && listener_at(fds, p.fd, probe); });
  }
  return false;
}

// A thread blocked in accept()/accept4() on a listener, or in select()/poll() on one:
// "<nr> <arg0 in hex> <arg1 in hex> ...".
const char* blocked_in_accept(pid_t pid, const ProcessFds& fds, const ServingProbe& probe) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task/";
  for (const std::string& tid : entries(tasks)) {
    std::ifstream in(tasks + tid + "/syscall");
    long nr = -1;
    std::string arg0, arg1;
    if (!(in >> nr >> arg0 >> arg1)) continue;
    const uint64_t args[2] = {std::strtoull(arg0.c_str(), nullptr, 16), std::strtoull(arg1.c_str(), nullptr, 16)};
    if (nr == SYS_accept || nr == SYS_accept4) {
      if (listener_at(fds, static_cast<long>(args[0]), probe)) return "waits in accept()";
    } else if (selects_listener(static_cast<pid_t>(std::stol(tid)), nr, args, fds, probe)) {
      return "waits in select()/poll() on its listener";
    }
  }
  return nullptr;
}

// A listener in one of its epoll sets: fdinfo lines "tfd:        3 events: ...".
bool polls_listener(pid_t pid, const ProcessFds& fds, const ServingProbe& probe) {
  for (int epoll : fds.epolls) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(epoll));
    std::string line;
    while (std::getline(in, line)) {
      long fd = -1;
      if (std::sscanf(line.c_str(), "tfd: %ld", &fd) == 1 && listener_at(fds, fd, probe)) return true;
    }
  }
  return false;
}

// Established connections of one family among `inodes`, on our ports (sock_diag).
bool diag_has(int family, const std::set<uint64_t>& inodes, const std::vector<uint16_t>& ports) {
  auto sockets = dump_sockets(family, Transport::tcp, diag_state(TCP_ESTABLISHED) | diag_state(TCP_CLOSE_WAIT));
  if (!sockets) return false;
  return std::ranges::any_of(*sockets, [&](const DiagSocket& s) {
    return inodes.contains(s.inode) && std::ranges::find(ports, s.local.port()) != ports.end();
  });
}

}  // namespace

std::set<uint64_t> socket_inodes_of(const std::vector<int>& fds) {
  std::set<uint64_t> out;
  for (int fd : fds) {
    struct stat st{};
    if (::fstat(fd, &st) == 0) out.insert(st.st_ino);
  }
  return out;
}

const char* serving_evidence(pid_t root, const ServingProbe& probe) {
  std::set<uint64_t> held;
  std::vector<pid_t> todo{root};
  for (size_t i = 0; i < todo.size() && i < 4096; ++i) {
    const ProcessFds fds = read_fds(todo[i]);
    if (const char* how = blocked_in_accept(todo[i], fds, probe); how != nullptr) return how;
    if (polls_listener(todo[i], fds, probe)) return "polls its listener";
    for (const auto& [fd, inode] : fds.sockets) {
      if (!probe.listener_inodes.contains(inode)) held.insert(inode);
    }
    for (pid_t child : children_of(todo[i])) todo.push_back(child);
  }
  if (held.empty() || probe.ports.empty()) return nullptr;
  if (diag_has(AF_INET, held, probe.ports) || diag_has(AF_INET6, held, probe.ports)) return "accepted a connection";
  return nullptr;
}

size_t unread_connections(pid_t root, const std::vector<uint16_t>& ports) {
  std::set<uint64_t> held;
  std::vector<pid_t> todo{root};
  for (size_t i = 0; i < todo.size() && i < 4096; ++i) {
    for (const auto& [fd, inode] : socket_fds_of(todo[i])) held.insert(inode);
    for (pid_t child : children_of(todo[i])) todo.push_back(child);
  }
  size_t unread = 0;
  if (held.empty() || ports.empty()) return unread;
  for (const int family : {AF_INET, AF_INET6}) {
    auto sockets = dump_sockets(family, Transport::tcp, diag_state(TCP_ESTABLISHED) | diag_state(TCP_CLOSE_WAIT));
    if (!sockets) continue;
    for (const DiagSocket& s : *sockets) {
      if (s.unread > 0 && held.contains(s.inode) && std::ranges::find(ports, s.local.port()) != ports.end()) ++unread;
    }
  }
  return unread;
}

}  // namespace herdless
