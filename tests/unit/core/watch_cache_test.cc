#include "apiserver/core/watch_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>

namespace berth::apiserver {
namespace {

class RecordingSink : public WatchSink {
 public:
  bool onEvents(const std::vector<CacheEvent>& events) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : events)
      seen_.push_back(std::string(eventTypeName(e.type)) + " " + e.obj->obj["metadata"].value("name", "") +
                      "@" + std::to_string(e.revision));
    cv_.notify_all();
    return true;
  }
  std::vector<std::string> waitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return seen_.size() >= n; });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

// A sink that takes part in sharing: encode() names the events it selects, deliver() records
// what it was handed. Counts encode() calls across all sinks of the test.
class SharingSink : public WatchSink {
 public:
  SharingSink(std::string key, std::atomic<int>* encodes) : key_(std::move(key)), encodes_(encodes) {}
  bool onEvents(const std::vector<CacheEvent>& events) override { return deliver(encode(events)); }
  const std::string& shareKey() const override { return key_; }
  std::shared_ptr<const std::string> encode(const std::vector<CacheEvent>& events) const override {
    ++*encodes_;
    std::string out;
    for (const auto& e : events) out += e.obj->obj["metadata"].value("name", "") + ";";
    return std::make_shared<const std::string>(out);
  }
  bool deliver(const std::shared_ptr<const std::string>& bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    got_ += *bytes;
    buffers_.push_back(bytes.get());
    cv_.notify_all();
    return true;
  }
  std::string waitFor(size_t len) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return got_.size() >= len; });
    return got_;
  }
  std::vector<const std::string*> buffers() {
    std::lock_guard<std::mutex> lock(mu_);
    return buffers_;
  }

 private:
  std::string key_;
  std::atomic<int>* encodes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string got_;
  std::vector<const std::string*> buffers_;
};

class WatchCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth-wc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions o;
    o.path = (dir_ / "db").string();
    o.compact_interval_seconds = 0;
    store_ = std::move(storage::openSqliteStore(o)).value();
  }
  void TearDown() override {
    cache_.reset();
    store_->close();
    std::filesystem::remove_all(dir_);
  }
  int64_t put(const std::string& ns, const std::string& name) {
    std::string v = R"({"kind":"ConfigMap","metadata":{"name":")" + name + R"(","namespace":")" + ns + R"("}})";
    return *store_->create("/registry/core/configmaps/" + ns + "/" + name, v);
  }
  void startCache(size_t history = 100) {
    cache_ = std::make_unique<WatchCache>(store_.get(), history);
    cache_->addResource("/registry/core/configmaps/");
    ASSERT_TRUE(cache_->start().isOk());
  }
  ResourceCache* cms() { return cache_->resource("/registry/core/configmaps/"); }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<WatchCache> cache_;
};

TEST_F(WatchCacheTest, ListsWhatTheStoreHoldsAndFollowsWrites) {
  put("a", "one");
  startCache();
  put("a", "two");
  put("b", "three");
  ASSERT_TRUE(cache_->waitUntilFresh(std::chrono::seconds(5)).isOk());
  int64_t rev = 0;
  auto all = cms()->list("/registry/core/configmaps/", &rev);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(rev, store_->currentRevision());
  EXPECT_EQ(cms()->list("/registry/core/configmaps/a/", nullptr).size(), 2u);
  // resourceVersion comes from the revision, not the stored bytes.
  EXPECT_EQ(all[0]->obj["metadata"]["resourceVersion"], std::to_string(all[0]->mod_revision));
}

TEST_F(WatchCacheTest, WatchReplaysThenFollowsInOrder) {
  int64_t r1 = put("a", "one");
  startCache();
  int64_t r2 = put("a", "two");
  ASSERT_TRUE(cache_->waitForRevision(r2, std::chrono::seconds(5)));
  auto sink = std::make_shared<RecordingSink>();
  // From r1: the event at r2 is replayed from history, then live events follow.
  ASSERT_TRUE(cms()->addWatcher(r1, false, "/registry/core/configmaps/a/", sink).isOk());
  int64_t r3 = put("a", "three");
  put("b", "other-namespace");
  auto ev = sink->waitFor(2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0], "ADDED two@" + std::to_string(r2));
  EXPECT_EQ(ev[1], "ADDED three@" + std::to_string(r3));
}

