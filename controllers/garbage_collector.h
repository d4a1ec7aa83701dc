// GarbageCollector: deletes objects whose owners are gone and carries out the Orphan and
// Foreground deletion policies, as upstream's garbage collector.
//
// The owner -> dependents graph is the informers' "ownerUid" index: the dependents of an
// owner are the cached objects, in any watched resource, with an ownerReference to its uid.
// Work items are "<resource id>|<ns/name>" keys; reconcile(key):
//  - object deleting with finalizer `orphan`: removes its ownerReference from every dependent,
//    then the finalizer;
//  - object deleting with finalizer `foregroundDeletion`: deletes its dependents (Foreground
//    for those that themselves have blocking dependents), and once no dependent with
//    blockOwnerDeletion=true remains, removes the finalizer so the server deletes it;
//  - otherwise, for an object with ownerReferences: an owner absent from the cache is looked
//    up live (by name, then compared by uid) before it is called gone; if every owner is gone
//    the object is deleted (Background), if only some are, their references are removed.
// Workers start only once every informer has synced. Writes use JSON patches with a test on
// resourceVersion, and deletes carry a uid precondition, so a stale cache never acts on a
// newer object. Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class GarbageCollector {
 public:
  struct Config {
    // Resources to watch; those without list, watch and delete are skipped, and so are
    // core/v1 and events.k8s.io Events, as upstream's default ignored resources (an Event's
    // owner is never set; watching them would parse every Event written, twice).
    std::vector<client::Resource> resources;
    int workers = 2;
    client::WorkQueue::Options queue;
    // While foreground dependents remain, look again after this (events usually come first).
    std::chrono::milliseconds foreground_recheck{5000};
  };
  // Registers informers and handlers with `informers` (before informers->start()).
  GarbageCollector(client::Client* client, client::InformerFactory* informers, Config config);
  ~GarbageCollector();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

  static std::string workKey(const client::Resource& r, const json& obj);

 private:
  struct Dependent {
    const client::Resource* resource;
    client::ObjectPtr obj;
  };
  const client::Resource* resourceFor(const std::string& api_version, const std::string& kind) const;
  std::vector<Dependent> dependentsOf(const std::string& uid) const;
  bool hasBlockingDependents(const json& obj) const;
  void enqueueOwners(const json& obj);
  void enqueueDependents(const json& obj);
  void onObject(const client::Resource& r, const client::ObjectPtr& obj);

  ReconcileResult orphanDependents(const client::Resource& r, const json& owner);
  ReconcileResult deleteForeground(const client::Resource& r, const json& owner);
  ReconcileResult checkOwners(const client::Resource& r, const json& obj);
  Status removeOwnerRefs(const client::Resource& r, const json& obj, const std::vector<std::string>& uids);
  Status removeFinalizer(const client::Resource& r, const json& obj, const std::string& finalizer);
  Status deleteObject(const client::Resource& r, const json& obj, const std::string& policy);

  client::Client* client_;
  client::InformerFactory* factory_;
  Config config_;
  std::vector<client::Resource> resources_;
  std::map<std::string, client::Informer*> informers_;  // by resource id
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
