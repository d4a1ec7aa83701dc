// ServiceAccountController: every active namespace has a ServiceAccount named "default", as
// upstream's service account controller keeps it (pods without serviceAccountName run as it,
// and `kubectl create token default` needs it). reconcile(namespace): creates "default" when
// the namespace exists, is not being deleted and has none; a deleted "default" comes back.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class ServiceAccountController {
 public:
  struct Config {
    int workers = 1;
    client::WorkQueue::Options queue;
  };
  ServiceAccountController(client::Client* client, client::InformerFactory* informers, Config config);
  ~ServiceAccountController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& ns);
  Controller& controller() { return *controller_; }

 private:
  client::Client* client_;
  client::Resource namespaces_, service_accounts_;
  client::Informer* ns_informer_ = nullptr;
  client::Informer* sa_informer_ = nullptr;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
