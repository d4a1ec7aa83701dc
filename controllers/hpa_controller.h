// HpaController: the part of upstream's horizontal-pod-autoscaler controller that needs no
// metrics. Berth serves no metrics API (metrics.k8s.io, custom/external metrics), so:
// reconcile("ns/name") reads the scale subresource of spec.scaleTargetRef (Deployment,
// ReplicaSet, Statefulset, ReplicationController); replicas above spec.maxReplicas are set to
// maxReplicas, below spec.minReplicas (default 1) to minReplicas, with a SuccessfulRescale
// event and status.lastScaleTime; a target at 0 replicas is left alone (scaling disabled).
// Inside the range the replica count would come from metrics: ScalingActive turns False with
// upstream's FailedGet<Type>Metric reason and a message saying no metrics API exists. Status
// keeps currentReplicas/desiredReplicas and the AbleToScale/ScalingActive/ScalingLimited
// conditions; a target that cannot be read gives AbleToScale False FailedGetScale and a
// Warning event. Each HPA is looked at again every `resync` (upstream's 15 s) as well as on
// its own changes.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"

namespace berth::controllers {

class HpaController {
 public:
  struct Config {
    int workers = 1;
    client::WorkQueue::Options queue;
    std::chrono::milliseconds resync{15000};
    client::EventRecorder* recorder = nullptr;  // SuccessfulRescale, FailedGetScale, ...
    const Clock* clock = nullptr;               // default SystemClock
  };
  HpaController(client::Client* client, client::InformerFactory* informers, Config config);
  ~HpaController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);

 private:
  void event(const json& hpa, bool warning, const std::string& reason, const std::string& message);
  Status writeStatus(const json& hpa, json status);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Resource hpas_;
  client::Informer* informer_ = nullptr;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
