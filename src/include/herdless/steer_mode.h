// SteerMode: how a new connection picks its worker slot.
#pragma once

#include <string_view>

#include "herdless/error.h"

namespace herdless {

enum class SteerMode {
  hash,          // no program: the kernel's 4-tuple hash over the group (blind to load and stalls)
  least_loaded,  // eBPF: two random healthy slots, the less loaded wins (the default when BPF loads)
  affinity,      // eBPF: rendezvous hash of the client address over healthy slots
  cpu,           // eBPF: the slot pinned to the CPU that received the connection
};

const char* steer_mode_name(SteerMode mode);
Result<SteerMode> parse_steer_mode(std::string_view text);

}  // namespace herdless
