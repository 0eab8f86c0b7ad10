// Inheritance across a binary upgrade (SIGUSR2): the old supervisor execs the new binary with
// its listening sockets, admin socket and steering maps left open, and describes them in the
// HERDLESS_INHERIT environment variable; the new supervisor adopts them instead of opening its
// own, so no socket closes and the steering state (slot loads, sockarrays) carries over.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdless/error.h"

namespace herdless {

inline constexpr const char* kInheritVariable = "HERDLESS_INHERIT";

struct InheritedGroup {
  std::string requested_url;  // as configured ("tcp://127.0.0.1:0"), to match the new config
  int sockets_map_fd = -1;    // the group's REUSEPORT_SOCKARRAY, or -1
  std::vector<int> fds;       // listening sockets by slot
};

struct Inherited {
  int parent_pid = 0;    // the old supervisor, told to drain once the new workers run
  int admin_fd = -1;
  int slots_map_fd = -1;  // the shared slot-state map, or -1 (hash steering)
  std::vector<InheritedGroup> groups;

  // Every descriptor named, to keep open across exec.
  std::vector<int> fds() const;
  const InheritedGroup* group(std::string_view requested_url) const;
};

// "parent=123;admin=5;slots=6;group=tcp://127.0.0.1:0@7:8,9" (fields separated by ';').
std::string encode_inherited(const Inherited& inherited);
Result<Inherited> decode_inherited(std::string_view text);

// Reads and clears HERDLESS_INHERIT; nullopt when this process was not started by an upgrade.
Result<std::optional<Inherited>> take_inherited_from_environment();

}  // namespace herdless
