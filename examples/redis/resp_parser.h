// RespParser: cuts RESP2 requests out of a byte stream. A request is an array of bulk strings
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", what redis-cli and redis-benchmark send) or an inline
// command (a line of words: "PING\r\n", what a telnet user types). The parser keeps no bytes
// itself: the caller hands it the unconsumed input and it reports how much one request took.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace redis {

class RespParser {
 public:
  enum class Status { complete, incomplete, error };

  // Parses one request at the start of `input`. complete: `args` holds its words (views into
  // `input`) and consumed() says how many bytes it took. incomplete: more bytes are needed;
  // call again with the same bytes and more after them (at least needed() in all). error:
  // not RESP (error() says why); the connection should be closed after the error reply.
  Status parse(std::string_view input, std::vector<std::string_view>& args);

  size_t consumed() const { return consumed_; }
  size_t needed() const { return needed_; }
  const std::string& error() const { return error_; }

 private:
  Status fail(std::string why);
  Status parse_inline(std::string_view input, std::vector<std::string_view>& args);

  size_t consumed_ = 0;
  size_t needed_ = 0;
  std::string error_;
};

}  // namespace redis
