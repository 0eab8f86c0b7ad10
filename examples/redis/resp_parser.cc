// RespParser: one request per call, no copy of its bytes (see resp_parser.h). Limits as
// redis-server's defaults: 1024*1024 arguments per request, 512 MB per bulk string, 64 KiB
// for an inline line or an unfinished header line.
#include "resp_parser.h"

#include <algorithm>
#include <cstdint>

namespace redis {
namespace {

constexpr int64_t kMaxArgs = 1024 * 1024;
constexpr int64_t kMaxBulk = 512LL * 1024 * 1024;
constexpr size_t kMaxLine = 64 * 1024;

// Reads "<digits>\r\n" at input[at]: the number, and `at` moved past the CRLF. -2: the line is
// not complete yet; -1: not a number.
int64_t read_number(std::string_view input, size_t& at) {
  const size_t end = input.find('\r', at);
  if (end == std::string_view::npos || end + 1 >= input.size()) return -2;
  if (input[end + 1] != '\n' || end == at || end - at > 18) return -1;
  int64_t value = 0;
  for (size_t i = at; i < end; ++i) {
    const char c = input[i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  at = end + 2;
  return value;
}

}  // namespace

RespParser::Status RespParser::fail(std::string why) {
  error_ = std::move(why);
  return Status::error;
}

RespParser::Status RespParser::parse(std::string_view input, std::vector<std::string_view>& args) {
  args.clear();
  consumed_ = 0;
  needed_ = input.size() + 1;
  if (input.empty()) return Status::incomplete;
  if (input[0] != '*') return parse_inline(input, args);
  size_t at = 1;
  const int64_t count = read_number(input, at);
  if (count == -2) {
    if (input.size() > kMaxLine) return fail("Protocol error: too big mbulk count string");
    return Status::incomplete;
  }
  if (count < 0 || count > kMaxArgs) return fail("Protocol error: invalid multibulk length");
  for (int64_t i = 0; i < count; ++i) {
    if (at >= input.size()) return Status::incomplete;
    if (input[at] != '$') {
      std::string message = "Protocol error: expected '$', got '";
      message.append(1, input[at]).append("'");
      return fail(message);
    }
    ++at;
    const int64_t length = read_number(input, at);
    if (length == -2) {
      if (input.size() - at > kMaxLine) return fail("Protocol error: too big bulk count string");
      return Status::incomplete;
    }
    if (length < 0 || length > kMaxBulk) return fail("Protocol error: invalid bulk length");
    const size_t end = at + static_cast<size_t>(length);
    if (end + 2 > input.size()) {
      needed_ = end + 2;  // the bulk's length is known: no need to look again before then
      return Status::incomplete;
    }
    if (input[end] != '\r' || input[end + 1] != '\n') return fail("Protocol error: bulk string not ended by CRLF");
    args.emplace_back(input.substr(at, static_cast<size_t>(length)));
    at = end + 2;
  }
  consumed_ = at;
  return Status::complete;
}

// An inline command: words separated by spaces or tabs up to "\n" (an "\r" before it is
// dropped). No quoting: enough for PING or GET by hand. An empty line is a request of no words.
RespParser::Status RespParser::parse_inline(std::string_view input, std::vector<std::string_view>& args) {
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) {
    if (input.size() > kMaxLine) return fail("Protocol error: too big inline request");
    return Status::incomplete;
  }
  std::string_view line = input.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t at = 0;
  while (at < line.size()) {
    const size_t start = line.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(line.find_first_of(" \t", start), line.size());
    args.emplace_back(line.substr(start, end - start));
    at = end;
  }
  consumed_ = newline + 1;
  return Status::complete;
}

}  // namespace redis
