// The behaviour every Store backend must show, as a value-parameterised GoogleTest suite.
//
// A backend's test file includes this header once and instantiates the suite with factories:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//       ::testing::Values(StoreFactory{"sqlite", [](const std::string& dir) { ... }}),
//       [](const auto& info) { return info.param.name; });
//
// The factory opens a fresh store whose data lives under `dir` (an empty temporary directory);
// it should turn background compaction off so that tests control compaction.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/storage/store.h"

namespace berth::storage::testing {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& dir)> open;
};

inline std::string makeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "berth-store-XXXXXX").string();
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

// Collects what a watch delivers; waits with a deadline (tests never sleep for a fixed time).
class EventCollector {
 public:
  WatchCallback callback() {
    return [this](const std::vector<Event>& events, const Status& status) {
      std::lock_guard<std::mutex> lk(mu_);
      EXPECT_FALSE(ended_) << "callback after the final status";
      for (const Event& e : events) events_.push_back(e);
      if (!status.isOk()) {
        ended_ = true;
        final_ = status;
      }
      ++calls_;
      cv_.notify_all();
    };
  }
  // True when at least n events arrived before the deadline.
  bool waitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return events_.size() >= n || ended_; }) &&
           events_.size() >= n;
  }
  bool waitEnded(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return ended_; });
  }
  std::vector<Event> events() {
    std::lock_guard<std::mutex> lk(mu_);
    return events_;
  }
  Status finalStatus() {
    std::lock_guard<std::mutex> lk(mu_);
    return final_;
  }
  int calls() {
    std::lock_guard<std::mutex> lk(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  bool ended_ = false;
  Status final_;
  int calls_ = 0;
};

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    dir_ = makeTempDir();
    store_ = GetParam().open(dir_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) store_->close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int64_t mustCreate(const std::string& k, const std::string& v) {
    auto r = store_->create(k, v);
    EXPECT_TRUE(r.isOk()) << k << ": " << r.status().toString();
    return r.isOk() ? *r : 0;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, CreateGetExists) {
  int64_t before = store_->currentRevision();
  auto r = store_->create("/registry/pods/default/a", "v1");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, before + 1);
  EXPECT_EQ(store_->currentRevision(), *r);

  auto g = store_->get("/registry/pods/default/a");
  ASSERT_TRUE(g.isOk()) << g.status().toString();
  EXPECT_EQ(g->key, "/registry/pods/default/a");
  EXPECT_EQ(g->value, "v1");
  EXPECT_EQ(g->create_revision, *r);
  EXPECT_EQ(g->mod_revision, *r);

  auto again = store_->create("/registry/pods/default/a", "v2");
  ASSERT_FALSE(again.isOk());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(store_->get("/registry/pods/default/a")->value, "v1");
  EXPECT_EQ(store_->get("/registry/pods/default/missing").status().code(), Code::kNotFound);

  // Binary values round-trip unchanged.
  std::string bin("\0\x01\xff{}\n", 6);
  mustCreate("/bin", bin);
  EXPECT_EQ(store_->get("/bin")->value, bin);
}

TEST_P(StoreContractTest, UpdateCompareAndSwap) {
  int64_t r1 = mustCreate("/k", "a");
  auto stale = store_->update("/k", "b", r1 - 1);
  ASSERT_FALSE(stale.isOk());
  EXPECT_EQ(stale.status().code(), Code::kConflict);

  auto r2 = store_->update("/k", "b", r1);
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_EQ(*r2, r1 + 1);
  auto g = store_->get("/k");
  EXPECT_EQ(g->value, "b");
  EXPECT_EQ(g->create_revision, r1);
  EXPECT_EQ(g->mod_revision, *r2);

  // The old revision no longer matches.
  EXPECT_EQ(store_->update("/k", "c", r1).status().code(), Code::kConflict);
  EXPECT_EQ(store_->update("/absent", "c", r1).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->get("/k")->value, "b");
}

