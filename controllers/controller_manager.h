// ControllerManager: runs the enabled controllers against an API server, as
// kube-controller-manager does: one client, one discovery pass, one informer factory shared
// by every controller. start() returns once informers and workers are running (not synced);
// stop() stops the workers, then the informers. Thread-safety: start/stop from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::client {
class EventRecorder;
class RestClient;
class InformerFactory;
}  // namespace berth::client

namespace berth::controllers {

class DaemonSetController;
class DeploymentController;
class EndpointSliceController;
class EndpointsController;
class DisruptionController;
class PodGCController;
class ResourceQuotaController;
class NodeLifecycleController;
class TaintEvictionController;
class GarbageCollector;
class JobController;
class NamespaceController;
class ServiceAccountController;
class RootCaPublisher;
class HpaController;
class ReplicaSetController;
class StatefulSetController;
class CronJobController;
namespace scheduler {
class Scheduler;
}

// A controller built outside this library (node groups, CSR signing, ...) that the manager
// starts after the informers and stops before them. start() must not block.
class ManagedController {
 public:
  virtual ~ManagedController() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

// What a ControllerFactory gets: the manager's shared client and informers, its worker count,
// and an event recorder per component (owned by the manager, stopped after the controllers).
struct ControllerContext {
  client::RestClient* client = nullptr;
  client::InformerFactory* informers = nullptr;
  int workers = 2;
  std::function<client::EventRecorder*(const std::string& component)> recorder;
};

using ControllerFactory =
    std::function<Result<std::unique_ptr<ManagedController>>(ControllerContext& ctx)>;

// An extra controller: known to validate() under `name`; started when `name` is in `enabled`
// (ControllerManagerOptions::withDefaults adds it when on_by_default).
struct ExtraController {
  std::string name;
  ControllerFactory factory;
  bool on_by_default = true;
};

// Every built-in controller, by the name --controllers takes.
const std::vector<std::string>& builtinControllerNames();

struct ControllerManagerOptions {
  std::string kubeconfig;
  int workers = 2;
  std::vector<std::string> enabled = builtinControllerNames();  // all of them
  // How long a node may go without a heartbeat before it is marked Unknown (upstream's
  // --node-monitor-grace-period).
  std::chrono::milliseconds node_monitor_grace_period{40000};
  // Controllers from other libraries, wired by the binary (cmd/main.cc).
  std::vector<ExtraController> extra;

  // Adds each on_by_default extra controller to `enabled` (call after filling `extra` when the
  // user asked for the default set).
  void enableDefaultExtras();
};

class ControllerManager {
 public:
  static Result<std::unique_ptr<ControllerManager>> start(const ControllerManagerOptions& opts);
  // Checks the options without starting anything (unknown controller names, workers).
  static Status validate(const ControllerManagerOptions& opts);
  ~ControllerManager();
  void stop();

  GarbageCollector* garbageCollector() { return gc_.get(); }
  NamespaceController* namespaceController() { return ns_.get(); }

 private:
  ControllerManager() = default;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<GarbageCollector> gc_;
  std::unique_ptr<NamespaceController> ns_;
  std::unique_ptr<ServiceAccountController> sa_;
  std::unique_ptr<RootCaPublisher> root_ca_;
  std::unique_ptr<HpaController> hpa_;
  std::unique_ptr<ReplicaSetController> rs_;
  std::unique_ptr<ReplicaSetController> rc_;  // over ReplicationControllers
  std::unique_ptr<DeploymentController> deploy_;
  std::unique_ptr<EndpointsController> endpoints_;
  std::unique_ptr<EndpointSliceController> endpointslice_;
  std::unique_ptr<DaemonSetController> daemonset_;
  std::unique_ptr<JobController> job_;
  std::unique_ptr<StatefulSetController> statefulset_;
  std::unique_ptr<CronJobController> cronjob_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  // One per event source ("daemonset-controller", ...); stopped after the controllers.
  std::vector<std::unique_ptr<client::EventRecorder>> recorders_;
  std::unique_ptr<NodeLifecycleController> nodelife_;
  std::unique_ptr<TaintEvictionController> taint_eviction_;
  std::unique_ptr<DisruptionController> disruption_;
  std::unique_ptr<PodGCController> podgc_;
  std::unique_ptr<ResourceQuotaController> quota_;
  std::vector<std::unique_ptr<ManagedController>> extra_;
  bool stopped_ = false;
};

}  // namespace berth::controllers