TEST_F(WatchCacheTest, InitialStateReplayAndModifiedDeleted) {
  put("a", "one");
  startCache();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(cms()->addWatcher(0, true, "/registry/core/configmaps/", sink).isOk());
  auto kv = *store_->get("/registry/core/configmaps/a/one");
  int64_t r2 = *store_->update(kv.key, kv.value, kv.mod_revision);
  auto del = *store_->remove(kv.key, r2);
  auto ev = sink->waitFor(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].rfind("ADDED one@", 0), 0u);
  EXPECT_EQ(ev[1], "MODIFIED one@" + std::to_string(r2));
  EXPECT_EQ(ev[2], "DELETED one@" + std::to_string(del.mod_revision));
}

TEST_F(WatchCacheTest, WatchersWithOneShareKeyShareOneEncoding) {
  int64_t r0 = put("a", "zero");
  startCache();
  std::atomic<int> encodes{0};
  std::vector<std::shared_ptr<SharingSink>> same;
  for (int i = 0; i < 5; ++i) {
    same.push_back(std::make_shared<SharingSink>("k", &encodes));
    ASSERT_TRUE(cms()->addWatcher(r0, false, "/registry/core/configmaps/", same.back()).isOk());
  }
  auto other_ns = std::make_shared<SharingSink>("k", &encodes);  // same key, other prefix
  ASSERT_TRUE(cms()->addWatcher(r0, false, "/registry/core/configmaps/b/", other_ns).isOk());
  put("a", "one");
  for (auto& s : same) EXPECT_EQ(s->waitFor(4), "one;");
  put("b", "two");
  for (auto& s : same) EXPECT_EQ(s->waitFor(8), "one;two;");
  EXPECT_EQ(other_ns->waitFor(4), "two;");
  // Each batch was encoded once per (prefix, key) and fan-out wave, and the watchers of one
  // wave got the same buffer (waves are dealt by registration: same[0] and same[4] share
  // one). Unshared, the two writes would take 5 + 6 encodings; shared, at most 4 + 5.
  static_assert(kFanOutWaves == 4);
  EXPECT_LE(encodes.load(), 9);
  EXPECT_EQ(same[4]->buffers(), same[0]->buffers());
}

TEST_F(WatchCacheTest, WatcherAddedWhileEventsAreInFlightSeesEachEventOnce) {
  startCache();
  std::atomic<int> encodes{0};
  std::vector<std::shared_ptr<SharingSink>> sinks;
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    // Registered from revision 0 while earlier writes may still await their fan-out.
    auto s = std::make_shared<SharingSink>("k", &encodes);
    ASSERT_TRUE(cms()->addWatcher(0, true, "/registry/core/configmaps/", s).isOk());
    sinks.push_back(s);
    std::string name = (i < 10 ? "n0" : "n") + std::to_string(i);  // key order = write order
    put("a", name);
    expected += name + ";";
  }
  for (size_t i = 0; i < sinks.size(); ++i) {
    // Sink i saw names n0..n(i-1) by replay or fan-out, and everything after: all of them once.
    EXPECT_EQ(sinks[i]->waitFor(expected.size()), expected) << i;
  }
}

TEST(FanOutInterval, GrowsWithTheWatchersReachedUpToTheMaximum) {
  using std::chrono::milliseconds;
  EXPECT_EQ(WatchCache::fanOutInterval(0, milliseconds(10), milliseconds(25)), milliseconds(10));
  EXPECT_EQ(WatchCache::fanOutInterval(1, milliseconds(10), milliseconds(25)), milliseconds(10));
  EXPECT_EQ(WatchCache::fanOutInterval(WatchCache::kWatchersForMaxInterval / 2, milliseconds(10),
                                       milliseconds(30)),
            milliseconds(20));
  EXPECT_EQ(WatchCache::fanOutInterval(WatchCache::kWatchersForMaxInterval, milliseconds(10),
                                       milliseconds(25)),
            milliseconds(25));
  EXPECT_EQ(WatchCache::fanOutInterval(50000, milliseconds(10), milliseconds(25)), milliseconds(25));
  // A maximum below the minimum means a fixed interval.
  EXPECT_EQ(WatchCache::fanOutInterval(50000, milliseconds(10), milliseconds(5)), milliseconds(10));
}