TEST_P(StoreContractTest, DeleteCompareAndSwap) {
  int64_t r1 = mustCreate("/k", "a");
  EXPECT_EQ(store_->remove("/k", r1 + 5).status().code(), Code::kConflict);
  auto d = store_->remove("/k", r1);
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(d->key, "/k");
  EXPECT_EQ(d->value, "a");
  EXPECT_EQ(d->mod_revision, r1 + 1);
  EXPECT_EQ(d->create_revision, r1);
  EXPECT_EQ(store_->get("/k").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->remove("/k", 0).status().code(), Code::kNotFound);

  // expected_revision 0 deletes unconditionally.
  mustCreate("/u", "x");
  ASSERT_TRUE(store_->update("/u", "y", store_->get("/u")->mod_revision).isOk());
  auto du = store_->remove("/u", 0);
  ASSERT_TRUE(du.isOk());
  EXPECT_EQ(du->value, "y");
}

TEST_P(StoreContractTest, RecreateAfterDelete) {
  int64_t r1 = mustCreate("/k", "a");
  ASSERT_TRUE(store_->remove("/k", r1).isOk());
  auto r3 = store_->create("/k", "b");
  ASSERT_TRUE(r3.isOk()) << r3.status().toString();
  EXPECT_EQ(*r3, r1 + 2);
  auto g = store_->get("/k");
  EXPECT_EQ(g->value, "b");
  EXPECT_EQ(g->create_revision, *r3);
  EXPECT_EQ(g->mod_revision, *r3);
}

TEST_P(StoreContractTest, ListPrefixLimitStartAfter) {
  for (const char* k : {"/a/3", "/a/1", "/a/5", "/a/2", "/a/4", "/b/1", "/a", "/ab/1"}) {
    mustCreate(k, std::string("v") + k);
  }
  int64_t r = mustCreate("/a/6", "gone");
  ASSERT_TRUE(store_->remove("/a/6", r).isOk());

  auto all = store_->list("/a/", "", 0);
  ASSERT_TRUE(all.isOk()) << all.status().toString();
  std::vector<std::string> keys;
  for (const auto& kv : all->kvs) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"/a/1", "/a/2", "/a/3", "/a/4", "/a/5"}));
  EXPECT_FALSE(all->more);
  EXPECT_EQ(all->revision, store_->currentRevision());
  EXPECT_EQ(all->kvs[0].value, "v/a/1");

  // Pages of two via start_after, as continue tokens do.
  std::vector<std::string> paged;
  std::string after;
  int pages = 0;
  for (;;) {
    auto page = store_->list("/a/", after, 2);
    ASSERT_TRUE(page.isOk());
    ++pages;
    for (const auto& kv : page->kvs) paged.push_back(kv.key);
    if (!page->more) break;
    ASSERT_EQ(page->kvs.size(), 2u);
    after = page->kvs.back().key;
  }
  EXPECT_EQ(paged, keys);
  EXPECT_EQ(pages, 3);

  auto exact = store_->list("/a/", "", 5);
  EXPECT_EQ(exact->kvs.size(), 5u);
  EXPECT_FALSE(exact->more);

  auto everything = store_->list("", "", 0);
  EXPECT_EQ(everything->kvs.size(), 8u);
  auto tail = store_->list("", "/a/5", 0);
  ASSERT_EQ(tail->kvs.size(), 2u);
  EXPECT_EQ(tail->kvs[0].key, "/ab/1");
  EXPECT_EQ(tail->kvs[1].key, "/b/1");
}

TEST_P(StoreContractTest, ListAndGetAtRevision) {
  int64_t r1 = mustCreate("/p/a", "a1");
  auto r2 = store_->update("/p/a", "a2", r1);
  ASSERT_TRUE(r2.isOk());
  int64_t r3 = mustCreate("/p/b", "b1");
  ASSERT_TRUE(store_->remove("/p/a", *r2).isOk());

  auto at1 = store_->list("/p/", "", 0, r1);
  ASSERT_TRUE(at1.isOk()) << at1.status().toString();
  ASSERT_EQ(at1->kvs.size(), 1u);
  EXPECT_EQ(at1->kvs[0].value, "a1");
  EXPECT_EQ(at1->revision, r1);

  auto at3 = store_->list("/p/", "", 0, r3);
  ASSERT_EQ(at3->kvs.size(), 2u);
  EXPECT_EQ(at3->kvs[0].value, "a2");
  EXPECT_EQ(at3->kvs[0].mod_revision, *r2);

  auto now = store_->list("/p/", "", 0);
  ASSERT_EQ(now->kvs.size(), 1u);
  EXPECT_EQ(now->kvs[0].key, "/p/b");

  EXPECT_EQ(store_->get("/p/a", r1)->value, "a1");
  EXPECT_EQ(store_->get("/p/a", *r2)->value, "a2");
  EXPECT_EQ(store_->get("/p/a").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->get("/p/b", r1).status().code(), Code::kNotFound);
  EXPECT_FALSE(store_->get("/p/b", store_->currentRevision() + 10).isOk());
}

