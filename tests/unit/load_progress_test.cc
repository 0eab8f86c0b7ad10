// ProgressLine: rewrites one line in place on stderr, throttled to ~4 refreshes/s, and
// erases it on clear(); disabled (stderr not a terminal), it writes nothing.
#include "herdless/load/progress_line.h"

#include <gtest/gtest.h>

#include <string>

namespace herdless::load {
namespace {

TEST(LoadProgress, EnabledLineRewritesInPlaceAndClears) {
  testing::internal::CaptureStderr();
  {
    ProgressLine line(true);
    line.show("one");
    line.show("two");  // within 250 ms of the first: skipped
    line.show("three", true);
    line.clear();
    line.clear();  // nothing shown any more: nothing written
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "\rone\033[K\rthree\033[K\r\033[K");
}

TEST(LoadProgress, DisabledLineWritesNothing) {
  testing::internal::CaptureStderr();
  {
    ProgressLine line(false);
    line.show("one", true);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(LoadProgress, DescribesARun) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(41279123), "41,279,123");
  EXPECT_EQ(describe(LoadProgress{2.0, 90, 80000, 3, 64}), "2.0 s  80,000 done (40,000/s)  3 failed  64 in flight");
}

}  // namespace
}  // namespace herdless::load
