// FixedResponses: the bytes of each response, with a placeholder Date patched in later.
#include "herdless/http/fixed_responses.h"

#include <algorithm>

#include "herdless/http/http_date.h"
#include "herdless/http/status.h"

namespace herdless::http {
namespace {

std::string_view error_body(int status) {
  switch (status) {
    case 405: return "only GET and HEAD\n";
    case 413: return "request body too large\n";
    case 431: return "request header fields too large\n";
    case 501: return "transfer coding not implemented\n";
    case 505: return "HTTP version not supported\n";
    default: return "bad request\n";
  }
}

}  // namespace

FixedResponses::Entry FixedResponses::build(int status, std::string_view content_type, std::string_view body,
                                            bool send_body, Persistence persistence, std::string_view extra_header) {
  Entry entry;
  std::string& out = entry.bytes;
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nServer: herdless\r\nDate: ";
  entry.date_at = out.size();
  out.append(HttpDate::kLength, ' ');
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());  // a HEAD response announces the GET body's length
  out += "\r\n";
  out += extra_header;
  if (persistence == Persistence::keep_alive_1_0) out += "Connection: keep-alive\r\n";
  if (persistence == Persistence::close) out += "Connection: close\r\n";
  out += "\r\n";
  if (send_body) out += body;
  return entry;
}

FixedResponses::FixedResponses(std::string_view body, std::string_view content_type) {
  for (Persistence p : {Persistence::keep_alive, Persistence::keep_alive_1_0, Persistence::close}) {
    entries_[index(false, p)] = build(200, content_type, body, true, p, "");
    entries_[index(true, p)] = build(200, content_type, body, false, p, "");
  }
  for (size_t k = 0; k < kErrorStatuses.size(); ++k) {
    const int status = kErrorStatuses[k];
    entries_[kOk + k] = build(status, "text/plain", error_body(status), true, Persistence::close,
                              status == 405 ? "Allow: GET, HEAD\r\n" : "");
  }
  HttpDate date;
  set_date(date.text());
}

std::string_view FixedResponses::error(int status) const {
  const auto* at = std::find(kErrorStatuses.begin(), kErrorStatuses.end(), status);
  if (at == kErrorStatuses.end()) at = kErrorStatuses.begin();
  return entries_[kOk + static_cast<size_t>(at - kErrorStatuses.begin())].bytes;
}

void FixedResponses::set_date(std::string_view date) {
  if (date.size() != HttpDate::kLength) return;
  for (Entry& entry : entries_) std::copy(date.begin(), date.end(), entry.bytes.begin() + static_cast<std::ptrdiff_t>(entry.date_at));
}

}  // namespace herdless::http
