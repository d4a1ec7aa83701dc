#include "client/event_recorder.h"

#include <gtest/gtest.h>

#include <mutex>

namespace berth::client {
namespace {

using namespace std::chrono_literals;

class FakeClock : public Clock {
 public:
  TimePoint now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return t_;
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    t_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint t_ = TimePoint(std::chrono::seconds(1700000000));
};

struct Write {
  std::string verb, ns, name;
  json body;
};

// Records creates and patches; `fail_patch_not_found` answers patches with 404, and
// `fail_creates` fails that many creates with 503 first.
class RecordingClient : public Client {
 public:
  std::vector<Write> writes() {
    std::lock_guard<std::mutex> l(mu_);
    return writes_;
  }
  bool fail_patch_not_found = false;
  int fail_creates = 0;

  Result<json> get(const Resource&, const std::string&, const std::string&) override {
    return notFound("get");
  }
  Result<json> list(const Resource&, const std::string&, const ListOptions&) override {
    return json{{"items", json::array()}};
  }
  Result<json> create(const Resource& r, const std::string& ns, const json& obj) override {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_EQ(r.resource, "events");
    writes_.push_back({"create", ns, obj["metadata"]["name"], obj});
    if (fail_creates > 0) {
      --fail_creates;
      return Status(Code::kUnavailable, "try later");
    }
    return obj;
  }
  Result<json> update(const Resource&, const std::string&, const std::string&, const json&,
                      const std::string&) override {
    return internalError("unexpected update");
  }
  Result<json> patch(const Resource&, const std::string& ns, const std::string& name, PatchType t,
                     const json& p) override {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_EQ(t, PatchType::kStrategicMerge);
    writes_.push_back({"patch", ns, name, p});
    if (fail_patch_not_found) return notFound("events \"" + name + "\" not found");
    return p;
  }
  Result<json> remove(const Resource&, const std::string&, const std::string&, const json&) override {
    return internalError("unexpected delete");
  }
  Result<json> removeCollection(const Resource&, const std::string&, const json&) override {
    return internalError("unexpected deletecollection");
  }
  Result<json> request(const std::string&, const std::string&, const std::string&,
                       const std::string&) override {
    return internalError("unexpected request");
  }
  Status watch(const Resource&, const std::string&, const WatchOptions&, const WatchHandler&,
               CancelToken*) override {
    return internalError("unexpected watch");
  }

 private:
  std::mutex mu_;
  std::vector<Write> writes_;
};

json pod(const std::string& name) {
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", {{"name", name}, {"namespace", "ns1"}, {"uid", "uid-" + name}}}};
}

class EventRecorderTest : public ::testing::Test {
 protected:
  EventRecorder::Options opts() {
    EventRecorder::Options o;
    o.clock = &clock_;
    o.retry_delay = 1ms;
    return o;
  }
  FakeClock clock_;
  RecordingClient client_;
};

TEST_F(EventRecorderTest, CreatesEventInObjectNamespaceWithReferenceAndSource) {
  EventRecorder rec(&client_, "default-scheduler", "host1", opts());
  rec.event(pod("web-1"), EventRecorder::Type::kNormal, "Scheduled",
            "Successfully assigned ns1/web-1 to n1");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "create");
  EXPECT_EQ(w[0].ns, "ns1");
  const json& ev = w[0].body;
  EXPECT_EQ(ev["metadata"]["namespace"], "ns1");
  EXPECT_EQ(ev["metadata"]["name"].get<std::string>().rfind("web-1.", 0), 0u);
  EXPECT_EQ(ev["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(ev["involvedObject"]["apiVersion"], "v1");
  EXPECT_EQ(ev["involvedObject"]["uid"], "uid-web-1");
  EXPECT_EQ(ev["involvedObject"]["namespace"], "ns1");
  EXPECT_EQ(ev["type"], "Normal");
  EXPECT_EQ(ev["reason"], "Scheduled");
  EXPECT_EQ(ev["count"], 1);
  EXPECT_EQ(ev["source"]["component"], "default-scheduler");
  EXPECT_EQ(ev["source"]["host"], "host1");
  EXPECT_EQ(ev["firstTimestamp"], ev["lastTimestamp"]);
  EXPECT_EQ(ev["firstTimestamp"], formatRfc3339(clock_.now()));
}

TEST_F(EventRecorderTest, ClusterScopedObjectEventsGoToDefaultNamespace) {
  EventRecorder rec(&client_, "node-controller", "", opts());
  json node = {{"kind", "Node"}, {"apiVersion", "v1"}, {"metadata", {{"name", "n1"}, {"uid", "u"}}}};
  rec.event(node, EventRecorder::Type::kNormal, "RegisteredNode", "Node n1 event: Registered");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].ns, "default");
  EXPECT_FALSE(w[0].body["involvedObject"].contains("namespace"));
  EXPECT_FALSE(w[0].body["source"].contains("host"));
}

TEST_F(EventRecorderTest, RepeatedEventPatchesCountAndLastTimestamp) {
  EventRecorder rec(&client_, "kubelet", "n1", opts());
  rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.flush();
  clock_.advance(10s);
  rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.flush();
  clock_.advance(10s);
  rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].verb, "create");
  EXPECT_EQ(w[1].verb, "patch");
  EXPECT_EQ(w[2].verb, "patch");
  EXPECT_EQ(w[1].name, w[0].name);
  EXPECT_EQ(w[2].name, w[0].name);
  EXPECT_EQ(w[1].body["count"], 2);
  EXPECT_EQ(w[2].body["count"], 3);
  EXPECT_EQ(w[2].body["lastTimestamp"], formatRfc3339(clock_.now()));
  EXPECT_FALSE(w[2].body.contains("firstTimestamp"));
}

