// libFuzzer target for the HTTP request parser (and the chunked decoder behind it), built by
// `make fuzz` with -fsanitize=fuzzer,address,undefined. Besides memory and UB errors it checks
// the parser's contract: it never claims more bytes than it was given, consumes all of them
// when it asks for more, stays failed after an error, and gives the same requests, statuses
// and request boundaries whether the input arrives at once, one byte at a time, or in pieces
// of sizes chosen by the input itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "herdless/http/request_parser.h"

namespace {

using herdless::http::Limits;
using herdless::http::RequestParser;

// What one event looked like; equal across every way of splitting the input.
struct Record {
  RequestParser::Event event;
  int status;
  int method;
  int minor;
  bool keep_alive;
  bool expect_continue;
  bool has_body;
  size_t target_size;
  size_t offset;  // input bytes consumed when the event was reported
  bool operator==(const Record&) const = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

// Feeds `input` in pieces: all at once (sizes empty), or cycling through `sizes` (1 + value).
std::vector<Record> run(std::string_view input, const Limits& limits, std::string_view sizes) {
  RequestParser parser(limits, true);
  std::vector<Record> records;
  size_t offset = 0;
  size_t next_size = 0;
  while (offset < input.size()) {
    size_t piece = input.size() - offset;
    if (!sizes.empty()) piece = std::min<size_t>(piece, 1 + static_cast<unsigned char>(sizes[next_size++ % sizes.size()]));
    std::string_view chunk = input.substr(offset, piece);
    while (!chunk.empty()) {
      const RequestParser::Progress p = parser.feed(chunk);
      check(p.consumed <= chunk.size());
      chunk.remove_prefix(p.consumed);
      offset += p.consumed;
      if (p.event == RequestParser::Event::need_more) {
        check(chunk.empty());
        break;
      }
      const auto& head = parser.head();
      check(parser.target().size() <= limits.max_head_bytes);
      records.push_back({p.event, p.event == RequestParser::Event::error ? parser.error_status() : 0,
                         static_cast<int>(head.method), head.minor_version, head.keep_alive, head.expect_continue,
                         head.has_body, parser.target().size(), offset});
      if (p.event == RequestParser::Event::error) {
        const int status = parser.error_status();
        check(status == 400 || status == 413 || status == 431 || status == 501 || status == 505);
        check(!head.keep_alive);
        const RequestParser::Progress again = parser.feed(chunk.empty() ? std::string_view("x") : chunk);
        check(again.event == RequestParser::Event::error && again.consumed == 0);
        return records;
      }
    }
  }
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0 picks the limits, byte 1 how many of the following bytes are piece sizes.
  const bool small = (data[0] & 1) != 0;
  const size_t split_len = std::min<size_t>(data[1] % 8, size - 2);
  const std::string_view sizes(reinterpret_cast<const char*>(data + 2), split_len);
  const std::string_view input(reinterpret_cast<const char*>(data + 2 + split_len), size - 2 - split_len);

  Limits limits;
  if (small) {
    limits.max_head_bytes = 64 + (data[0] >> 1);
    limits.max_fields = 1 + (data[0] >> 4);
    limits.max_body_bytes = data[0] >> 2;
  }
  const std::vector<Record> whole = run(input, limits, {});
  check(run(input, limits, std::string_view("\0", 1)) == whole);  // one byte at a time
  if (!sizes.empty()) check(run(input, limits, sizes) == whole);
  return 0;
}
