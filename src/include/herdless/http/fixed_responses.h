// FixedResponses: every response the http service sends, built once at start: 200 for GET
// and HEAD in each connection mode, and the error responses. Only the Date header changes;
// set_date() patches it in place, so answering a request is one append of ready bytes.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "herdless/http/request_parser.h"

namespace herdless::http {

// How the response leaves the connection.
enum class Persistence : uint8_t {
  keep_alive,      // HTTP/1.1 default: no Connection header
  keep_alive_1_0,  // HTTP/1.0 with "Connection: keep-alive": echo it
  close,           // "Connection: close"; the server closes after sending
};

class FixedResponses {
 public:
  // Error statuses a response exists for; any other code gets the 400 response.
  static constexpr std::array<int, 6> kErrorStatuses = {400, 405, 413, 431, 501, 505};
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

  FixedResponses(std::string_view body, std::string_view content_type);

  // 200 with the body (GET) or only its headers (HEAD).
  std::string_view ok(Method method, Persistence persistence) const {
    return entries_[index(method == Method::head, persistence)].bytes;
  }
  // An error response with "Connection: close" and a short text body.
  std::string_view error(int status) const;

  // Rewrites the Date header of every response (`date` is HttpDate::kLength bytes).
  void set_date(std::string_view date);

 private:
  struct Entry {
    std::string bytes;
    size_t date_at = 0;  // offset of the Date value
  };
  static constexpr size_t kOk = 6;  // {GET, HEAD} x {keep_alive, keep_alive_1_0, close}
  static size_t index(bool head, Persistence persistence) {
    return (head ? 3 : 0) + static_cast<size_t>(persistence);
  }
  static Entry build(int status, std::string_view content_type, std::string_view body, bool send_body,
                     Persistence persistence, std::string_view extra_header);

  std::array<Entry, kOk + kErrorStatuses.size()> entries_;
};

}  // namespace herdless::http
