// Integration: every accept strategy serves every connection, and the wake-up counters add
// up: with one SO_REUSEPORT socket per worker no wake-up is wasted.
#include <gtest/gtest.h>

#include "herdless/load/load_generator.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;

struct Totals {
  uint64_t accepted = 0, wakeups = 0, empty = 0;
};

Totals totals(const nlohmann::json& stats) {
  Totals t;
  for (const auto& w : stats["workers"]) {
    t.accepted += w["accepted"].get<uint64_t>();
    t.wakeups += w["wakeups"].get<uint64_t>();
    t.empty += w["empty_accepts"].get<uint64_t>();
  }
  return t;
}

class AcceptStrategyTest : public ::testing::TestWithParam<const char*> {};

TEST_P(AcceptStrategyTest, ServesEveryConnectionAndCountsItsWakeups) {
  const std::string strategy = GetParam();
  testutil::ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "4", "--admin", "127.0.0.1:0",
                                  "--accept", strategy, "--accept-batch", "1", "--message", "worker={worker}\\n"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  EXPECT_EQ(server.stats()["accept"], strategy);
  load::LoadOptions options;
  options.target = server.listener();
  options.concurrency = 16;
  options.duration = 500ms;
  options.timeout = 2000ms;
  auto result = load::run_load(options);
  ASSERT_TRUE(result);
  EXPECT_GT(result->completed, 200u);
  EXPECT_EQ(result->failed, 0u);
  const Totals t = totals(server.stats());
  EXPECT_EQ(t.accepted, result->completed);
  // One accept per wake-up: every wake-up either accepted one connection or found none.
  EXPECT_EQ(t.wakeups, t.accepted + t.empty) << strategy;
  if (strategy == "reuseport") {
    EXPECT_EQ(t.empty, 0u) << "a per-worker socket only wakes its own worker";
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, AcceptStrategyTest,
                         ::testing::Values("reuseport", "shared", "shared-exclusive", "accept-mutex"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace herdless
