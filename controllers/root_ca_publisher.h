// RootCaPublisher: every active namespace has a ConfigMap "kube-root-ca.crt" whose data is
// exactly {"ca.crt": <cluster CA PEM>} and whose "kubernetes.io/description" annotation says
// what it is for, as upstream's root-ca-cert-publisher keeps it (pods verify the API server
// with it). reconcile(namespace): creates the ConfigMap when missing, overwrites its data and
// annotation when someone edited them, and does nothing for a namespace that is gone or being
// deleted. A deleted or edited ConfigMap is put back through the informer's events.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class RootCaPublisher {
 public:
  static constexpr const char* kConfigMapName = "kube-root-ca.crt";
  static constexpr const char* kDescription =
      "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
      "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
      "guaranteed across distributions of Kubernetes clusters.";
  struct Config {
    std::string root_ca_pem;  // the CA bundle published as ca.crt (must not be empty)
    int workers = 1;
    client::WorkQueue::Options queue;
  };
  RootCaPublisher(client::Client* client, client::InformerFactory* informers, Config config);
  ~RootCaPublisher();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& ns);

 private:
  client::Client* client_;
  Config config_;
  client::Resource namespaces_, config_maps_;
  client::Informer* ns_informer_ = nullptr;
  client::Informer* cm_informer_ = nullptr;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
