// Character classes of RFC 9110/9112 as one 256-entry table, so that the parser's inner loops
// test a byte with one load and one AND instead of a chain of comparisons.
#pragma once

#include <array>
#include <cstdint>

namespace herdless::http::detail {

enum CharClass : uint8_t {
  kTchar = 1,   // token: method, field name
  kTarget = 2,  // request-target: visible ASCII (0x21-0x7E)
  kValue = 4,   // field value: HTAB, SP, visible ASCII, obs-text (0x80-0xFF)
  kHex = 8,     // chunk size digit
};

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> table{};
  for (unsigned c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    bool tchar = alpha || digit;
    for (char extra : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'}) {
      if (c == static_cast<unsigned char>(extra)) tchar = true;
    }
    if (tchar) bits |= kTchar;
    if (c >= 0x21 && c <= 0x7E) bits |= kTarget;
    if (c == '\t' || (c >= 0x20 && c != 0x7F)) bits |= kValue;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) bits |= kHex;
    table[c] = bits;
  }
  return table;
}

inline constexpr std::array<uint8_t, 256> kCharClass = make_char_classes();

inline bool is(unsigned char c, CharClass cls) { return (kCharClass[c] & cls) != 0; }

inline char to_lower(unsigned char c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

inline unsigned hex_value(unsigned char c) {
  if (c <= '9') return c - static_cast<unsigned>('0');
  return (c | 0x20U) - static_cast<unsigned>('a') + 10U;
}

}  // namespace herdless::http::detail