TEST(DeliverNow, PacesOnlyBurstsAndWideFanOuts) {
  using std::chrono::milliseconds;
  WatchCache::LastFanOut last;
  last.interval = milliseconds(10);
  last.elapsed = milliseconds(2);
  // A quiet stream: one event after a one-event fan-out to a few watchers goes out at once.
  last.events = 1;
  last.watchers = 6;
  EXPECT_TRUE(WatchCache::deliverNow(1, last));
  // A burst is paced: many queued events, or a large previous batch.
  EXPECT_FALSE(WatchCache::deliverNow(WatchCache::kSmallBatch + 1, last));
  last.events = WatchCache::kSmallBatch + 1;
  EXPECT_FALSE(WatchCache::deliverNow(1, last));
  // Many watchers (each write costs per watcher) keep the pacing even for one event.
  last.events = 1;
  last.watchers = WatchCache::kWatchersForPacing;
  EXPECT_FALSE(WatchCache::deliverNow(1, last));
  // Once the interval has passed, anything goes out at once.
  last.elapsed = milliseconds(10);
  EXPECT_TRUE(WatchCache::deliverNow(1000, last));
}

TEST(WithResourceVersion, SplicesIntoTheTopLevelMetadataOnly) {
  // Keys and strings before metadata that look like it must not be taken for it.
  std::string stored =
      R"({"a":{"metadata":{"x":1}},"b":"\"metadata\":{","kind":"Pod","metadata":{"name":"p"},"spec":{}})";
  std::string out = withResourceVersion(stored, 42);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(j["metadata"]["name"], "p");
  EXPECT_FALSE(j["a"]["metadata"].contains("resourceVersion"));
  j["metadata"].erase("resourceVersion");
  EXPECT_EQ(j, nlohmann::json::parse(stored));

  EXPECT_EQ(nlohmann::json::parse(withResourceVersion(R"({"metadata":{}})", 7)),
            nlohmann::json::parse(R"({"metadata":{"resourceVersion":"7"}})"));
  EXPECT_EQ(withResourceVersion(R"({"kind":"X"})", 7), "");
  EXPECT_EQ(withResourceVersion(R"({"metadata":{"resourceVersion":"3"}})", 7), "");
  EXPECT_EQ(withResourceVersion(R"({"metadata":"no"})", 7), "");
}

TEST(CachedObject, HoldsManagedFieldsOnceAndServesTheWholeText) {
  const std::string mf = R"([{"manager":"kubectl","operation":"Update","fieldsV1":{"f:data":{}}}])";
  auto text = [&](const std::string& name) {
    return R"({"kind":"ConfigMap","metadata":{"name":")" + name + R"(","managedFields":)" + mf +
           R"(,"uid":"u"},"data":{"a":"b"}})";
  };
  CachedObject a("/registry/core/configmaps/a/x", 5, text("x"));
  CachedObject b("/registry/core/configmaps/a/y", 6, text("y"));
  EXPECT_EQ(a.raw(), text("x"));
  EXPECT_EQ(a.rawSize(), text("x").size());
  std::string out = "[";
  b.appendRaw(&out);
  EXPECT_EQ(out, "[" + text("y"));
  ASSERT_NE(a.sharedManagedFields(), nullptr);
  EXPECT_EQ(a.sharedManagedFields(), b.sharedManagedFields());  // one string for both
  EXPECT_EQ(*a.sharedManagedFields(), mf);
  EXPECT_EQ(a.rawWithoutManagedFields(),
            R"({"kind":"ConfigMap","metadata":{"name":"x","managedFields":[],"uid":"u"},"data":{"a":"b"}})");
  // The kept tree has everything; a shared one leaves managedFields out and is the same tree
  // on the next read.
  auto shared = b.sharedTree();
  EXPECT_TRUE((*shared)["metadata"]["managedFields"].empty());
  EXPECT_EQ((*shared)["data"]["a"], "b");
  EXPECT_EQ(b.sharedTree(), shared);
  EXPECT_EQ(b.obj.parsed(), nullptr);
  EXPECT_EQ(a.obj["metadata"]["managedFields"], nlohmann::json::parse(mf));
  EXPECT_EQ(a.sharedTree().get(), &a.obj.get());
  // Objects without managedFields (or with an empty list) are held as they are.
  CachedObject c("/registry/core/configmaps/a/z", 7, R"({"metadata":{"name":"z","managedFields":[]}})");
  EXPECT_EQ(c.sharedManagedFields(), nullptr);
  EXPECT_EQ(c.raw(), R"({"metadata":{"name":"z","managedFields":[]}})");
}

TEST(CachedObject, ReleasedManagedFieldsAreInternedAgain) {
  const std::string t = R"({"metadata":{"managedFields":[{"manager":"m"}]}})";
  auto first = std::make_unique<CachedObject>("/k/1", 1, t);
  first.reset();
  CachedObject again("/k/2", 2, t);
  ASSERT_NE(again.sharedManagedFields(), nullptr);
  EXPECT_EQ(again.raw(), t);
}