TEST_F(EventRecorderTest, DifferentMessageOrTypeIsANewEvent) {
  EventRecorder rec(&client_, "c", "", opts());
  rec.event(pod("p"), EventRecorder::Type::kWarning, "R", "m1");
  clock_.advance(1ms);
  rec.event(pod("p"), EventRecorder::Type::kWarning, "R", "m2");
  clock_.advance(1ms);
  rec.event(pod("p"), EventRecorder::Type::kNormal, "R", "m1");
  clock_.advance(1ms);
  rec.event(pod("q"), EventRecorder::Type::kWarning, "R", "m1");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 4u);
  for (const auto& x : w) EXPECT_EQ(x.verb, "create");
}

TEST_F(EventRecorderTest, PatchOfDeletedEventCreatesItAgain) {
  EventRecorder rec(&client_, "c", "", opts());
  rec.event(pod("p"), EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  client_.fail_patch_not_found = true;
  rec.event(pod("p"), EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[1].verb, "patch");
  EXPECT_EQ(w[2].verb, "create");
  EXPECT_EQ(w[2].body["count"], 2);
}

TEST_F(EventRecorderTest, TransientCreateErrorsAreRetried) {
  client_.fail_creates = 2;
  EventRecorder rec(&client_, "c", "", opts());
  rec.event(pod("p"), EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 3u);
  // It was written in the end: the next identical event is a patch.
  rec.event(pod("p"), EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  EXPECT_EQ(client_.writes().back().verb, "patch");
}

TEST_F(EventRecorderTest, SpamFilterLimitsEventsPerObject) {
  EventRecorder rec(&client_, "kubelet", "n1", opts());
  // A crash loop: one event a second for 100 s writes the burst (25) and no more.
  for (int i = 0; i < 100; ++i) {
    rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
    clock_.advance(1s);
  }
  rec.flush();
  EXPECT_EQ(client_.writes().size(), 25u);
  // Another object has its own bucket.
  rec.event(pod("other"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.flush();
  EXPECT_EQ(client_.writes().size(), 26u);
  // A token comes back after 5 minutes.
  clock_.advance(300s);
  rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.event(pod("p"), EventRecorder::Type::kWarning, "BackOff", "Back-off restarting");
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 27u);
  EXPECT_EQ(w.back().verb, "patch");
  EXPECT_EQ(w.back().body["count"], 101);  // the count includes the occurrences not written
}

TEST_F(EventRecorderTest, ManyDistinctMessagesAreCombined) {
  EventRecorder rec(&client_, "c", "", opts());
  for (int i = 0; i < 12; ++i) {
    rec.event(pod("p"), EventRecorder::Type::kWarning, "Failed", "error " + std::to_string(i));
    clock_.advance(1s);
  }
  rec.flush();
  auto w = client_.writes();
  ASSERT_EQ(w.size(), 12u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(w[i].body["message"], "error " + std::to_string(i));
  EXPECT_EQ(w[9].verb, "create");
  EXPECT_EQ(w[9].body["message"], "(combined from similar events): error 9");
  EXPECT_EQ(w[10].verb, "patch");
  EXPECT_EQ(w[10].name, w[9].name);
  EXPECT_EQ(w[10].body["message"], "(combined from similar events): error 10");
  EXPECT_EQ(w[11].body["count"], 3);
  // After the window, messages count afresh.
  clock_.advance(601s);
  rec.event(pod("p"), EventRecorder::Type::kWarning, "Failed", "error 99");
  rec.flush();
  EXPECT_EQ(client_.writes().back().body["message"], "error 99");
}

TEST_F(EventRecorderTest, ObjectWithoutKindIsIgnored) {
  EventRecorder rec(&client_, "c", "", opts());
  rec.event(json{{"metadata", {{"name", "x"}}}}, EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  EXPECT_TRUE(client_.writes().empty());
}

TEST_F(EventRecorderTest, FullQueueDropsInsteadOfBlocking) {
  auto o = opts();
  o.queue_capacity = 2;
  o.spam_burst = 1000;
  EventRecorder rec(&client_, "c", "", o);
  // The thread may take some events meanwhile; with 500 queued at once most must be dropped.
  for (int i = 0; i < 500; ++i)
    rec.event(pod("p" + std::to_string(i)), EventRecorder::Type::kNormal, "R", "m");
  rec.flush();
  EXPECT_GT(rec.dropped(), 0u);
  EXPECT_EQ(client_.writes().size() + rec.dropped(), 500u);
}

TEST(LruCacheTest, EvictsLeastRecentlyUsed) {
  LruCache<int> c(2);
  c.put("a", 1);
  c.put("b", 2);
  ASSERT_NE(c.get("a"), nullptr);  // a is now the most recent
  c.put("c", 3);
  EXPECT_EQ(c.get("b"), nullptr);
  EXPECT_EQ(*c.get("a"), 1);
  EXPECT_EQ(*c.get("c"), 3);
  EXPECT_EQ(c.size(), 2u);
}

}  // namespace
}  // namespace berth::client
