// ServiceLbController: kube-controller-manager's service (load-balancer) controller for
// Berth's clouds. For every Service of type LoadBalancer without spec.loadBalancerClass it
//  1. adds the finalizer service.kubernetes.io/load-balancer-cleanup (before anything exists
//     in the cloud, so the Service cannot go away without its balancer being removed);
//  2. asks the cloud for a balancer (NetworkDriver::ensureLoadBalancer) named after the Service
//     (loadBalancerName) with one TCP listener per port targeting InternalIP:nodePort of the
//     eligible nodes (only nodes with a ready endpoint under externalTrafficPolicy Local) in the
//     zones of the VPC's public subnets; UDP/SCTP ports are refused with a Warning event;
//  3. writes status.loadBalancer.ingress [{ip, ipMode: VIP}] through the status subresource and
//     publishes the berth.dev LoadBalancer object.
// When the Service is deleted (deletionTimestamp) or stops wanting a balancer (type changed,
// loadBalancerClass), the balancer is deleted, the object unpublished, the status cleared and
// the finalizer removed, in that order. Events are upstream's: EnsuringLoadBalancer,
// EnsuredLoadBalancer, UpdatedLoadBalancer (targets changed), SyncLoadBalancerFailed,
// DeletingLoadBalancer, DeletedLoadBalancer.
// Node changes that matter (added, removed, Ready flips, zone, InternalIP, exclusion label) are
// coalesced: the first one schedules one node sync `node_sync_delay` later, which requeues every
// balanced Service; a Service whose spec did not change makes no cloud call.
// Errors (cloud or API) are returned to the runner, which retries with back-off.
// Thread-safety: start/stop from one thread; reconcile runs on the runner's workers (a key is
// never worked by two at once); the per-Service memory is guarded by a mutex.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controllers/controller.h"
#include "controllers/controller_manager.h"
#include "networking/service_lb/service_lb_spec.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

class ServiceLbController : public controllers::ManagedController {
 public:
  // (involved object, warning?, reason, message)
  using EventFn = std::function<void(const client::json&, bool, const std::string&, const std::string&)>;
  struct Config {
    std::string cluster;  // the berth.dev/cluster label of published objects
    std::shared_ptr<cloud::NetworkDriver> network;
    int workers = 2;
    std::chrono::milliseconds node_sync_delay{1000};
    EventFn event;  // may be empty (no events)
    client::WorkQueue::Options queue;
  };
  ServiceLbController(client::Client* client, client::InformerFactory* informers, Config config);
  void start() override;
  void stop() override;

  // Key "ns/name" of a Service, or kNodeSyncKey (requeue every balanced Service).
  controllers::ReconcileResult reconcile(const std::string& key);
  // The informer handlers' Node test: true when old -> new changes some balancer's targets.
  static bool nodeChangeMatters(const client::json* old_node, const client::json* new_node);
  controllers::Controller& runner() { return *controller_; }

  static constexpr char kNodeSyncKey[] = "#nodes";

 private:
  // What was last applied to the cloud for a Service.
  struct Applied {
    cloud::LoadBalancerSpec spec;
    cloud::LoadBalancer lb;
  };
  controllers::ReconcileResult syncService(const std::string& key, const client::json& svc);
  // Deletes the balancer and its object, clears the status, removes the finalizer (unless
  // keep_finalizer: the Service still is of type LoadBalancer). `svc` null: the Service is gone.
  controllers::ReconcileResult cleanup(const std::string& key, const client::json* svc,
                                       bool keep_finalizer = false);
  Result<client::json> addFinalizer(const client::json& svc);
  Status removeFinalizer(const client::json& svc);
  // Writes status.loadBalancer (no ingress when `address` is empty) if it differs; `svc` takes
  // the new resourceVersion.
  Status writeIngress(client::json& svc, const std::string& address);
  std::vector<std::string> vpcZones();
  std::vector<client::ObjectPtr> slicesOf(const std::string& ns, const std::string& name);
  void enqueueBalanced();
  void scheduleNodeSync();
  void event(const client::json& obj, bool warning, const std::string& reason, const std::string& msg);

  client::Client* client_;
  Config config_;
  client::Informer* services_;
  client::Informer* nodes_;
  client::Informer* slices_;
  std::unique_ptr<controllers::Controller> controller_;
  std::mutex mu_;
  std::map<std::string, Applied> applied_;  // Service key -> last applied (guarded by mu_)
};

// The extra controller "service-lb" for `berth server`, opening the cloud's network on start;
// events come from the component "service-controller".
controllers::ExtraController serviceLbControllerExtra(
    const std::string& cluster, std::function<Result<std::shared_ptr<cloud::NetworkDriver>>()> open_network);

}  // namespace berth::networking
