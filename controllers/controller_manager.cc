#include "controllers/controller_manager.h"

#include <algorithm>

#include "client/discovery.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/kubeconfig.h"
#include "client/rest_client.h"
#include "common/log.h"
#include "common/strings.h"
#include "controllers/cronjob_controller.h"
#include "controllers/daemonset_controller.h"
#include "controllers/deployment_controller.h"
#include "controllers/disruption_controller.h"
#include "controllers/endpoints_controller.h"
#include "controllers/endpointslice_controller.h"
#include "controllers/garbage_collector.h"
#include "controllers/hpa_controller.h"
#include "controllers/job_controller.h"
#include "controllers/namespace_controller.h"
#include "controllers/node_lifecycle_controller.h"
#include "controllers/pod_gc_controller.h"
#include "controllers/replicaset_controller.h"
#include "controllers/resourcequota_controller.h"
#include "controllers/root_ca_publisher.h"
#include "controllers/scheduler/scheduler.h"
#include "controllers/serviceaccount_controller.h"
#include "controllers/statefulset_controller.h"
#include "controllers/taint_eviction_controller.h"

namespace berth::controllers {

void ControllerManagerOptions::enableDefaultExtras() {
  for (const auto& e : extra) {
    if (e.on_by_default && std::find(enabled.begin(), enabled.end(), e.name) == enabled.end()) {
      enabled.push_back(e.name);
    }
  }
}

const std::vector<std::string>& builtinControllerNames() {
  static const std::vector<std::string> kNames = {"garbagecollector",
                                                  "namespace",
                                                  "replicaset",
                                                  "replicationcontroller",
                                                  "deployment",
                                                  "endpoints",
                                                  "endpointslice",
                                                  "daemonset",
                                                  "job",
                                                  "scheduler",
                                                  "nodelifecycle",
                                                  "disruption",
                                                  "statefulset",
                                                  "cronjob",
                                                  "serviceaccount",
                                                  "root-ca-cert-publisher",
                                                  "horizontalpodautoscaling",
                                                  "podgc",
                                                  "resourcequota"};
  return kNames;
}

Status ControllerManager::validate(const ControllerManagerOptions& opts) {
  std::vector<std::string> kKnown = builtinControllerNames();
  for (const auto& e : opts.extra) kKnown.push_back(e.name);
  for (const auto& name : opts.enabled) {
    if (std::find(kKnown.begin(), kKnown.end(), name) != kKnown.end()) continue;
    std::string known;
    for (const auto& k : kKnown) known += (known.empty() ? "" : ", ") + k;
    return invalid("unknown controller \"" + name + "\" (known: " + known + ")");
  }
  if (opts.workers < 1) return invalid("controller workers must be at least 1");
  return Status::ok();
}

Result<std::unique_ptr<ControllerManager>> ControllerManager::start(const ControllerManagerOptions& opts) {
  BERTH_RETURN_IF_ERROR(validate(opts));
  std::unique_ptr<ControllerManager> cm(new ControllerManager());
  auto client = client::RestClient::fromKubeconfig(opts.kubeconfig);
  if (!client.isOk()) return client.status().withContext("controller manager");
  cm->client_ = std::move(client).value();
  auto resources = client::discoverResources(cm->client_.get());
  if (!resources.isOk()) return resources.status().withContext("controller manager");
  client::Informer::Options io;
  io.resync = std::chrono::minutes(5);
  cm->informers_ = std::make_unique<client::InformerFactory>(cm->client_.get(), io);
  auto enabled = [&](const char* n) {
    return std::find(opts.enabled.begin(), opts.enabled.end(), n) != opts.enabled.end();
  };
  // An event recorder for `component`, kept by the manager and stopped after the controllers.
  auto recorder = [cm = cm.get()](const std::string& component) {
    cm->recorders_.push_back(std::make_unique<client::EventRecorder>(cm->client_.get(), component, ""));
    return cm->recorders_.back().get();
  };
  // Makes controller C from its config, with a recorder when `component` names one.
  auto build = [&]<class C>(std::unique_ptr<C>& slot, typename C::Config c,
                            const char* component = nullptr) {
    if constexpr (requires { c.recorder; })
      if (component) c.recorder = recorder(component);
    slot = std::make_unique<C>(cm->client_.get(), cm->informers_.get(), std::move(c));
  };
  if (enabled("garbagecollector")) {
    GarbageCollector::Config c;
    c.resources = *resources;
    c.workers = opts.workers;
    c.queue.limiter.max_delay = std::chrono::seconds(60);
    build(cm->gc_, c);
  }
  if (enabled("namespace")) {
    NamespaceController::Config c;
    c.resources = *resources;
    c.workers = opts.workers;
    c.queue.limiter.max_delay = std::chrono::seconds(10);
    build(cm->ns_, c);
  }
  if (enabled("serviceaccount")) {
    ServiceAccountController::Config c;
    build(cm->sa_, c);
  }
  if (enabled("resourcequota")) {
    ResourceQuotaController::Config c;
    c.resources = *resources;
    build(cm->quota_, c);
  }
  if (enabled("root-ca-cert-publisher")) {
    // As upstream without --root-ca-file: the CA the manager itself trusts the API server with.
    auto kc = client::loadKubeConfig(opts.kubeconfig);
    if (!kc.isOk()) return kc.status().withContext("root-ca-cert-publisher");
    if (kc->ca_pem.empty()) return invalid("root-ca-cert-publisher: the kubeconfig has no certificate authority");
    RootCaPublisher::Config c;
    c.root_ca_pem = kc->ca_pem;
    build(cm->root_ca_, c);
  }
  if (enabled("replicaset")) {
    ReplicaSetController::Config c;
    c.workers = opts.workers;
    build(cm->rs_, c, "replicaset-controller");
  }
  if (enabled("replicationcontroller")) {
    ReplicaSetController::Config c;
    c.workers = opts.workers;
    c.replication_controllers = true;
    build(cm->rc_, c, "replication-controller");
  }
  if (enabled("deployment")) {
    DeploymentController::Config c;
    c.workers = opts.workers;
    build(cm->deploy_, c, "deployment-controller");
  }
  if (enabled("endpoints")) {
    EndpointsController::Config c;
    c.workers = opts.workers;
    build(cm->endpoints_, c);
  }
  if (enabled("endpointslice")) {
    EndpointSliceController::Config c;
    c.workers = opts.workers;
    build(cm->endpointslice_, c);
  }
  if (enabled("daemonset")) {
    DaemonSetController::Config c;
    c.workers = opts.workers;
    build(cm->daemonset_, c, "daemonset-controller");
  }
  if (enabled("job")) {
    JobController::Config c;
    c.workers = opts.workers;
    build(cm->job_, c, "job-controller");
  }
  if (enabled("statefulset")) {
    StatefulSetController::Config c;
    c.workers = opts.workers;
    build(cm->statefulset_, c, "statefulset-controller");
  }
  if (enabled("cronjob")) {
    CronJobController::Config c;
    c.workers = opts.workers;
    build(cm->cronjob_, c, "cronjob-controller");
  }
  if (enabled("horizontalpodautoscaling")) {
    HpaController::Config c;
    c.workers = opts.workers;
    build(cm->hpa_, c, "horizontal-pod-autoscaler");
  }
  if (enabled("scheduler")) {
    build(cm->scheduler_, scheduler::Scheduler::Config());
  }
  if (enabled("nodelifecycle")) {
    // Upstream runs taint-based eviction as its own controller; here it comes with node health.
    NodeLifecycleController::Config c;
    c.workers = opts.workers;
    c.grace_period = opts.node_monitor_grace_period;
    build(cm->nodelife_, c, "node-controller");
    TaintEvictionController::Config t;
    t.workers = opts.workers;
    build(cm->taint_eviction_, t, "taint-eviction-controller");
  }
  if (enabled("podgc")) {
    PodGCController::Config c;
    build(cm->podgc_, c);
  }
  if (enabled("disruption")) {
    DisruptionController::Config c;
    c.workers = opts.workers;
    build(cm->disruption_, c, "controllermanager");
  }
  ControllerContext ctx;
  ctx.client = cm->client_.get();
  ctx.informers = cm->informers_.get();
  ctx.workers = opts.workers;
  ctx.recorder = recorder;
  for (const auto& e : opts.extra) {
    if (!enabled(e.name.c_str())) continue;
    auto c = e.factory(ctx);
    if (!c.isOk()) return c.status().withContext("controller " + e.name);
    cm->extra_.push_back(std::move(c).value());
  }
  cm->informers_->start();
  for (auto& c : cm->extra_) c->start();
  if (cm->gc_) cm->gc_->start();
  if (cm->ns_) cm->ns_->start();
  if (cm->sa_) cm->sa_->start();
  if (cm->root_ca_) cm->root_ca_->start();
  if (cm->quota_) cm->quota_->start();
  if (cm->hpa_) cm->hpa_->start();
  if (cm->rs_) cm->rs_->start();
  if (cm->rc_) cm->rc_->start();
  if (cm->deploy_) cm->deploy_->start();
  if (cm->endpoints_) cm->endpoints_->start();
  if (cm->endpointslice_) cm->endpointslice_->start();
  if (cm->daemonset_) cm->daemonset_->start();
  if (cm->job_) cm->job_->start();
  if (cm->statefulset_) cm->statefulset_->start();
  if (cm->cronjob_) cm->cronjob_->start();
  if (cm->scheduler_) cm->scheduler_->start();
  if (cm->nodelife_) cm->nodelife_->start();
  if (cm->taint_eviction_) cm->taint_eviction_->start();
  if (cm->disruption_) cm->disruption_->start();
  if (cm->podgc_) cm->podgc_->start();
  BLOG(0, "controller manager started").kv("controllers", opts.enabled.size())
      .kv("informers", cm->informers_->informers().size());
  return cm;
}

ControllerManager::~ControllerManager() { stop(); }

void ControllerManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto it = extra_.rbegin(); it != extra_.rend(); ++it) (*it)->stop();
  if (hpa_) hpa_->stop();
  if (cronjob_) cronjob_->stop();
  if (statefulset_) statefulset_->stop();
  if (job_) job_->stop();
  if (daemonset_) daemonset_->stop();
  if (endpointslice_) endpointslice_->stop();
  if (endpoints_) endpoints_->stop();
  if (scheduler_) scheduler_->stop();
  if (deploy_) deploy_->stop();
  for (auto& r : recorders_) r->stop();
  if (nodelife_) nodelife_->stop();
  if (taint_eviction_) taint_eviction_->stop();
  if (disruption_) disruption_->stop();
  if (podgc_) podgc_->stop();
  if (rs_) rs_->stop();
  if (rc_) rc_->stop();
  if (gc_) gc_->stop();
  if (ns_) ns_->stop();
  if (sa_) sa_->stop();
  if (root_ca_) root_ca_->stop();
  if (quota_) quota_->stop();
  if (informers_) informers_->stop();
}

}  // namespace berth::controllers
