// UdpSteering: how a datagram picks its worker slot: the kernel's 4-tuple hash, or a session
// key read from the datagram by the eBPF program (--udp-steer, --udp-session-key).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "herdless/error.h"

namespace herdless {

enum class UdpSteer {
  hash,     // no program: the kernel's 4-tuple hash (a client whose port changes may move)
  session,  // eBPF: rendezvous hash of the session key over healthy slots
};

// Where the session key lies in the UDP payload: `length` bytes from byte `offset`.
struct SessionKey {
  uint32_t offset = 0;
  uint32_t length = 0;  // 0: none configured
  friend bool operator==(const SessionKey&, const SessionKey&) = default;
};

struct UdpSteering {
  UdpSteer mode = UdpSteer::hash;
  SessionKey key;
  friend bool operator==(const UdpSteering&, const UdpSteering&) = default;
};

const char* udp_steer_name(UdpSteer mode);
Result<UdpSteer> parse_udp_steer(std::string_view text);
// "OFFSET:LENGTH", e.g. "0:8": length 1..32 (HERDLESS_MAX_KEY_BYTES), ending within 65527 bytes.
Result<SessionKey> parse_session_key(std::string_view text);
// "0:8".
std::string session_key_text(const SessionKey& key);

}  // namespace herdless
