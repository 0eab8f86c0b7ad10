// RequestParser: a byte-driven state machine whose hot states (target, field name, field
// value) skip whole runs of allowed characters with a table lookup per byte.
#include "herdless/http/request_parser.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "http/char_class.h"

namespace herdless::http {

using detail::is;

RequestParser::RequestParser(const Limits& limits, bool capture_target)
    : limits_(limits), capture_target_(capture_target) {}

void RequestParser::start_request() {
  std::string target = std::move(target_);  // keeps its capacity: no allocation next time
  target.clear();
  *this = RequestParser(limits_, capture_target_);
  target_ = std::move(target);
}

RequestParser::Progress RequestParser::fail(int status, size_t consumed) {
  state_ = State::failed;
  error_status_ = status;
  head_.keep_alive = false;
  return {Event::error, consumed};
}

bool RequestParser::reject(int status) {
  fail(status, 0);
  return false;
}

RequestParser::Progress RequestParser::feed(std::string_view data) {
  if (state_ == State::failed) return {Event::error, 0};
  if (state_ == State::done) start_request();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t i = 0;
  if (in_head()) {
    // Parse no further than the head limit allows: a byte beyond it is a 431 at once.
    const size_t window = std::min(data.size(), limits_.max_head_bytes - head_bytes_);
    const bool ok = parse_head(p, window, i);
    head_bytes_ += i;
    if (!ok) return {Event::error, i};
    if (in_head()) return window < data.size() ? fail(431, i) : Progress{Event::need_more, i};
    return {state_ == State::done ? Event::request_done : Event::head_done, i};
  }
  if (state_ == State::body_length) {
    const uint64_t take = std::min<uint64_t>(body_left_, data.size());
    body_left_ -= take;
    if (body_left_ > 0) return {Event::need_more, static_cast<size_t>(take)};
    state_ = State::done;
    return {Event::request_done, static_cast<size_t>(take)};
  }
  const ChunkedDecoder::Step step = chunked_.feed(data);
  if (step.status == ChunkedDecoder::Status::error) return fail(chunked_.error_status(), step.consumed);
  if (step.status == ChunkedDecoder::Status::need_more) return {Event::need_more, step.consumed};
  state_ = State::done;
  return {Event::request_done, step.consumed};
}

bool RequestParser::parse_head(const unsigned char* p, size_t end, size_t& i) {
  const auto take = [this](const unsigned char* s, size_t len, bool lower) {
    for (size_t k = 0; k < len; ++k) {
      if (token_len_ == kTokenMax) {
        token_bad_ = true;
        return;
      }
      token_[token_len_++] = lower ? detail::to_lower(s[k]) : static_cast<char>(s[k]);
    }
  };
  while (i < end) {
    const unsigned char c = p[i];
    switch (state_) {
      case State::line_start:
        // RFC 9112 2.2: empty lines before the request line are ignored (some clients send one after a body).
        if (c == '\r') {
          state_ = State::line_start_lf;
          ++i;
          break;
        }
        if (!is(c, detail::kTchar)) return reject(400);
        state_ = State::method;
        break;
      case State::line_start_lf:
        if (c != '\n') return reject(400);
        state_ = State::line_start;
        ++i;
        break;
      case State::method: {
        const size_t start = i;
        while (i < end && is(p[i], detail::kTchar)) ++i;
        take(p + start, i - start, false);  // methods are case-sensitive
        if (i == end) break;
        if (p[i] != ' ') return reject(400);
        const std::string_view method = token_bad_ ? std::string_view() : std::string_view(token_, token_len_);
        head_.method = method == "GET" ? Method::get : method == "HEAD" ? Method::head : Method::other;
        token_len_ = 0;  // from here on: a count of target bytes
        state_ = State::target;
        ++i;
        break;
      }
      case State::target: {
        const size_t start = i;
        while (i < end && is(p[i], detail::kTarget)) ++i;
        if (capture_target_) target_.append(reinterpret_cast<const char*>(p + start), i - start);
        token_len_ += i - start;
        if (i == end) break;
        if (p[i] != ' ' || token_len_ == 0) return reject(400);
        token_len_ = 0;  // from here on: the position in "HTTP/x.y"
        state_ = State::version;
        ++i;
        break;
      }
      case State::version: {
        static constexpr std::string_view kPrefix = "HTTP/";
        const bool digit = c >= '0' && c <= '9';
        if (token_len_ < kPrefix.size()) {
          if (c != static_cast<unsigned char>(kPrefix[token_len_])) return reject(400);
        } else if (token_len_ == 5) {
          if (!digit) return reject(400);
          major_ = c - unsigned{'0'};
        } else if (token_len_ == 6) {
          if (c != '.') return reject(400);
        } else {
          if (!digit) return reject(400);
          head_.minor_version = static_cast<uint8_t>(c - '0');
          state_ = State::line_cr;
        }
        ++token_len_;
        ++i;
        break;
      }
      case State::line_cr:
        if (c != '\r') return reject(400);
        state_ = State::line_lf;
        ++i;
        break;
      case State::line_lf:
        if (c != '\n') return reject(400);
        if (major_ != 1) return reject(505);
        state_ = State::field_start;
        ++i;
        break;
      case State::field_start:
        if (c == '\r') {
          state_ = State::head_lf;
          ++i;
          break;
        }
        if (!is(c, detail::kTchar)) return reject(400);  // obs-fold, whitespace before a name, bare LF
        if (++fields_ > limits_.max_fields) return reject(431);
        token_len_ = 0;
        token_bad_ = false;
        state_ = State::field_name;
        break;
      case State::field_name: {
        const size_t start = i;
        while (i < end && is(p[i], detail::kTchar)) ++i;
        take(p + start, i - start, true);
        if (i == end) break;
        if (p[i] != ':') return reject(400);  // whitespace before the colon included (RFC 9112 5.1)
        const std::string_view name = token_bad_ ? std::string_view() : std::string_view(token_, token_len_);
        field_ = name == "host"                ? Field::host
                 : name == "content-length"    ? Field::content_length
                 : name == "transfer-encoding" ? Field::transfer_encoding
                 : name == "connection"        ? Field::connection
                 : name == "expect"            ? Field::expect
                                               : Field::other;
        token_len_ = 0;
        token_bad_ = false;
        token_ended_ = false;
        value_number_ = 0;
        value_digits_ = false;
        state_ = State::value_ows;
        ++i;
        break;
      }
      case State::value_ows:
        if (c == ' ' || c == '\t') {
          ++i;
          break;
        }
        state_ = State::value;
        break;
      case State::value:
        if (field_ == Field::other || field_ == Field::host) {
          while (i < end && is(p[i], detail::kValue)) ++i;
        } else {
          for (; i < end && is(p[i], detail::kValue); ++i) {
            if (!field_value_char(p[i])) return false;
          }
        }
        if (i == end) break;
        if (p[i] != '\r') return reject(400);  // a bare LF or a control character
        state_ = State::value_lf;
        ++i;
        break;
      case State::value_lf:
        if (c != '\n') return reject(400);  // a bare CR
        ++i;
        if (!end_of_field()) return false;
        state_ = State::field_start;
        break;
      case State::head_lf:
        if (c != '\n') return reject(400);
        ++i;
        return end_of_head();
      default:
        return true;
    }
  }
  return true;
}

bool RequestParser::field_value_char(unsigned char c) {
  if (field_ == Field::content_length) {
    if (c >= '0' && c <= '9') {
      if (token_ended_) return reject(400);  // "1 2"
      constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
      value_number_ = value_number_ > (kMax - 9) / 10 ? kMax : value_number_ * 10 + (c - unsigned{'0'});
      value_digits_ = true;
      return true;
    }
    if (c == ' ' || c == '\t') {
      token_ended_ = true;
      return true;
    }
    return reject(400);  // a sign, a list ("5, 5"), anything but digits
  }
  // Comma-separated lists of tokens: Connection, Transfer-Encoding, Expect.
  if (c == ',') return end_of_token();
  if (c == ' ' || c == '\t') {
    token_ended_ = token_len_ > 0 || token_bad_;
    return true;
  }
  if (token_ended_ || token_len_ == kTokenMax) {
    token_bad_ = true;
    return true;
  }
  token_[token_len_++] = detail::to_lower(c);
  return true;
}

bool RequestParser::end_of_token() {
  if (token_len_ == 0 && !token_bad_) return true;  // an empty list element
  const std::string_view token = token_bad_ ? std::string_view("?") : std::string_view(token_, token_len_);
  if (field_ == Field::connection) {
    connection_close_ |= token == "close";
    connection_keep_alive_ |= token == "keep-alive";
  } else if (field_ == Field::transfer_encoding) {
    ++te_codings_;
    te_last_chunked_ = token == "chunked";
    te_chunked_ += te_last_chunked_ ? 1 : 0;
  } else if (field_ == Field::expect) {
    expect_continue_ |= token == "100-continue";
  }
  token_len_ = 0;
  token_bad_ = false;
  token_ended_ = false;
  return true;
}

bool RequestParser::end_of_field() {
  switch (field_) {
    case Field::host:
      ++hosts_;
      return true;
    case Field::content_length:
      // RFC 9112 6.3: repeated identical values are one value; different ones are fatal.
      if (!value_digits_ || (has_content_length_ && content_length_ != value_number_)) return reject(400);
      has_content_length_ = true;
      content_length_ = value_number_;
      return true;
    case Field::transfer_encoding:
      has_transfer_encoding_ = true;
      return end_of_token();
    case Field::connection:
    case Field::expect:
      return end_of_token();
    case Field::other:
      return true;
  }
  return true;
}

bool RequestParser::end_of_head() {
  const bool http11 = head_.minor_version >= 1;
  // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
  if (hosts_ > 1 || (http11 && hosts_ == 0)) return reject(400);
  bool chunked = false;
  if (has_transfer_encoding_) {
    // RFC 9112 6.1, 6.3: Transfer-Encoding with Content-Length, or in HTTP/1.0, is how requests
    // get smuggled past a proxy; chunked must be the final coding and appear once.
    if (has_content_length_ || !http11) return reject(400);
    if (te_codings_ == 1 && te_chunked_ == 1) chunked = true;
    else if (te_last_chunked_ && te_chunked_ == 1) return reject(501);  // e.g. "gzip, chunked"
    else return reject(400);
  }
  if (content_length_ > limits_.max_body_bytes) return reject(413);
  head_.keep_alive = !connection_close_ && (http11 || connection_keep_alive_);
  head_.has_body = chunked || content_length_ > 0;
  head_.expect_continue = expect_continue_ && head_.has_body;
  if (chunked) {
    chunked_.reset(limits_.max_body_bytes, limits_.max_head_bytes, limits_.max_fields);
    state_ = State::body_chunked;
  } else if (content_length_ > 0) {
    body_left_ = content_length_;
    state_ = State::body_length;
  } else {
    state_ = State::done;
  }
  return true;
}

}  // namespace herdless::http