TEST_P(StoreContractTest, RevisionsIncreaseByOnePerWrite) {
  int64_t r = store_->currentRevision();
  int64_t a = mustCreate("/r/a", "1");
  EXPECT_EQ(a, ++r);
  EXPECT_FALSE(store_->create("/r/a", "x").isOk());       // failed writes take no revision
  EXPECT_FALSE(store_->update("/r/a", "x", a + 7).isOk());
  auto u = store_->update("/r/a", "2", a);
  EXPECT_EQ(*u, ++r);
  EXPECT_EQ(mustCreate("/r/b", "1"), ++r);
  EXPECT_EQ(store_->remove("/r/a", *u)->mod_revision, ++r);
  EXPECT_EQ(store_->currentRevision(), r);
}

TEST_P(StoreContractTest, WatchReplaysAfterRevisionInOrderWithPrev) {
  int64_t a1 = mustCreate("/w/a", "a1");
  int64_t from = store_->currentRevision();
  auto a2 = store_->update("/w/a", "a2", a1);
  int64_t b1 = mustCreate("/w/b", "b1");
  auto del = store_->remove("/w/a", *a2);
  ASSERT_TRUE(a2.isOk() && del.isOk());

  EventCollector c;
  auto w = store_->watch("/w/", from, c.callback());
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  ASSERT_TRUE(c.waitFor(3));
  int64_t a3 = mustCreate("/w/a", "a3");  // live, after the replay
  ASSERT_TRUE(c.waitFor(4));
  (*w)->cancel();
  auto ev = c.events();
  ASSERT_EQ(ev.size(), 4u);

  EXPECT_EQ(ev[0].type, Event::Type::kPut);
  EXPECT_EQ(ev[0].kv.mod_revision, *a2);
  EXPECT_EQ(ev[0].kv.value, "a2");
  EXPECT_FALSE(ev[0].created());
  ASSERT_TRUE(ev[0].prev.has_value());
  EXPECT_EQ(ev[0].prev->value, "a1");
  EXPECT_EQ(ev[0].prev->mod_revision, a1);

  EXPECT_EQ(ev[1].kv.key, "/w/b");
  EXPECT_TRUE(ev[1].created());
  EXPECT_FALSE(ev[1].prev.has_value());
  EXPECT_EQ(ev[1].kv.mod_revision, b1);

  EXPECT_EQ(ev[2].type, Event::Type::kDelete);
  EXPECT_EQ(ev[2].kv.key, "/w/a");
  EXPECT_EQ(ev[2].kv.mod_revision, del->mod_revision);
  EXPECT_EQ(ev[2].kv.value, "a2");
  ASSERT_TRUE(ev[2].prev.has_value());
  EXPECT_EQ(ev[2].prev->value, "a2");

  EXPECT_TRUE(ev[3].created());
  EXPECT_EQ(ev[3].kv.mod_revision, a3);
  EXPECT_EQ(ev[3].kv.create_revision, a3);
  EXPECT_FALSE(ev[3].prev.has_value());
  for (size_t i = 1; i < ev.size(); ++i) EXPECT_EQ(ev[i].kv.mod_revision, ev[i - 1].kv.mod_revision + 1);
}

