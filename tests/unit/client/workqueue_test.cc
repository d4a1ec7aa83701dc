#include "client/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace berth::client {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, CoalescesAddsOfOneKey) {
  WorkQueue q;
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.len(), 2u);
  std::string k;
  ASSERT_TRUE(q.get(&k));
  EXPECT_EQ(k, "a");
  ASSERT_TRUE(q.get(&k));
  EXPECT_EQ(k, "b");
}

TEST(WorkQueue, KeyAddedWhileProcessingIsRequeuedOnDone) {
  WorkQueue q;
  q.add("a");
  std::string k;
  ASSERT_TRUE(q.get(&k));
  q.add("a");              // while a worker holds it
  EXPECT_EQ(q.len(), 0u);  // not handed to another worker
  q.done("a");
  EXPECT_EQ(q.len(), 1u);
  ASSERT_TRUE(q.get(&k));
  EXPECT_EQ(k, "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, NeverWorksOneKeyConcurrently) {
  WorkQueue q;
  std::map<std::string, std::atomic<int>> active;
  for (const char* k : {"a", "b", "c"}) active[k] = 0;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i)
    workers.emplace_back([&] {
      std::string key;
      while (q.get(&key)) {
        if (active[key].fetch_add(1) != 0) overlap = true;
        std::this_thread::yield();
        active[key].fetch_sub(1);
        ++processed;
        q.done(key);
      }
    });
  for (int i = 0; i < 3000; ++i) q.add(std::string(1, static_cast<char>('a' + i % 3)));
  // Drain: the queue is empty once every add has been handed out and finished.
  while (q.len() > 0) std::this_thread::yield();
  q.shutDown();
  for (auto& w : workers) w.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GT(processed.load(), 0);
}

TEST(WorkQueue, ShutDownUnblocksGet) {
  WorkQueue q;
  std::thread t([&] {
    std::string k;
    EXPECT_FALSE(q.get(&k));
  });
  q.shutDown();
  t.join();
  EXPECT_TRUE(q.shuttingDown());
}

TEST(RateLimiter, ExponentialBackoffPerItemWithCap) {
  RateLimiter::Options o;
  o.base_delay = 5ms;
  o.max_delay = 100ms;
  o.qps = 0;
  RateLimiter rl(o);
  EXPECT_EQ(rl.when("a"), 5ms);
  EXPECT_EQ(rl.when("a"), 10ms);
  EXPECT_EQ(rl.when("a"), 20ms);
  EXPECT_EQ(rl.when("a"), 40ms);
  EXPECT_EQ(rl.when("a"), 80ms);
  EXPECT_EQ(rl.when("a"), 100ms);
  EXPECT_EQ(rl.when("b"), 5ms);  // per item
  EXPECT_EQ(rl.numRequeues("a"), 6);
  rl.forget("a");
  EXPECT_EQ(rl.numRequeues("a"), 0);
  EXPECT_EQ(rl.when("a"), 5ms);
}

TEST(RateLimiter, TokenBucketOnFakeClock) {
  auto now = std::chrono::steady_clock::time_point{};
  RateLimiter::Options o;
  o.base_delay = 1ms;
  o.qps = 10;
  o.burst = 2;
  o.now = [&] { return now; };
  RateLimiter rl(o);
  EXPECT_EQ(rl.when("a"), 1ms);    // burst token
  EXPECT_EQ(rl.when("b"), 1ms);    // burst token
  EXPECT_EQ(rl.when("c"), 100ms);  // bucket empty: one token per 100 ms
  EXPECT_EQ(rl.when("d"), 200ms);
  now += 1s;  // refills to the burst
  EXPECT_EQ(rl.when("e"), 1ms);
}

TEST(WorkQueue, RateLimitedAddArrivesAfterBackoff) {
  WorkQueue::Options o;
  o.limiter.base_delay = 20ms;
  o.limiter.qps = 0;
  WorkQueue q(o);
  auto start = std::chrono::steady_clock::now();
  q.addRateLimited("a");  // 20 ms
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.waiting(), 1u);
  std::string k;
  ASSERT_TRUE(q.get(&k));
  auto first = std::chrono::steady_clock::now() - start;
  EXPECT_GE(first, 20ms);
  q.done(k);
  start = std::chrono::steady_clock::now();
  q.addRateLimited("a");  // 40 ms
  ASSERT_TRUE(q.get(&k));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
  q.done(k);
}

TEST(WorkQueue, EarlierDelayedAddWins) {
  WorkQueue q;
  q.addAfter("a", 10s);
  q.addAfter("a", 10ms);
  std::string k;
  ASSERT_TRUE(q.get(&k));  // would hang for 10 s if the later deadline were kept
  EXPECT_EQ(k, "a");
}

TEST(WorkQueue, RetryCapForgetsTheKey) {
  WorkQueue::Options o;
  o.limiter.base_delay = 1ms;
  o.limiter.qps = 0;
  o.max_retries = 3;
  WorkQueue q(o);
  std::string k;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(q.retry("a"));
    ASSERT_TRUE(q.get(&k));
    q.done(k);
  }
  EXPECT_EQ(q.numRequeues("a"), 3);
  EXPECT_FALSE(q.retry("a"));
  EXPECT_EQ(q.numRequeues("a"), 0);
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, ShutDownDropsDelayedKeys) {
  auto q = std::make_unique<WorkQueue>();
  q->addAfter("a", 50ms);
  q->shutDown();
  EXPECT_EQ(q->waiting(), 0u);
  q.reset();  // destruction with a cancelled timer must not touch freed memory
}

}  // namespace
}  // namespace berth::client