TEST(DecodeStored, ReplacesAStoredResourceVersionAndParsesOnDemand) {
  storage::KeyValue kv;
  kv.key = "/registry/core/configmaps/a/x";
  kv.mod_revision = 9;
  kv.value = R"({"metadata":{"name":"x","resourceVersion":"3"}})";
  auto o = decodeStored(kv);
  ASSERT_TRUE(o.isOk());
  EXPECT_EQ((*o)->obj["metadata"]["resourceVersion"], "9");
  EXPECT_EQ(nlohmann::json::parse((*o)->raw())["metadata"]["resourceVersion"], "9");
  kv.value = "not json";
  EXPECT_FALSE(decodeStored(kv).isOk());
}

TEST_F(WatchCacheTest, TooOldRevisionIsExpired) {
  startCache(/*history=*/2);
  int64_t first = put("a", "e0");
  for (int i = 1; i < 6; ++i) put("a", "e" + std::to_string(i));
  ASSERT_TRUE(cache_->waitUntilFresh(std::chrono::seconds(5)).isOk());
  auto r = cms()->addWatcher(first, false, "/registry/core/configmaps/", std::make_shared<RecordingSink>());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kExpired);
}

TEST(ResourceCacheHistory, IsBoundedByTheBytesOnlyItKeepsAlive) {
  // 1,000-byte objects; a 3,500-byte budget keeps three previous states.
  ResourceCache rc("/registry/core/configmaps/", /*history_limit=*/1000, /*history_bytes=*/3500);
  auto obj = [](int rev) {
    std::string raw = R"({"metadata":{"name":"x"},"data":")" + std::string(1000 - 36, 'd') + "\"}";
    return std::make_shared<const CachedObject>("/registry/core/configmaps/a/x", rev, raw);
  };
  ObjPtr prev = obj(1);
  rc.apply({{EventType::kAdded, prev, nullptr, 1}}, 1);
  // Ten creates of other objects keep nothing alive beyond the cache itself: all are kept.
  for (int rev = 2; rev <= 11; ++rev) {
    auto o = std::make_shared<const CachedObject>("/registry/core/configmaps/a/y" + std::to_string(rev), rev,
                                               R"({"metadata":{"name":"y"}})");
    rc.apply({{EventType::kAdded, o, nullptr, rev}}, rev);
  }
  EXPECT_TRUE(rc.addWatcher(0, false, "/registry/core/configmaps/", std::make_shared<RecordingSink>()).isOk());
  for (int rev = 12; rev <= 16; ++rev) {
    ObjPtr next = obj(rev);
    rc.apply({{EventType::kModified, next, prev, rev}}, rev);
    prev = next;
  }
  auto old = rc.addWatcher(12, false, "/registry/core/configmaps/", std::make_shared<RecordingSink>());
  ASSERT_FALSE(old.isOk());
  EXPECT_EQ(old.status().code(), Code::kExpired);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(rc.addWatcher(13, false, "/registry/core/configmaps/", sink).isOk());
  EXPECT_EQ(sink->waitFor(3), (std::vector<std::string>{"MODIFIED x@14", "MODIFIED x@15", "MODIFIED x@16"}));
}

// A sharing sink standing for a connection whose io loop has not yet taken the bytes: it
// keeps each batch it is handed until release().
class HoldingSink : public WatchSink {
 public:
  bool onEvents(const std::vector<CacheEvent>&) override { return true; }
  const std::string& shareKey() const override { return key_; }
  std::shared_ptr<const std::string> encode(const std::vector<CacheEvent>& events) const override {
    return std::make_shared<const std::string>(std::to_string(events.size()));
  }
  bool deliver(const std::shared_ptr<const std::string>& bytes) override {
    held_.push_back(bytes);
    return true;
  }
  void release() { held_.clear(); }
  size_t holding() const { return held_.size(); }

 private:
  std::string key_ = "json";
  std::vector<std::shared_ptr<const std::string>> held_;
};

TEST(ResourceCacheFanOut, CountsTheWatchersStillHoldingTheLastBatch) {
  ResourceCache rc("/registry/core/configmaps/", 1000);
  std::vector<std::shared_ptr<HoldingSink>> sinks;
  for (int i = 0; i < 4; ++i) {
    sinks.push_back(std::make_shared<HoldingSink>());
    ASSERT_TRUE(rc.addWatcher(0, false, "/registry/core/configmaps/", sinks.back()).isOk());
  }
  EXPECT_EQ(rc.behindOnLastFanOut(), 0u);
  auto obj = std::make_shared<const CachedObject>("/registry/core/configmaps/a/x", 1, R"({"metadata":{"name":"x"}})");
  std::vector<CacheEvent> batch{{EventType::kAdded, obj, nullptr, 1}};
  rc.apply(batch, 1);
  ASSERT_EQ(rc.fanOut(batch), 4u);
  EXPECT_EQ(rc.behindOnLastFanOut(), 4u);
  sinks[0]->release();
  sinks[2]->release();
  EXPECT_EQ(rc.behindOnLastFanOut(), 2u);
  for (auto& s : sinks) s->release();
  EXPECT_EQ(rc.behindOnLastFanOut(), 0u);
}