TEST_P(StoreContractTest, WatchFiltersByPrefix) {
  EventCollector c;
  auto w = store_->watch("/x/", store_->currentRevision(), c.callback());
  ASSERT_TRUE(w.isOk());
  mustCreate("/y/1", "no");
  mustCreate("/x/1", "yes");
  mustCreate("/xx/1", "no");
  int64_t last = mustCreate("/x/2", "yes");
  ASSERT_TRUE(c.waitFor(2));
  // A sentinel write proves nothing else was queued before it.
  mustCreate("/x/3", "sentinel");
  ASSERT_TRUE(c.waitFor(3));
  auto ev = c.events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kv.key, "/x/1");
  EXPECT_EQ(ev[1].kv.key, "/x/2");
  EXPECT_EQ(ev[1].kv.mod_revision, last);
  EXPECT_EQ(ev[2].kv.key, "/x/3");
}

TEST_P(StoreContractTest, ConcurrentWritersGetDistinctRevisions) {
  constexpr int kThreads = 8, kPerThread = 200;
  int64_t start = store_->currentRevision();
  std::vector<std::vector<int64_t>> revs(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->create("/c/" + std::to_string(t) + "/" + std::to_string(i), "v");
        if (r.isOk()) revs[t].push_back(*r);
        else ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (const auto& v : revs) {
    for (size_t i = 1; i < v.size(); ++i) EXPECT_GT(v[i], v[i - 1]);  // per-writer order
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), start + 1);
  EXPECT_EQ(*all.rbegin(), start + kThreads * kPerThread);
  EXPECT_EQ(store_->currentRevision(), start + kThreads * kPerThread);
  auto l = store_->list("/c/", "", 0);
  ASSERT_TRUE(l.isOk());
  EXPECT_EQ(l->kvs.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_P(StoreContractTest, ConcurrentCasOnOneKeyHasOneWinnerPerRevision) {
  int64_t r = mustCreate("/cas", "0");
  constexpr int kThreads = 8;
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      if (store_->update("/cas", "x", r).isOk()) ++wins;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(store_->currentRevision(), r + 1);
}

TEST_P(StoreContractTest, CompactionExpiresHistory) {
  int64_t r1 = mustCreate("/h/a", "1");
  auto r2 = store_->update("/h/a", "2", r1);
  int64_t rb = mustCreate("/h/b", "b");
  ASSERT_TRUE(store_->remove("/h/b", rb).isOk());
  auto r3 = store_->update("/h/a", "3", *r2);
  int64_t target = *r3;
  auto r4 = store_->update("/h/a", "4", *r3);
  ASSERT_TRUE(r4.isOk());

  ASSERT_TRUE(store_->compact(target).isOk());
  EXPECT_EQ(store_->compactedRevision(), target);
  EXPECT_EQ(store_->get("/h/a", r1).status().code(), Code::kExpired);
  EXPECT_EQ(store_->list("/h/", "", 0, *r2).status().code(), Code::kExpired);
  // The compacted revision itself is still readable, and so is everything after it.
  EXPECT_EQ(store_->get("/h/a", target)->value, "3");
  EXPECT_EQ(store_->get("/h/a")->value, "4");
  auto l = store_->list("/h/", "", 0, target);
  ASSERT_TRUE(l.isOk());
  ASSERT_EQ(l->kvs.size(), 1u);
  EXPECT_EQ(l->kvs[0].value, "3");
  EXPECT_EQ(store_->get("/h/b").status().code(), Code::kNotFound);

  EventCollector old;
  auto w = store_->watch("/h/", r1, old.callback());
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE(old.waitEnded());
  EXPECT_EQ(old.finalStatus().code(), Code::kExpired);
  EXPECT_TRUE(old.events().empty());

  // Watching from the compacted revision still works, with the prev value of the next event.
  EventCollector ok;
  auto w2 = store_->watch("/h/", target, ok.callback());
  ASSERT_TRUE(w2.isOk());
  ASSERT_TRUE(ok.waitFor(1));
  auto ev = ok.events();
  EXPECT_EQ(ev[0].kv.mod_revision, *r4);
  ASSERT_TRUE(ev[0].prev.has_value());
  EXPECT_EQ(ev[0].prev->value, "3");

  // Compacting to an older revision is a no-op; the live key survives compacting everything.
  EXPECT_TRUE(store_->compact(r1).isOk());
  EXPECT_EQ(store_->compactedRevision(), target);
  ASSERT_TRUE(store_->compact(store_->currentRevision()).isOk());
  EXPECT_EQ(store_->get("/h/a")->value, "4");
  EXPECT_EQ(store_->list("/h/", "", 0)->kvs.size(), 1u);
  EXPECT_FALSE(store_->compact(store_->currentRevision() + 100).isOk());
}

TEST_P(StoreContractTest, CancelStopsDeliveryEvenWhileCallbackRuns) {
  std::mutex mu;
  std::condition_variable cv;
  bool in_callback = false, release = false;
  std::atomic<bool> running{false};
  std::atomic<int> calls{0};
  auto w = store_->watch("/cancel/", store_->currentRevision(),
                         [&](const std::vector<Event>&, const Status&) {
                           running = true;
                           ++calls;
                           std::unique_lock<std::mutex> lk(mu);
                           in_callback = true;
                           cv.notify_all();
                           cv.wait_for(lk, std::chrono::seconds(10), [&] { return release; });
                           running = false;
                         });
  ASSERT_TRUE(w.isOk());
  mustCreate("/cancel/1", "v");
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return in_callback; }));
  }
  // cancel() must wait for the running callback to return.
  std::atomic<bool> cancelled{false};
  std::atomic<bool> ran_after_cancel{false};
  std::atomic<int> seen{-1};
  std::thread canceller([&] {
    (*w)->cancel();
    if (running.load()) ran_after_cancel = true;
    seen = calls.load();
    cancelled = true;
  });
  mustCreate("/cancel/2", "v");  // queued for the watcher while its callback runs
  {
    // Give the canceller time to block inside cancel() (a bounded test-side wait).
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(50), [] { return false; });
    EXPECT_FALSE(cancelled.load()) << "cancel() returned while the callback was running";
    release = true;
    cv.notify_all();
  }
  canceller.join();
  EXPECT_FALSE(ran_after_cancel.load());
  EXPECT_EQ(seen.load(), 1) << "the event queued before cancel() was delivered after it";
  mustCreate("/cancel/3", "v");
  // Prove delivery continued for others after the cancel, then check this one got nothing.
  EventCollector other;
  auto w2 = store_->watch("/cancel/", store_->currentRevision() - 1, other.callback());
  ASSERT_TRUE(other.waitFor(1));
  EXPECT_EQ(calls.load(), seen.load());
}

