// NamespaceController: empties a namespace that is being deleted, then finalizes it.
// reconcile(name): for a namespace with deletionTimestamp and the "kubernetes" spec finalizer,
// deletes every namespaced object in it across all resources (deletecollection where served,
// else one DELETE per object, Background propagation), lists again, and while anything remains
// asks to be looked at again with backoff (pods in graceful deletion take a while). Once empty
// it PUTs namespaces/NAME/finalize with "kubernetes" removed from spec.finalizers; the API
// server deletes the namespace when no finalizer is left.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class NamespaceController {
 public:
  struct Config {
    // Every resource the server serves; the namespaced ones with list and delete are emptied.
    std::vector<client::Resource> resources;
    int workers = 2;
    client::WorkQueue::Options queue;
  };
  NamespaceController(client::Client* client, client::InformerFactory* informers, Config config);
  ~NamespaceController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& name);
  Controller& controller() { return *controller_; }

 private:
  client::Client* client_;
  Config config_;
  std::vector<client::Resource> content_;  // namespaced resources with list + delete
  client::Resource namespaces_;
  client::Informer* informer_ = nullptr;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
