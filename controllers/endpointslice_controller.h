// EndpointSliceController: keeps the discovery.k8s.io/v1 EndpointSlices of each Service with a
// selector, as upstream's pkg/controller/endpointslice.
//
// Handlers only enqueue Service keys: a pod maps to the Services selecting its old or new
// labels, a slice to the Service named by its kubernetes.io/service-name label (when
// endpointslice.kubernetes.io/managed-by is ours). reconcile(key) reads the cache and, for a
// Service with a selector, computes one endpoint per selected pod with an IPv4 address
// (conditions ready / serving / terminating as upstream: terminating pods stay listed, ready
// only under publishNotReadyAddresses; targetRef, nodeName, the node's zone), groups them by
// the ports they resolve, and places them: an endpoint stays in the slice that already holds
// it, new ones fill slices with room (at most max_endpoints_per_slice each) before new slices
// are created (generateName "<service>-", labels kubernetes.io/service-name and managed-by,
// the Service's labels, a controlling ownerReference to the Service, addressType IPv4).
// Slices left empty are deleted, except that a Service selecting nothing keeps one empty
// placeholder slice. Only slices whose content changed are written. Creations are tracked as
// expectations so a cache that has not yet seen a new slice never causes a second one.
// Services without a selector are left alone; slices of a deleted Service go with it through
// the garbage collector. Thread-safety: reconcile() may run on several workers at once
// (different keys).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

extern const char kServiceNameLabel[];       // "kubernetes.io/service-name"
extern const char kSliceManagedByLabel[];    // "endpointslice.kubernetes.io/managed-by"
extern const char kSliceControllerName[];    // "endpointslice-controller.k8s.io"

class EndpointSliceController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    int max_endpoints_per_slice = 100;
    std::chrono::seconds expectations_ttl{60};
    const Clock* clock = nullptr;  // default SystemClock
  };
  // Registers informers (services, pods, endpointslices, nodes) and handlers (before
  // informers->start()).
  EndpointSliceController(client::Client* client, client::InformerFactory* informers,
                          Config config);
  ~EndpointSliceController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }
  Expectations& expectations() { return expectations_; }

 private:
  struct Slice;
  void enqueueForPod(const json& pod);
  void enqueueForSlice(const json& slice, bool added);
  // endpoint id -> endpoint, grouped by the ports' canonical JSON, in placement order.
  using Desired = std::map<std::string, std::vector<std::pair<std::string, json>>>;
  Desired desiredEndpoints(const json& service) const;
  Status write(const std::string& key, const json& service, std::vector<Slice>& slices);

  client::Client* client_;
  Config config_;
  client::Informer* services_;
  client::Informer* pods_;
  client::Informer* slices_;
  client::Informer* nodes_;
  Expectations expectations_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
