// ChunkedDecoder on its own: where a body ends, split at every position, and its limits
// (data over the body limit: 413, trailers over the field limits: 431, long extensions: 400).
#include "herdless/http/chunked_decoder.h"

#include <gtest/gtest.h>

#include <string>

namespace herdless::http {
namespace {

using Status = ChunkedDecoder::Status;

ChunkedDecoder decoder(uint64_t max_body = 1 << 20, size_t max_trailer_bytes = 8192, size_t max_trailer_fields = 100) {
  ChunkedDecoder d;
  d.reset(max_body, max_trailer_bytes, max_trailer_fields);
  return d;
}

const std::string kBody = "3\r\nabc\r\n10;a=b;c\r\n0123456789abcdef\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";

TEST(HttpChunked, StopsAtTheEndOfTheBody) {
  auto d = decoder();
  const auto step = d.feed(kBody + "GET / HTTP/1.1\r\n");
  EXPECT_EQ(step.status, Status::done);
  EXPECT_EQ(step.consumed, kBody.size());
  EXPECT_EQ(d.body_bytes(), 19u);
}

TEST(HttpChunked, EverySplitGivesTheSameResult) {
  for (size_t at = 0; at <= kBody.size(); ++at) {
    auto d = decoder();
    const auto first = d.feed(std::string_view(kBody).substr(0, at));
    ASSERT_EQ(first.status, at == kBody.size() ? Status::done : Status::need_more) << at;
    ASSERT_EQ(first.consumed, at);
    if (at == kBody.size()) continue;
    const auto second = d.feed(std::string_view(kBody).substr(at));
    EXPECT_EQ(second.status, Status::done) << at;
    EXPECT_EQ(second.consumed, kBody.size() - at) << at;
  }
}

TEST(HttpChunked, LastChunkWithoutTrailers) {
  auto d = decoder();
  EXPECT_EQ(d.feed("0\r\n\r\n").status, Status::done);
  EXPECT_EQ(d.body_bytes(), 0u);
}

TEST(HttpChunked, Limits) {
  auto small = decoder(4);
  EXPECT_EQ(small.feed("4\r\nabcd\r\n0\r\n\r\n").status, Status::done);
  auto over = decoder(4);
  EXPECT_EQ(over.feed("2\r\nab\r\n3\r\n").status, Status::error);
  EXPECT_EQ(over.error_status(), 413);

  auto digits = decoder();
  EXPECT_EQ(digits.feed("00000000000000001\r\n").status, Status::error);  // 17 digits
  EXPECT_EQ(digits.error_status(), 400);

  auto fields = decoder(1 << 20, 8192, 2);
  EXPECT_EQ(fields.feed("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n").status, Status::error);
  EXPECT_EQ(fields.error_status(), 431);

  auto bytes = decoder(1 << 20, 16, 100);
  EXPECT_EQ(bytes.feed("0\r\nA: 0123456789abcdef\r\n").status, Status::error);
  EXPECT_EQ(bytes.error_status(), 431);

  auto extension = decoder();
  const std::string long_extension = "1;" + std::string(ChunkedDecoder::kMaxExtensionBytes + 1, 'x');
  EXPECT_EQ(extension.feed(long_extension).status, Status::error);
  EXPECT_EQ(extension.error_status(), 400);
}

TEST(HttpChunked, ErrorIsSticky) {
  auto d = decoder();
  EXPECT_EQ(d.feed("x").status, Status::error);
  EXPECT_EQ(d.feed("0\r\n\r\n").status, Status::error);
  EXPECT_EQ(d.error_status(), 400);
}

}  // namespace
}  // namespace herdless::http
