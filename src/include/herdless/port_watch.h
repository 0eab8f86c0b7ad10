// PortWatch: who else listens on herdless's ports. Once a second the supervisor lists the
// listening TCP sockets and unconnected UDP sockets on its ports (sock_diag) and sets aside
// its own. A foreign listener (say a more specific bind, 127.0.0.1:P beside our 0.0.0.0:P,
// which the kernel prefers over our reuseport group) is said in one warning line when it
// appears, one when it goes, and counted in /stats and /metrics. Occupants of an earlier
// supervisor that died (orphans) are told apart: a new supervisor takes over from them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "herdless/address.h"

namespace herdless {

struct PortHolder {
  ListenAddress local;
  pid_t pid = 0;        // a process that holds it (0: not found)
  bool orphan = false;  // held by an occupant of a herdless supervisor that is gone
};

class PortWatch {
 public:
  // One look. `ours`: the inodes of our listening sockets. `owned`: the SK_LOOKUP program
  // keeps our traffic on our sockets (said in the warning line).
  void check(const std::vector<uint16_t>& tcp_ports, const std::vector<uint16_t>& udp_ports,
             const std::set<uint64_t>& ours, bool owned);
  // Foreign listeners now (orphans not counted).
  size_t foreign() const;
  // Processes of an earlier supervisor holding sockets on our ports now.
  std::vector<pid_t> orphans() const;

 private:
  std::map<uint64_t, PortHolder> seen_;  // by socket inode
};

// True when `pid` is an occupant (a worker, or a program or what it forked) of a herdless
// supervisor that no longer runs: none of its ancestors up to the first that is not an
// occupant is a herdless supervisor.
bool orphaned_occupant(pid_t pid);

}  // namespace herdless
