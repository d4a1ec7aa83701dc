// FakeClient: an in-memory Client for controller tests. list() returns the "listed" objects
// (what informers see); get() also finds "hidden" objects (present on the server but not yet in
// a cache). Every write is recorded as an action and not applied. watch() blocks until
// cancelled. Thread-safety: a mutex around everything.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client/client.h"
#include "common/time_util.h"

namespace berth::testing {

using client::json;

struct Action {
  std::string verb;      // delete, patch, update, create, deletecollection
  std::string resource;  // resource id, e.g. "v1/pods"
  std::string key;       // ns/name
  json body;             // patch body, DeleteOptions, object
};

// A clock tests set by hand (now_), starting at `start` (RFC 3339). Not thread-safe: tests
// change it between reconciles.
class SettableClock : public Clock {
 public:
  explicit SettableClock(const char* start = "2026-01-01T00:10:00Z") {
    EXPECT_TRUE(parseRfc3339(start, &now_)) << start;
  }
  TimePoint now() const override { return now_; }
  TimePoint now_;
};

class FakeClient : public client::Client {
 public:
  void put(const client::Resource& r, const json& obj, bool listed = true) {
    std::lock_guard<std::mutex> l(mu_);
    std::string ns = obj["metadata"].value("namespace", "");
    std::string key = r.id() + "|" + (ns.empty() ? "" : ns + "/") + obj["metadata"].value("name", "");
    objects_[key] = {obj, listed};
  }
  std::vector<Action> actions() {
    std::lock_guard<std::mutex> l(mu_);
    return actions_;
  }
  void clearActions() {
    std::lock_guard<std::mutex> l(mu_);
    actions_.clear();
  }
  std::map<std::string, json> list_overrides;  // resource id -> list body

  Result<json> get(const client::Resource& r, const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    actions_.push_back({"get", r.id(), ns.empty() ? name : ns + "/" + name, nullptr});
    auto it = objects_.find(r.id() + "|" + (ns.empty() ? "" : ns + "/") + name);
    if (it == objects_.end()) return notFound(r.resource + " \"" + name + "\" not found");
    return it->second.first;
  }
  Result<json> list(const client::Resource& r, const std::string& ns, const client::ListOptions&) override {
    std::lock_guard<std::mutex> l(mu_);
    json items = json::array();
    std::string prefix = r.id() + "|" + (ns.empty() ? "" : ns + "/");
    for (const auto& [k, v] : objects_)
      if (v.second && k.compare(0, prefix.size(), prefix) == 0) items.push_back(v.first);
    return json{{"metadata", {{"resourceVersion", "10"}}}, {"items", items}};
  }
  Result<json> create(const client::Resource& r, const std::string& ns, const json& obj) override {
    return record("create", r, ns, obj["metadata"].value("name", ""), obj);
  }
  Result<json> update(const client::Resource& r, const std::string& ns, const std::string& name,
                      const json& obj, const std::string& sub) override {
    return record(sub.empty() ? "update" : "update/" + sub, r, ns, name, obj);
  }
  Result<json> patch(const client::Resource& r, const std::string& ns, const std::string& name,
                     client::PatchType, const json& p) override {
    return record("patch", r, ns, name, p);
  }
  Result<json> remove(const client::Resource& r, const std::string& ns, const std::string& name,
                      const json& options) override {
    return record("delete", r, ns, name, options);
  }
  Result<json> removeCollection(const client::Resource& r, const std::string& ns,
                                const json& options) override {
    return record("deletecollection", r, ns, "", options);
  }
  Result<json> request(const std::string& method, const std::string& path, const std::string&,
                       const std::string&) override {
    return notFound(method + " " + path);
  }
  Status watch(const client::Resource&, const std::string&, const client::WatchOptions&,
               const client::WatchHandler&, client::CancelToken* cancel) override {
    cancel->waitFor(std::chrono::hours(1));
    return Status::ok();
  }

 private:
  Result<json> record(const std::string& verb, const client::Resource& r, const std::string& ns,
                      const std::string& name, const json& body) {
    std::lock_guard<std::mutex> l(mu_);
    actions_.push_back({verb, r.id(), ns.empty() ? name : ns + "/" + name, body});
    return json::object();
  }
  std::mutex mu_;
  std::map<std::string, std::pair<json, bool>> objects_;
  std::vector<Action> actions_;
};

}  // namespace berth::testing
