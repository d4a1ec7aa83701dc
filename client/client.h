// Client: the Kubernetes API as controllers see it. RestClient implements it over HTTPS; tests
// implement it with fakes that record actions. Resources are addressed by Resource (group,
// version, plural, scope) so paths are built in one place.
// Thread-safety: implementations must allow concurrent calls from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace berth::client {

using json = nlohmann::json;

struct Resource {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural, e.g. "replicasets"
  std::string kind;      // e.g. "ReplicaSet"
  bool namespaced = true;
  std::vector<std::string> verbs;

  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "apps/v1/replicasets", "v1/pods": unique id used in keys and logs.
  std::string id() const { return groupVersion() + "/" + resource; }
  bool hasVerb(const std::string& v) const;
  // /api/v1/namespaces/NS/pods/NAME/SUB (empty parts omitted).
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
};

enum class PatchType { kJson, kMerge, kStrategicMerge, kApply };
const char* contentType(PatchType t);

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  int64_t limit = 0;
  std::string continue_token;
};

// Cancels a blocking watch from another thread. Waits on it are condition-variable waits.
class CancelToken {
 public:
  void cancel() {
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }
  bool cancelled() const { return cancelled_.load(); }
  // Waits up to `d`; true if cancelled.
  bool waitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, d, [&] { return cancelled_.load(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
};

struct WatchOptions {
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  int timeout_seconds = 300;
  bool allow_bookmarks = true;
};

// Called once per event ({"type":..., "object":...}); return false to stop the watch. The
// event is the handler's to consume (an informer moves the object out instead of copying it);
// handlers taking `const json&` fit as well.
using WatchHandler = std::function<bool(json& event)>;

class Client {
 public:
  virtual ~Client() = default;
  virtual Result<json> get(const Resource& r, const std::string& ns, const std::string& name) = 0;
  virtual Result<json> list(const Resource& r, const std::string& ns, const ListOptions& opts = {}) = 0;
  virtual Result<json> create(const Resource& r, const std::string& ns, const json& obj) = 0;
  virtual Result<json> update(const Resource& r, const std::string& ns, const std::string& name,
                              const json& obj, const std::string& subresource = "") = 0;
  virtual Result<json> patch(const Resource& r, const std::string& ns, const std::string& name,
                             PatchType type, const json& patch) = 0;
  // `options` is a DeleteOptions body, e.g. {"propagationPolicy":"Background"}.
  virtual Result<json> remove(const Resource& r, const std::string& ns, const std::string& name,
                              const json& options = json::object()) = 0;
  virtual Result<json> removeCollection(const Resource& r, const std::string& ns,
                                        const json& options = json::object()) = 0;
  // Raw request: `path` includes the query string; `body` empty for none.
  virtual Result<json> request(const std::string& method, const std::string& path,
                               const std::string& body = "",
                               const std::string& content_type = "application/json") = 0;
  // Blocks until the stream ends (OK), fails, `cancel` fires (OK) or `handler` returns false.
  virtual Status watch(const Resource& r, const std::string& ns, const WatchOptions& opts,
                       const WatchHandler& handler, CancelToken* cancel) = 0;
};

// Maps an HTTP status and a metav1.Status body to a Status (reason first, then code).
Status statusFromResponse(long http_code, const std::string& body);

}  // namespace berth::client
