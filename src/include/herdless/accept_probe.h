// Readiness without sd_notify: is a program (or a process it forked, such as gunicorn's
// workers) taking connections from herdless's sockets yet? Read from /proc while it starts
// (so its cost does not matter): a thread blocked in accept() on one of the listeners, a
// listener registered in one of its epoll sets, or an accepted connection on our ports.
// And, before a program is asked to stop, whether what it accepted has been read.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace herdless {

struct ServingProbe {
  std::vector<uint16_t> ports;      // TCP ports herdless listens on
  std::set<uint64_t> listener_inodes;  // the listening sockets' inodes
};

// The inodes of these sockets (fstat), for ServingProbe::listener_inodes.
std::set<uint64_t> socket_inodes_of(const std::vector<int>& fds);

// Empty when `root`'s process tree is not serving yet, else what showed that it is.
const char* serving_evidence(pid_t root, const ServingProbe& probe);

// How many connections on `ports` that `root`'s process tree holds have bytes it has not read
// yet (accepted, their request not taken in): a server that closes the connections it has no
// request from when it is asked to stop (uvicorn) would reset these.
size_t unread_connections(pid_t root, const std::vector<uint16_t>& ports);

}  // namespace herdless
