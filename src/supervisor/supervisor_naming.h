// Small helpers the supervisor's files share (private to src/supervisor/): the name of a
// worker mode in logs and /stats, and the TCP ports a listener table serves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "herdless/listener_table.h"
#include "herdless/serve_config.h"

namespace herdless {

inline const char* mode_name(WorkerMode mode) { return mode == WorkerMode::process ? "process" : "thread"; }

// The TCP ports served, as bound (port 0 resolved).
inline std::vector<uint16_t> tcp_ports(const ListenerTable& table) {
  std::vector<uint16_t> ports;
  for (const ListenAddress& address : table.bound_addresses()) {
    if (address.transport == Transport::tcp && std::ranges::find(ports, address.port()) == ports.end()) {
      ports.push_back(address.port());
    }
  }
  return ports;
}

}  // namespace herdless
