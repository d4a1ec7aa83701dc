// Informer: one list+watch of one resource, feeding a thread-safe cache keyed "ns/name" (or
// "name" for cluster-scoped objects), secondary indexes, and event handlers. After a watch
// ends normally it re-watches from the last resourceVersion seen; on 410 Expired or any error
// it re-lists (with backoff on errors) and reports the difference as add/update/delete.
// Cached objects are immutable (shared_ptr<const json>): callers copy before changing.
// Handlers run on the informer's thread, in event order, without the cache lock held; they
// must be quick (enqueue a key). Indexers and handlers are added before start().
// Thread-safety: the read methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/client.h"

namespace berth::client {

using ObjectPtr = std::shared_ptr<const json>;

// "ns/name" or "name".
std::string objectKey(const json& obj);
// Splits a key into namespace and name.
void splitKey(const std::string& key, std::string* ns, std::string* name);

struct EventHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  std::function<void(const ObjectPtr&)> on_delete;
};

using IndexFunc = std::function<std::vector<std::string>(const json&)>;

// Built-in index functions.
extern const char kIndexNamespace[];  // "namespace"
extern const char kIndexOwnerUid[];   // "ownerUid": the uid of each ownerReference
std::vector<std::string> namespaceIndex(const json& obj);
std::vector<std::string> ownerUidIndex(const json& obj);

class Informer {
 public:
  struct Options {
    std::string ns;  // empty: all namespaces
    std::string label_selector;  // list and watch only matching objects
    std::string field_selector;  // e.g. "spec.nodeName=node-1"
    // Applied to every object before it is cached (client-go's SetTransform): drop what the
    // handlers never read so a large cache stays small. Must keep metadata name/namespace/
    // resourceVersion.
    std::function<void(json&)> transform;
    std::chrono::milliseconds resync{0};  // 0: no periodic resync
    int watch_timeout_seconds = 300;
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{10000};
  };
  Informer(Client* client, Resource resource, Options opts);
  Informer(Client* client, Resource resource) : Informer(client, std::move(resource), Options()) {}
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void addEventHandlers(EventHandlers h);
  void addIndexer(const std::string& name, IndexFunc fn);
  void start();
  // Asks the informer to stop without waiting (stop() waits); lets many stop in parallel.
  void cancel();
  void stop();

  bool hasSynced() const { return synced_.load(); }
  // Waits until synced or `timeout` or stop(); returns hasSynced().
  bool waitForSync(std::chrono::milliseconds timeout);

  const Resource& resource() const { return resource_; }
  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> byIndex(const std::string& index, const std::string& value) const;
  std::vector<std::string> keys() const;
  // The resourceVersion of the last list or event applied.
  std::string lastResourceVersion() const;

 private:
  void run();
  Status listAndReplace();
  Status watchOnce(bool* expired);
  void apply(const std::string& type, json obj);
  void putLocked(const std::string& key, ObjectPtr obj);
  void eraseLocked(const std::string& key);
  void resyncAll();

  Client* client_;
  Resource resource_;
  Options opts_;
  std::vector<EventHandlers> handlers_;
  std::map<std::string, IndexFunc> indexers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, ObjectPtr> items_;
  // index name -> value -> keys
  std::map<std::string, std::unordered_map<std::string, std::set<std::string>>> indexes_;
  std::string rv_;
  std::atomic<bool> synced_{false};
  bool stopping_ = false;
  CancelToken cancel_;
  std::thread thread_;
  std::thread resync_thread_;
};

// One informer per resource per process, shared by every controller.
class InformerFactory {
 public:
  explicit InformerFactory(Client* client, Informer::Options defaults = {})
      : client_(client), defaults_(defaults) {}
  ~InformerFactory() { stop(); }
  // Returns the informer for `r`, creating it (not started) on first use.
  Informer* informerFor(const Resource& r);
  // Starts every informer not yet started.
  void start();
  void stop();
  // True when every informer created so far has synced.
  bool allSynced() const;
  std::vector<Informer*> informers() const;

 private:
  Client* client_;
  Informer::Options defaults_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;
  std::set<std::string> started_;
};

}  // namespace berth::client
