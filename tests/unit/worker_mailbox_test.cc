// WorkerMailbox on its own: the loop's side is played by the test (poll the eventfd, then
// run_posted), so order, wake-ups, many posting threads and the closed mailbox are checked
// exactly. Every wait is bounded.
#include "herdless/worker_mailbox.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace herdless {
namespace {

bool readable(int fd, int timeout_ms = 0) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

std::shared_ptr<WorkerMailbox> make_mailbox() {
  auto mailbox = WorkerMailbox::create();
  EXPECT_TRUE(mailbox.has_value());
  return mailbox ? *mailbox : nullptr;
}

TEST(WorkerMailbox, PostedTasksRunInOrderWhenTheLoopRunsThemAndTheWakeUpIsConsumed) {
  auto mailbox = make_mailbox();
  ASSERT_TRUE(mailbox);
  EXPECT_FALSE(readable(mailbox->fd())) << "nothing posted yet";
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(mailbox->post([&ran, i] { ran.push_back(i); }));
  EXPECT_TRUE(ran.empty()) << "post() runs nothing itself";
  EXPECT_TRUE(readable(mailbox->fd()));
  EXPECT_EQ(mailbox->run_posted(), 3u);
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
  EXPECT_FALSE(readable(mailbox->fd())) << "the wake-up was consumed";
  EXPECT_EQ(mailbox->run_posted(), 0u);
}

TEST(WorkerMailbox, ATaskPostedByATaskRunsInTheNextTurn) {
  auto mailbox = make_mailbox();
  ASSERT_TRUE(mailbox);
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    mailbox->post(again);
  };
  ASSERT_TRUE(mailbox->post(again));
  EXPECT_EQ(mailbox->run_posted(), 1u);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(readable(mailbox->fd())) << "the re-post woke the loop again";
  EXPECT_EQ(mailbox->run_posted(), 1u);
  EXPECT_EQ(runs, 2);
  mailbox->close();
}

TEST(WorkerMailbox, EveryTaskOfManyPostingThreadsRunsOnceInItsThreadsOrderOnTheLoopsThread) {
  auto mailbox = make_mailbox();
  ASSERT_TRUE(mailbox);
  constexpr int kThreads = 4;
  constexpr int kPosts = 2000;
  std::vector<std::vector<int>> seen(kThreads);  // touched on the loop's thread only
  std::atomic<int> wrong_thread{0};
  const auto loop_thread = std::this_thread::get_id();
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        mailbox->post([&, t, i] {
          if (std::this_thread::get_id() != loop_thread) wrong_thread++;
          seen[static_cast<size_t>(t)].push_back(i);
        });
      }
    });
  }
  size_t total = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (total < size_t{kThreads} * kPosts && std::chrono::steady_clock::now() < give_up) {
    if (readable(mailbox->fd(), 100)) total += mailbox->run_posted();
  }
  for (auto& p : posters) p.join();
  total += mailbox->run_posted();
  EXPECT_EQ(total, size_t{kThreads} * kPosts);
  EXPECT_EQ(wrong_thread.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    std::vector<int> expected(kPosts);
    for (int i = 0; i < kPosts; ++i) expected[static_cast<size_t>(i)] = i;
    EXPECT_EQ(seen[static_cast<size_t>(t)], expected) << "thread " << t;
  }
}

TEST(WorkerMailbox, AfterCloseAPostFailsAndWhatWaitedIsDroppedUnrun) {
  auto mailbox = make_mailbox();
  ASSERT_TRUE(mailbox);
  auto capture = std::make_shared<int>(7);
  bool ran = false;
  ASSERT_TRUE(mailbox->post([capture, &ran] { ran = true; }));
  EXPECT_EQ(capture.use_count(), 2);
  mailbox->close();
  EXPECT_EQ(capture.use_count(), 1) << "the queued task was destroyed by close()";
  EXPECT_FALSE(mailbox->post([&ran] { ran = true; }));
  EXPECT_EQ(mailbox->run_posted(), 0u);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace herdless
