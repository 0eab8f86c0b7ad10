// UdpSteering names and the session key's OFFSET:LENGTH syntax.
#include "herdless/udp_steering.h"

#include <fmt/format.h>

#include <charconv>

#include "steer_shared.h"

namespace herdless {
namespace {

constexpr uint32_t kMaxUdpPayload = 65527;  // IPv6: 65535 - 8 (UDP); IPv4 allows 20 bytes less

bool parse_number(std::string_view text, uint32_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size();
}

}  // namespace

const char* udp_steer_name(UdpSteer mode) { return mode == UdpSteer::session ? "session" : "hash"; }

Result<UdpSteer> parse_udp_steer(std::string_view text) {
  if (text == "hash") return UdpSteer::hash;
  if (text == "session") return UdpSteer::session;
  return input_error("invalid udp-steer", fmt::format("'{}' (want hash or session)", text));
}

Result<SessionKey> parse_session_key(std::string_view text) {
  const auto fail = [&] {
    return input_error("invalid udp-session-key", fmt::format("'{}' (want OFFSET:LENGTH, offset 0..{}, length 1..{}, e.g. 0:8)", text,
                                   kMaxUdpPayload - 1, HERDLESS_MAX_KEY_BYTES));
  };
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail();
  SessionKey key;
  if (!parse_number(text.substr(0, colon), key.offset) || !parse_number(text.substr(colon + 1), key.length)) {
    return fail();
  }
  if (key.length == 0 || key.length > HERDLESS_MAX_KEY_BYTES || key.offset > kMaxUdpPayload - key.length) {
    return fail();
  }
  return key;
}

std::string session_key_text(const SessionKey& key) {
  return std::to_string(key.offset) + ":" + std::to_string(key.length);
}

}  // namespace herdless
