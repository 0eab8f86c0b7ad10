// RepeatedWarning: one line when a condition starts, a count while it repeats, one line with
// the count and span once it has been quiet; a new run after that; a destroyed one ends its run.
#include "herdless/repeated_warning.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

namespace herdless {
namespace {

constexpr int64_t kMs = 1'000'000;

// Captures what spdlog's default logger says during a test, a line per message.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(text_);
    auto logger = std::make_shared<spdlog::logger>("captured", sink);
    logger->set_pattern("[%l] %v");
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }
  size_t lines() const {
    const std::string t = text();
    return static_cast<size_t>(std::count(t.begin(), t.end(), '\n'));
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(RepeatedWarning, OneLineAtTheStartOneAtTheEndWithTheCount) {
  CapturedLog log;
  RepeatedWarning warning("worker 3: accept failed, pausing accepts", spdlog::level::warn,
                          std::chrono::milliseconds(1000));
  EXPECT_FALSE(warning.active());
  for (int i = 0; i < 50; ++i) warning.occurred(10'000 * kMs + i * 100 * kMs, "Too many open files");
  EXPECT_EQ(log.text(),
            "[warning] worker 3: accept failed, pausing accepts: Too many open files (repeats are counted; one line "
            "when it stops)\n");
  EXPECT_TRUE(warning.active());
  EXPECT_EQ(warning.count(), 50u);
  const int64_t last = 10'000 * kMs + 49 * 100 * kMs;
  warning.poll(last + 999 * kMs);  // not quiet long enough yet
  EXPECT_EQ(log.lines(), 1u);
  warning.poll(last + 1000 * kMs);
  EXPECT_EQ(log.lines(), 2u);
  EXPECT_NE(log.text().find("[warning] worker 3: accept failed, pausing accepts: stopped; 50 times in 4.9 s\n"),
            std::string::npos)
      << log.text();
  EXPECT_FALSE(warning.active());
  warning.poll(last + 5000 * kMs);  // nothing more to say
  EXPECT_EQ(log.lines(), 2u);
}

TEST(RepeatedWarning, AnOccurrenceAfterTheQuietPeriodStartsANewRun) {
  CapturedLog log;
  RepeatedWarning warning("http: closing slow heads", spdlog::level::info, std::chrono::milliseconds(500));
  warning.occurred(0);
  warning.poll(600 * kMs);
  warning.occurred(700 * kMs, {}, 3);
  EXPECT_EQ(warning.runs(), 2u);
  EXPECT_EQ(warning.count(), 3u);
  const std::string text = log.text();
  EXPECT_NE(text.find("[info] http: closing slow heads (repeats are counted; one line when it stops)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[info] http: closing slow heads: stopped; 1 time in 0.0 s\n"), std::string::npos) << text;
  EXPECT_EQ(log.lines(), 3u) << text;
}

TEST(RepeatedWarning, OccurrencesWithinTheQuietPeriodKeepOneRun) {
  CapturedLog log;
  RepeatedWarning warning("x", spdlog::level::warn, std::chrono::milliseconds(1000));
  for (int64_t t = 0; t < 20'000; t += 900) {  // every 0.9 s for 20 s, polled every 20 ms
    warning.occurred(t * kMs);
    for (int64_t p = t; p < t + 900; p += 20) warning.poll(p * kMs);
  }
  EXPECT_EQ(warning.runs(), 1u);
  EXPECT_EQ(log.lines(), 1u) << log.text();
}

TEST(RepeatedWarning, DestroyedDuringARunSaysItsEnd) {
  CapturedLog log;
  {
    RepeatedWarning warning("y");
    warning.occurred(0, {}, 7);
  }
  EXPECT_NE(log.text().find("y: stopped; 7 times"), std::string::npos) << log.text();
  EXPECT_EQ(log.lines(), 2u);
}

TEST(RepeatedWarning, NoOccurrenceNoLine) {
  CapturedLog log;
  {
    RepeatedWarning warning("z");
    warning.occurred(0, {}, 0);
    warning.poll(1'000'000 * kMs);
    warning.end();
  }
  EXPECT_EQ(log.text(), "");
}

}  // namespace
}  // namespace herdless
