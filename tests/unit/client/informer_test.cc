#include "client/informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

namespace berth::client {
namespace {

using namespace std::chrono_literals;

json pod(const std::string& name, const std::string& rv, const std::string& owner_uid = "") {
  json p = {{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}};
  if (!owner_uid.empty()) p["metadata"]["ownerReferences"] = {{{"uid", owner_uid}, {"name", "o"}}};
  return p;
}

// Lists return scripted pages; each watch call plays the next scripted batch of events and
// returns, or blocks until cancelled when the script is exhausted.
class ScriptedClient : public Client {
 public:
  std::deque<json> lists;
  std::deque<std::vector<json>> watches;
  std::vector<std::string> list_calls, watch_rvs;
  std::mutex mu;
  std::condition_variable cv;
  bool idle = false;  // a watch is blocked: the script is played out

  bool waitIdle() {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, 5s, [&] { return idle; });
  }

  Result<json> list(const Resource&, const std::string& ns, const ListOptions&) override {
    std::lock_guard<std::mutex> l(mu);
    list_calls.push_back(ns);
    json page = lists.front();
    if (lists.size() > 1) lists.pop_front();
    return page;
  }
  Status watch(const Resource&, const std::string&, const WatchOptions& o, const WatchHandler& h,
               CancelToken* cancel) override {
    std::vector<json> batch;
    {
      std::lock_guard<std::mutex> l(mu);
      watch_rvs.push_back(o.resource_version);
      if (!watches.empty()) {
        batch = watches.front();
        watches.pop_front();
      } else {
        idle = true;
        cv.notify_all();
      }
    }
    if (batch.empty()) {
      cancel->waitFor(1h);
      return Status::ok();
    }
    for (auto& ev : batch)
      if (!h(ev)) break;
    return Status::ok();
  }
  Result<json> get(const Resource&, const std::string&, const std::string&) override { return notFound(""); }
  Result<json> create(const Resource&, const std::string&, const json&) override { return notFound(""); }
  Result<json> update(const Resource&, const std::string&, const std::string&, const json&,
                      const std::string&) override { return notFound(""); }
  Result<json> patch(const Resource&, const std::string&, const std::string&, PatchType,
                     const json&) override { return notFound(""); }
  Result<json> remove(const Resource&, const std::string&, const std::string&, const json&) override {
    return notFound("");
  }
  Result<json> removeCollection(const Resource&, const std::string&, const json&) override {
    return notFound("");
  }
  Result<json> request(const std::string&, const std::string&, const std::string&,
                       const std::string&) override { return notFound(""); }
};

const Resource kPods{"", "v1", "pods", "Pod", true, {}};

struct Log {
  std::mutex mu;
  std::vector<std::string> events;
  EventHandlers handlers() {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { push("add " + objectKey(*o)); };
    h.on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
      push("update " + objectKey(*b) + " " + (*a)["metadata"].value("resourceVersion", "") + "->" +
           (*b)["metadata"].value("resourceVersion", ""));
    };
    h.on_delete = [this](const ObjectPtr& o) { push("delete " + objectKey(*o)); };
    return h;
  }
  void push(std::string s) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(std::move(s));
  }
};

TEST(Informer, ListWatchEventsAndRelistOn410) {
  ScriptedClient c;
  c.lists.push_back({{"metadata", {{"resourceVersion", "10"}}}, {"items", {pod("a", "1"), pod("b", "2")}}});
  c.lists.push_back({{"metadata", {{"resourceVersion", "20"}}},
                     {"items", {pod("a", "11"), pod("c", "12", "u1"), pod("d", "15")}}});
  c.watches.push_back({
      {{"type", "MODIFIED"}, {"object", pod("a", "11")}},
      {{"type", "ADDED"}, {"object", pod("c", "12", "u1")}},
      {{"type", "DELETED"}, {"object", pod("b", "13")}},
      {{"type", "BOOKMARK"}, {"object", {{"metadata", {{"resourceVersion", "14"}}}}}},
      {{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}}}},
  });
  Log log;
  Informer inf(&c, kPods);
  inf.addIndexer(kIndexOwnerUid, ownerUidIndex);
  inf.addEventHandlers(log.handlers());
  EXPECT_FALSE(inf.hasSynced());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  ASSERT_TRUE(c.waitIdle());
  inf.stop();
  EXPECT_EQ(log.events, (std::vector<std::string>{"add ns/a", "add ns/b", "update ns/a 1->11",
                                                  "add ns/c", "delete ns/b", "add ns/d"}));
  EXPECT_EQ(c.list_calls.size(), 2u);  // the 410 made it re-list
  EXPECT_EQ(c.watch_rvs, (std::vector<std::string>{"10", "20"}));
  EXPECT_EQ(inf.list().size(), 3u);
  ASSERT_NE(inf.get("ns/c"), nullptr);
  EXPECT_EQ((*inf.get("ns/c"))["kind"], "Pod");  // list items get kind/apiVersion back
  ASSERT_EQ(inf.byIndex(kIndexOwnerUid, "u1").size(), 1u);
  EXPECT_EQ(inf.byIndex(kIndexNamespace, "ns").size(), 3u);
  EXPECT_TRUE(inf.byIndex(kIndexOwnerUid, "nope").empty());
}

TEST(Informer, StreamEndRewatchesFromLastVersionWithoutRelist) {
  ScriptedClient c;
  c.lists.push_back({{"metadata", {{"resourceVersion", "10"}}}, {"items", json::array()}});
  c.watches.push_back({{{"type", "ADDED"}, {"object", pod("x", "11")}}});
  c.watches.push_back({{{"type", "BOOKMARK"}, {"object", {{"metadata", {{"resourceVersion", "30"}}}}}}});
  Informer inf(&c, kPods);
  inf.start();
  ASSERT_TRUE(c.waitIdle());
  inf.stop();
  EXPECT_EQ(c.list_calls.size(), 1u);
  EXPECT_EQ(c.watch_rvs, (std::vector<std::string>{"10", "11", "30"}));
  EXPECT_NE(inf.get("ns/x"), nullptr);
}

TEST(Informer, IndexFollowsUpdates) {
  ScriptedClient c;
  c.lists.push_back({{"metadata", {{"resourceVersion", "1"}}}, {"items", {pod("a", "1", "u1")}}});
  c.watches.push_back({{{"type", "MODIFIED"}, {"object", pod("a", "2", "u2")}}});
  Informer inf(&c, kPods);
  inf.addIndexer(kIndexOwnerUid, ownerUidIndex);
  inf.start();
  ASSERT_TRUE(c.waitIdle());
  EXPECT_TRUE(inf.byIndex(kIndexOwnerUid, "u1").empty());
  EXPECT_EQ(inf.byIndex(kIndexOwnerUid, "u2").size(), 1u);
  inf.stop();
}

}  // namespace
}  // namespace berth::client
