// HttpDate: the text of the Date header ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 5.6.7),
// formatted at most once per second: refresh() reads a coarse clock (a vDSO read, no system
// call) and reformats only when the second has changed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herdless::http {

class HttpDate {
 public:
  static constexpr size_t kLength = 29;

  HttpDate();
  // True when the text changed since the last call.
  bool refresh();
  std::string_view text() const { return {text_, kLength}; }

 private:
  int64_t second_ = -1;
  char text_[kLength] = {};
};

// Writes the IMF-fixdate of `unix_seconds` (UTC) into `out`, HttpDate::kLength bytes.
void format_http_date(int64_t unix_seconds, char* out);

}  // namespace herdless::http
