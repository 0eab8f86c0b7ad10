// ChunkedDecoder: a byte-driven state machine; data runs are skipped in one step.
#include "herdless/http/chunked_decoder.h"

#include <algorithm>

#include "http/char_class.h"

namespace herdless::http {

using detail::is;

void ChunkedDecoder::reset(uint64_t max_body, size_t max_trailer_bytes, size_t max_trailer_fields) {
  *this = ChunkedDecoder();
  max_body_ = max_body;
  max_trailer_bytes_ = max_trailer_bytes;
  max_trailer_fields_ = max_trailer_fields;
}

bool ChunkedDecoder::count_trailer_bytes(size_t count) {
  trailer_bytes_ += count;
  return trailer_bytes_ <= max_trailer_bytes_;
}

ChunkedDecoder::Step ChunkedDecoder::fail(int status, size_t consumed) {
  state_ = State::failed;
  error_status_ = status;
  return {Status::error, consumed};
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    switch (state_) {
      case State::size:
        if (is(c, detail::kHex)) {
          if (++size_digits_ > kMaxSizeDigits) return fail(400, i);
          chunk_left_ = chunk_left_ * 16 + detail::hex_value(c);
          // body_bytes_ <= max_body_ always holds, so this cannot wrap.
          if (chunk_left_ > max_body_ - body_bytes_) return fail(413, i);
          ++i;
          break;
        }
        if (size_digits_ == 0) return fail(400, i);
        if (c == ' ' || c == '\t') state_ = State::size_ws;
        else if (c == ';') state_ = State::extension;
        else if (c == '\r') state_ = State::size_lf;
        else return fail(400, i);
        ++i;
        break;
      case State::size_ws:  // BWS before an extension
        if (c == ';') state_ = State::extension;
        else if (c == '\r') state_ = State::size_lf;
        else if (c != ' ' && c != '\t') return fail(400, i);
        ++i;
        break;
      case State::extension: {
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ); checked only for
        // characters allowed in a field value: it is discarded like the data it annotates.
        // A run stops one byte past the budget, so the error is at the same byte however
        // the input is split.
        const size_t stop = std::min(n, i + (kMaxExtensionBytes - extension_bytes_) + 1);
        const size_t start = i;
        while (i < stop && is(p[i], detail::kValue)) ++i;
        extension_bytes_ += i - start;
        if (extension_bytes_ > kMaxExtensionBytes) return fail(400, i);
        if (i == n) break;
        if (p[i] != '\r') return fail(400, i);
        state_ = State::size_lf;
        ++i;
        break;
      }
      case State::size_lf:
        if (c != '\n') return fail(400, i);
        ++i;
        state_ = chunk_left_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data: {
        const uint64_t take = std::min<uint64_t>(chunk_left_, n - i);
        i += static_cast<size_t>(take);
        chunk_left_ -= take;
        body_bytes_ += take;
        if (chunk_left_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c != '\r') return fail(400, i);
        state_ = State::data_lf;
        ++i;
        break;
      case State::data_lf:
        if (c != '\n') return fail(400, i);
        state_ = State::size;
        size_digits_ = 0;
        ++i;
        break;
      case State::trailer_start:
        if (!count_trailer_bytes(1)) return fail(431, i + 1);
        if (c == '\r') {
          state_ = State::final_lf;
        } else if (is(c, detail::kTchar)) {
          if (++trailer_fields_ > max_trailer_fields_) return fail(431, i);
          state_ = State::trailer_name;
        } else {
          return fail(400, i);  // obs-fold, leading whitespace, bare LF, garbage
        }
        ++i;
        break;
      case State::trailer_name:
      case State::trailer_value: {
        const size_t stop = std::min(n, i + (max_trailer_bytes_ - trailer_bytes_) + 1);
        const size_t start = i;
        const auto cls = state_ == State::trailer_name ? detail::kTchar : detail::kValue;
        while (i < stop && is(p[i], cls)) ++i;
        if (!count_trailer_bytes(i - start)) return fail(431, i);
        if (i == n) break;
        if (state_ == State::trailer_name && p[i] == ':') state_ = State::trailer_value;
        else if (state_ == State::trailer_value && p[i] == '\r') state_ = State::trailer_lf;
        else return fail(400, i);
        if (!count_trailer_bytes(1)) return fail(431, i + 1);
        ++i;
        break;
      }
      case State::trailer_lf:
        if (c != '\n') return fail(400, i);
        if (!count_trailer_bytes(1)) return fail(431, i + 1);
        state_ = State::trailer_start;
        ++i;
        break;
      case State::final_lf:
        if (c != '\n') return fail(400, i);
        state_ = State::done;
        return {Status::done, i + 1};
      case State::done:
        return {Status::done, i};
      case State::failed:
        return {Status::error, i};
    }
  }
  if (state_ == State::done) return {Status::done, i};
  if (state_ == State::failed) return {Status::error, i};
  return {Status::need_more, i};
}

}  // namespace herdless::http
