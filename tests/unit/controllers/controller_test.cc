#include "controllers/controller.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace berth::controllers {
namespace {

using namespace std::chrono_literals;

// Counts reconciles per key and lets a test wait for a count.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> calls;
  void hit(const std::string& k) {
    std::lock_guard<std::mutex> l(mu);
    ++calls[k];
    cv.notify_all();
  }
  bool waitFor(const std::string& k, int n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, 5s, [&] { return calls[k] >= n; });
  }
};

Controller::Options opts(int max_retries = 15) {
  Controller::Options o;
  o.name = "test";
  o.workers = 2;
  o.queue.limiter.base_delay = 1ms;
  o.queue.limiter.qps = 0;
  o.queue.max_retries = max_retries;
  return o;
}

TEST(Controller, ExceptionsAreCaughtAndRetriedUpToTheCap) {
  Recorder rec;
  Controller c(opts(3), [&](const std::string& k) -> ReconcileResult {
    rec.hit(k);
    throw std::runtime_error("boom");
  });
  c.start({});
  c.enqueue("a");
  ASSERT_TRUE(rec.waitFor("a", 4));  // first try + 3 retries
  c.stop();
  EXPECT_EQ(rec.calls["a"], 4);
  EXPECT_EQ(c.queue().numRequeues("a"), 0);  // forgotten after the cap
}

TEST(Controller, RequeueAfterAndSuccess) {
  Recorder rec;
  Controller c(opts(), [&](const std::string& k) {
    rec.hit(k);
    std::lock_guard<std::mutex> l(rec.mu);
    return rec.calls[k] < 3 ? ReconcileResult::after(5ms) : ReconcileResult::ok();
  });
  c.start({});
  c.enqueue("k");
  ASSERT_TRUE(rec.waitFor("k", 3));
  c.stop();
  EXPECT_EQ(rec.calls["k"], 3);
}

TEST(Controller, WaitsForInformerSyncBeforeWorking) {
  // An informer that never syncs (its client is never asked: not started) holds the workers.
  Recorder rec;
  client::Resource r{"", "v1", "pods", "Pod", true, {}};
  client::Informer inf(nullptr, r);
  Controller c(opts(), [&](const std::string& k) {
    rec.hit(k);
    return ReconcileResult::ok();
  });
  c.start({&inf});
  c.enqueue("x");
  EXPECT_EQ(c.queue().len(), 1u);  // still queued: nobody took it
  c.stop();
  EXPECT_EQ(rec.calls.count("x"), 0u);
}

}  // namespace
}  // namespace berth::controllers
