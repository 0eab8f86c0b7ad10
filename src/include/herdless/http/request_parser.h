// RequestParser: the strict, incremental HTTP/1.1 request parser shared by the http service
// and the admin endpoint (RFC 9112). Hand-written rather than taken from a library because we
// need (1) exact limits enforced while bytes arrive (8 KiB of head, 100 fields, --http-max-body),
// (2) zero allocation and no copy of the input on the request path: it is a state machine over
// the connection's input that remembers only a few integers and flags, so a request may arrive
// one byte at a time and bodies are discarded without buffering, and (3) the strict rejection
// rules (bare CR, whitespace before a colon, conflicting framing) that request smuggling hides in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "herdless/http/chunked_decoder.h"

namespace herdless::http {

enum class Method : uint8_t { get, head, other };

struct Limits {
  size_t max_head_bytes = 8 * 1024;   // request line and header fields together; over it: 431
  size_t max_fields = 100;            // header fields; over it: 431
  uint64_t max_body_bytes = 1 << 20;  // Content-Length or decoded chunked data; over it: 413
};

// The parts of a request head a fixed-response server acts on.
struct RequestHead {
  Method method = Method::other;
  uint8_t minor_version = 1;     // of HTTP/1.x
  bool keep_alive = false;       // the connection may carry another request after this one
  bool expect_continue = false;  // "Expect: 100-continue" on a request with a body
  bool has_body = false;
};

class RequestParser {
 public:
  enum class Event : uint8_t {
    need_more,     // every byte given was consumed; feed more
    head_done,     // the head of a request with a body is complete (time for 100 Continue)
    request_done,  // a whole request is in: answer it, then feed the rest of the input
    error,         // malformed or over a limit: answer error_status() and close
  };
  struct Progress {
    Event event;
    size_t consumed;  // bytes of the input used; the rest belongs to later calls
  };

  // With `capture_target`, the request-target is kept (in a buffer reused across requests).
  explicit RequestParser(const Limits& limits = Limits(), bool capture_target = false);

  // Parses as far as the input, the end of the current request's head, or its end allows.
  // After request_done the next call starts a new request; after error it consumes nothing.
  Progress feed(std::string_view data);

  // Valid after head_done or request_done, until the next feed().
  const RequestHead& head() const { return head_; }
  std::string_view target() const { return target_; }
  // After Event::error: 400, 413, 431, 501 (a transfer coding other than chunked) or 505.
  int error_status() const { return error_status_; }

 private:
  enum class State : uint8_t {
    line_start, line_start_lf, method, target, version, line_cr, line_lf,
    field_start, field_name, value_ows, value, value_lf, head_lf,
    body_length, body_chunked, done, failed
  };
  enum class Field : uint8_t { other, host, content_length, transfer_encoding, connection, expect };
  static constexpr size_t kTokenMax = 17;  // longest name or list element we match

  void start_request();
  bool in_head() const { return state_ < State::body_length; }
  Progress fail(int status, size_t consumed);
  bool reject(int status);  // fail() for the helpers below: records the error, returns false
  // Each returns false after recording an error.
  bool parse_head(const unsigned char* p, size_t end, size_t& i);
  bool field_value_char(unsigned char c);
  bool end_of_token();
  bool end_of_field();
  bool end_of_head();

  Limits limits_;
  bool capture_target_;
  State state_ = State::line_start;
  int error_status_ = 0;
  RequestHead head_;
  std::string target_;
  size_t head_bytes_ = 0;
  size_t fields_ = 0;

  // The token being read: method, version position, field name or list element (lowercased).
  char token_[kTokenMax] = {};
  size_t token_len_ = 0;
  bool token_bad_ = false;    // too long or with inner whitespace: matches nothing
  bool token_ended_ = false;  // whitespace seen after it
  unsigned major_ = 0;
  Field field_ = Field::other;

  // What the fields said so far.
  uint64_t value_number_ = 0;
  bool value_digits_ = false;
  uint64_t content_length_ = 0;
  bool has_content_length_ = false;
  unsigned hosts_ = 0;
  unsigned te_codings_ = 0;
  unsigned te_chunked_ = 0;
  bool te_last_chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expect_continue_ = false;

  uint64_t body_left_ = 0;
  ChunkedDecoder chunked_;
};

}  // namespace herdless::http
