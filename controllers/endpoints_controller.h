// EndpointsController: keeps a core/v1 Endpoints object named after each Service with a
// selector, as upstream's pkg/controller/endpoint.
//
// Handlers only enqueue Service keys "ns/name": a pod maps to every Service in its namespace
// whose selector matches its old or new labels; a change to an Endpoints object to the
// Service of the same name. reconcile(key) reads the Service from the cache:
//  - gone: deletes the Endpoints of that name (uid precondition);
//  - no selector: leaves the Endpoints alone (they are the user's);
//  - otherwise groups the selected pods with an IPv4 address by the ports they resolve
//    (targetPort number, or a container port name), ready pods in `addresses`, others in
//    `notReadyAddresses` (every pod is ready under publishNotReadyAddresses, and only then are
//    terminating pods listed), each with targetRef and nodeName; copies the Service's labels
//    (plus service.kubernetes.io/headless for clusterIP None) and writes the object only when
//    its subsets or labels differ from the cached one, so unrelated pod updates cost nothing.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class EndpointsController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
  };
  // Registers informers (services, pods, endpoints) and handlers (before informers->start()).
  EndpointsController(client::Client* client, client::InformerFactory* informers, Config config);
  ~EndpointsController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

  // The subsets the Service's selected pods give, in a canonical order (tests).
  json desiredSubsets(const json& service) const;

 private:
  void enqueueForPod(const json& pod);

  client::Client* client_;
  client::Informer* services_;
  client::Informer* pods_;
  client::Informer* endpoints_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
