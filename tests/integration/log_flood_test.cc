// Integration: floods of clients do not flood the log. A worker with 64 descriptors and 300
// clients holding connections runs out of descriptors for as long as they stay: the log says
// so in one line when it starts and one, with the count, when it stops (the retry every
// 100 ms used to write a line each time).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "testutil/client.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The N of "<what>: stopped; N times" in the log, or -1.
long stopped_count(const std::string& log, const std::string& what) {
  const std::string marker = what + ": stopped; ";
  const size_t at = log.find(marker);
  if (at == std::string::npos) return -1;
  return std::stol(log.substr(at + marker.size()));
}

TEST(LogFlood, OutOfDescriptorsIsOneLineWhenItStartsAndOneWithTheCountWhenItStops) {
  ServerProcess server({"serve", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--service", "echo",
                        "--admin", "127.0.0.1:0"},
                       testutil::SpawnOptions{64});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  std::vector<Fd> clients;
  for (int i = 0; i < 300; ++i) {
    auto fd = testutil::connect_to(server.listener(), 3000ms);
    ASSERT_TRUE(fd) << "client " << i << ": " << fd.error().message();  // queued by the kernel
    clients.push_back(std::move(*fd));
  }
  std::this_thread::sleep_for(1500ms);  // ~15 retries at 100 ms, each failing again
  const std::string what = "worker 0: accept failed, pausing accepts";
  const std::string during = server.log();
  EXPECT_EQ(count_of(during, what + ": Too many open files (repeats are counted; one line when it stops)"), 1u)
      << during;
  EXPECT_EQ(count_of(during, what), 1u) << "more than the one line while it lasts\n" << during;
  clients.clear();  // descriptors free up; what is queued is taken and closed
  std::string log;
  for (int i = 0; i < 100 && stopped_count(log, what) < 0; ++i) {
    std::this_thread::sleep_for(100ms);
    log = server.log();
  }
  EXPECT_EQ(count_of(log, what), 2u) << log;
  EXPECT_GE(stopped_count(log, what), 10) << "the repeats were not counted\n" << log;
  const auto stats = server.stats();
  EXPECT_EQ(stats["workers"][0]["accepted"].get<uint64_t>(), 300u) << "every queued connection was served";
}

}  // namespace
}  // namespace herdless