TEST(ResourceCacheFanOut, AWaveReachesOnlyItsWatchers) {
  ResourceCache rc("/registry/core/configmaps/", 1000);
  std::vector<std::shared_ptr<HoldingSink>> sinks;
  for (size_t i = 0; i < 3 * kFanOutWaves; ++i) {
    sinks.push_back(std::make_shared<HoldingSink>());
    ASSERT_TRUE(rc.addWatcher(0, false, "/registry/core/configmaps/", sinks.back()).isOk());
  }
  auto obj = std::make_shared<const CachedObject>("/registry/core/configmaps/a/x", 1,
                                                  R"({"metadata":{"name":"x"}})");
  std::vector<CacheEvent> batch{{EventType::kAdded, obj, nullptr, 1}};
  rc.apply(batch, 1);
  ASSERT_EQ(rc.fanOut(batch, 1), 3u);
  EXPECT_EQ(rc.behindOnLastFanOut(1), 3u);
  EXPECT_EQ(rc.behindOnLastFanOut(0), 0u);
  size_t holding = 0;
  for (auto& s : sinks) holding += s->holding();
  EXPECT_EQ(holding, 3u);
  ASSERT_EQ(rc.fanOut(batch, 0), 3u);
  EXPECT_EQ(rc.behindOnLastFanOut(0), 3u);
  EXPECT_EQ(rc.behindOnLastFanOut(1), 3u);
}

TEST(WaveSlot, WavesTakeEvenlySpacedSlotsOfTheInterval) {
  using std::chrono::milliseconds;
  static_assert(kFanOutWaves == 4);
  const auto origin = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  const milliseconds interval(20);
  // Wave w's slots start at origin + 5w ms + k * 20 ms.
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(3), 0, interval), origin);
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(3), 1, interval),
            origin - milliseconds(15));
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(7), 1, interval),
            origin + milliseconds(5));
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(44), 2, interval),
            origin + milliseconds(30));
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(55), 3, interval),
            origin + milliseconds(55));
  EXPECT_EQ(WatchCache::waveSlot(origin, origin + milliseconds(74), 3, interval),
            origin + milliseconds(55));
}

TEST_F(WatchCacheTest, UnderABurstEveryWaveGetsEveryEventOnceInOrder) {
  int64_t r0 = put("a", "zero");
  startCache();
  std::atomic<int> encodes{0};
  std::vector<std::shared_ptr<SharingSink>> sinks;
  // Enough watchers that a burst is paced (each wave once per interval, in its own slot).
  for (size_t i = 0; i < WatchCache::kWatchersForPacing + kFanOutWaves; ++i) {
    sinks.push_back(std::make_shared<SharingSink>("k", &encodes));
    ASSERT_TRUE(cms()->addWatcher(r0, false, "/registry/core/configmaps/", sinks.back()).isOk());
  }
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string name = "e" + std::to_string(1000 + i);
    put("a", name);
    expected += name + ";";
  }
  for (size_t i = 0; i < sinks.size(); ++i)
    EXPECT_EQ(sinks[i]->waitFor(expected.size()), expected) << i;
}

TEST(NextBackOff, DoublesWhileAQuarterIsBehindAndHalvesOnceNoneIs) {
  using std::chrono::milliseconds;
  const milliseconds paced(25), cap(200);
  const size_t n = 1000;
  // Behind: at least twice the paced interval, then doubling up to the cap.
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(0), n / 4, n, paced, cap), milliseconds(50));
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(50), n, n, paced, cap), milliseconds(100));
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(150), n, n, paced, cap), milliseconds(200));
  // A few stragglers keep the interval; none behind halves it, down to no back-off.
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(100), n / 10, n, paced, cap), milliseconds(100));
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(100), 0, n, paced, cap), milliseconds(50));
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(40), 0, n, paced, cap), milliseconds(0));
  // Small fan-outs never back off.
  EXPECT_EQ(WatchCache::nextBackOff(milliseconds(0), 10, 10, paced, cap), milliseconds(0));
}

}  // namespace
}  // namespace berth::apiserver
