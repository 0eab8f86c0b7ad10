// SteerCounters: what the steering program counted for one worker slot (connections for TCP
// groups, datagrams for UDP groups).
#pragma once

#include <cstdint>

namespace herdless {

struct SteerCounters {
  uint64_t selected = 0;         // connections sent to the slot
  uint64_t skipped_stalled = 0;  // times it was a candidate but stalled or excluded
  uint64_t fell_back = 0;        // selections by the hash fallback that landed here
  uint64_t migrated = 0;         // queued requests migrated here from a closed listener
  uint64_t short_key = 0;        // UDP session: datagrams too short for the key (steered by 4-tuple)
};

}  // namespace herdless
