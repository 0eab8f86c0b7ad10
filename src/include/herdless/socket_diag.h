// Sockets of the network namespace as the kernel lists them (NETLINK_SOCK_DIAG, inet_diag),
// filtered by state in the kernel, and which processes hold a socket (/proc/PID/fd). Used
// for readiness (a program's accepted connections) and to find listeners on our ports that
// are not ours (a more specific bind that would take our traffic, an earlier supervisor's
// orphaned occupants).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "herdless/address.h"
#include "herdless/error.h"

namespace herdless {

struct DiagSocket {
  uint64_t inode = 0;
  Transport transport = Transport::tcp;
  uint8_t state = 0;           // TCP_LISTEN, TCP_ESTABLISHED, ... (UDP: TCP_CLOSE when unconnected)
  ListenAddress local;         // address and port the socket is bound to
  bool connected = false;      // UDP: has a peer (not a listener of datagrams)
  uint32_t unread = 0;         // TCP connection: bytes received, not yet read (a listener: its queue)
};

// Bit of `states` for a TCP state, as inet_diag_req_v2::idiag_states wants it.
constexpr uint32_t diag_state(int tcp_state) { return 1U << tcp_state; }

// Every socket of `family` (AF_INET, AF_INET6) and `transport` in one of `states`.
Result<std::vector<DiagSocket>> dump_sockets(int family, Transport transport, uint32_t states);

// Listening TCP sockets and unconnected bound UDP sockets on `ports` (both families).
Result<std::vector<DiagSocket>> listeners_on(const std::vector<uint16_t>& tcp_ports,
                                             const std::vector<uint16_t>& udp_ports);

// The socket inodes a process holds, by descriptor.
std::map<int, uint64_t> socket_fds_of(pid_t pid);

// For each inode, one process that holds it (scans /proc/*/fd; only for the few sockets
// asked about, so its cost is per question, not per connection).
std::map<uint64_t, pid_t> socket_owners(const std::set<uint64_t>& inodes);

// "1234 'python3'" for log lines; "unknown process" when pid is 0.
std::string describe_process(pid_t pid);

}  // namespace herdless