TEST_P(StoreContractTest, CancelFromInsideCallback) {
  std::unique_ptr<Watch> self;
  std::mutex mu;
  std::atomic<int> calls{0};
  auto w = store_->watch("/self/", store_->currentRevision(),
                         [&](const std::vector<Event>&, const Status&) {
                           ++calls;
                           std::lock_guard<std::mutex> lk(mu);
                           if (self) self->cancel();  // must not deadlock
                         });
  ASSERT_TRUE(w.isOk());
  {
    std::lock_guard<std::mutex> lk(mu);
    self = std::move(*w);
  }
  mustCreate("/self/1", "v");
  EventCollector after;
  auto w2 = store_->watch("/self/", store_->currentRevision(), after.callback());
  mustCreate("/self/2", "v");
  ASSERT_TRUE(after.waitFor(1));
  EXPECT_EQ(calls.load(), 1);
  std::lock_guard<std::mutex> lk(mu);
  self.reset();
}

TEST_P(StoreContractTest, CloseEndsWatchesAndRejectsCalls) {
  EventCollector c;
  auto w = store_->watch("/", store_->currentRevision(), c.callback());
  ASSERT_TRUE(w.isOk());
  store_->close();
  ASSERT_TRUE(c.waitEnded());
  EXPECT_FALSE(c.finalStatus().isOk());
  EXPECT_EQ(store_->create("/late", "v").status().code(), Code::kUnavailable);
  EXPECT_FALSE(store_->get("/late").isOk());
  (*w)->cancel();  // after close: harmless
}

}  // namespace berth::storage::testing
