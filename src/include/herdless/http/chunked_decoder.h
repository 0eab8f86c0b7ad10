// ChunkedDecoder: reads and discards a `Transfer-Encoding: chunked` request body incrementally
// (RFC 9112 section 7.1): chunk sizes, extensions, data, the last chunk and the trailer
// section. Keeps no copy of the input, so the body may arrive in pieces of any size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herdless::http {

class ChunkedDecoder {
 public:
  enum class Status : uint8_t { need_more, done, error };
  struct Step {
    Status status;
    size_t consumed;  // bytes of the input that belong to the body
  };

  // Longest run of chunk extensions over the whole body.
  static constexpr size_t kMaxExtensionBytes = 8 * 1024;
  // Hex digits of one chunk size (leading zeros included).
  static constexpr unsigned kMaxSizeDigits = 16;

  // Starts a new body: decoded data over `max_body` gives 413; a trailer section over
  // `max_trailer_bytes` or `max_trailer_fields` gives 431.
  void reset(uint64_t max_body, size_t max_trailer_bytes, size_t max_trailer_fields);

  // Consumes up to the end of the body; stops there (the rest is the next request).
  Step feed(std::string_view data);

  // The response status after Status::error: 400, 413 or 431.
  int error_status() const { return error_status_; }
  // Decoded (and discarded) data bytes so far.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State : uint8_t {
    size, size_ws, extension, size_lf, data, data_cr, data_lf,
    trailer_start, trailer_name, trailer_value, trailer_lf, final_lf, done, failed
  };
  Step fail(int status, size_t consumed);
  // Adds to the trailer section's size; false once it is over the limit.
  bool count_trailer_bytes(size_t count);

  State state_ = State::size;
  int error_status_ = 0;
  unsigned size_digits_ = 0;
  uint64_t chunk_left_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t max_body_ = 0;
  size_t extension_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  size_t trailer_fields_ = 0;
  size_t max_trailer_bytes_ = 0;
  size_t max_trailer_fields_ = 0;
};

}  // namespace herdless::http
