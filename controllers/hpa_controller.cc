#include "controllers/hpa_controller.h"

#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;

namespace {

// The scalable kinds an HPA may point at, as upstream's scale client resolves them.
Result<client::Resource> scaleResource(const json& ref) {
  std::string kind = ref.value("kind", ""), api = ref.value("apiVersion", "");
  if (kind == "Deployment" && api == "apps/v1")
    return client::Resource{"apps", "v1", "deployments", kind, true, {}};
  if (kind == "ReplicaSet" && api == "apps/v1")
    return client::Resource{"apps", "v1", "replicasets", kind, true, {}};
  if (kind == "StatefulSet" && api == "apps/v1")
    return client::Resource{"apps", "v1", "statefulsets", kind, true, {}};
  if (kind == "ReplicationController" && api == "v1")
    return client::Resource{"", "v1", "replicationcontrollers", kind, true, {}};
  return notFound("no matches for kind \"" + kind + "\" in version \"" + api + "\" with a scale subresource");
}

// Sets condition `type`; lastTransitionTime moves only when the status flips.
void setCondition(json& status, const std::string& type, bool value, const std::string& reason,
                  const std::string& message, const std::string& now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) status["conditions"] = json::array();
  std::string v = value ? "True" : "False";
  for (auto& c : status["conditions"]) {
    if (c.value("type", "") != type) continue;
    if (c.value("status", "") != v) c["lastTransitionTime"] = now;
    c["status"] = v;
    c["reason"] = reason;
    c["message"] = message;
    return;
  }
  status["conditions"].push_back(
      {{"type", type}, {"status", v}, {"lastTransitionTime", now}, {"reason", reason}, {"message", message}});
}

// Upstream's event reason and error for a metric it could not read; here no metrics API exists.
std::pair<std::string, std::string> metricFailure(const json& m) {
  std::string type = m.value("type", "Resource");
  auto name = [&](const char* field) {
    const json* s = m.contains(field) && m[field].is_object() ? &m[field] : nullptr;
    if (!s) return std::string("<unknown>");
    if (s->contains("metric") && (*s)["metric"].is_object()) return (*s)["metric"].value("name", "<unknown>");
    return s->value("name", "<unknown>");
  };
  if (type == "Resource" || type == "ContainerResource") {
    const char* field = type == "Resource" ? "resource" : "containerResource";
    std::string n = name(field);
    bool util = m.contains(field) && m[field].is_object() &&
                m[field].value("target", json::object()).value("type", "") == "Utilization";
    return {"FailedGet" + type + "Metric",
            "failed to get " + n + (util ? " utilization" : " usage") + ": unable to get metrics for resource " + n +
                ": no resource metrics API (metrics.k8s.io) is served by this cluster"};
  }
  if (type == "External")
    return {"FailedGetExternalMetric", "unable to get external metric " + name("external") +
                                           ": no external metrics API (external.metrics.k8s.io) is served by this cluster"};
  const char* field = type == "Object" ? "object" : "pods";
  return {"FailedGet" + type + "Metric", "unable to get metric " + name(field) +
                                             ": no custom metrics API (custom.metrics.k8s.io) is served by this cluster"};
}

}  // namespace

HpaController::HpaController(client::Client* client, client::InformerFactory* informers, Config config)
    : client_(client), config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  hpas_ = {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true,
           {"get", "list", "watch", "update"}};
  controller_ = Controller::forConfig("horizontal-pod-autoscaler", config_,
                                      [this](const std::string& k) { return reconcile(k); });
  informer_ = informers->informerFor(hpas_);
  informer_->addEventHandlers(controller_->keyHandlers(false));
}

HpaController::~HpaController() { stop(); }

void HpaController::start() { controller_->start({informer_}); }

void HpaController::stop() { controller_->stop(); }

void HpaController::event(const json& hpa, bool warning, const std::string& reason, const std::string& message) {
  if (config_.recorder)
    config_.recorder->event(hpa, warning ? client::EventRecorder::Type::kWarning : client::EventRecorder::Type::kNormal,
                            reason, message);
}

Status HpaController::writeStatus(const json& hpa, json status) {
  // desiredReplicas is always written (no omitempty upstream), 0 until one was computed.
  if (!status.contains("desiredReplicas")) status["desiredReplicas"] = 0;
  if (hpa.value("status", json::object()) == status) return Status::ok();
  json body = hpa;
  body["status"] = std::move(status);
  const json& meta = hpa["metadata"];
  auto r = client_->update(hpas_, meta.value("namespace", ""), meta.value("name", ""), body, "status");
  if (!r.isOk() && r.status().code() != Code::kNotFound) return r.status().withContext("updating hpa status");
  return Status::ok();
}

ReconcileResult HpaController::reconcile(const std::string& key) {
  ObjectPtr h = informer_->get(key);
  if (!h || (*h)["metadata"].contains("deletionTimestamp")) return ReconcileResult::ok();
  const json& hpa = *h;
  const std::string ns = hpa["metadata"].value("namespace", "");
  const json spec = hpa.value("spec", json::object());
  const json ref = spec.value("scaleTargetRef", json::object());
  const std::string target = ref.value("name", "");
  const std::string now = formatRfc3339(clock_->now());
  json status = hpa.value("status", json::object());
  if (hpa["metadata"].contains("generation")) status["observedGeneration"] = hpa["metadata"]["generation"];
  auto after = [&](Status s) {
    if (!s.isOk()) return ReconcileResult::fail(std::move(s));
    return ReconcileResult::after(config_.resync);
  };

  auto res = scaleResource(ref);
  Result<json> scale = res.isOk() ? client_->request("GET", res->path(ns, target, "scale")) : Result<json>(res.status());
  if (!scale.isOk()) {
    std::string err = scale.status().message();
    event(hpa, true, "FailedGetScale", err);
    setCondition(status, "AbleToScale", false, "FailedGetScale",
                 "the HPA controller was unable to get the target's current scale: " + err, now);
    return after(writeStatus(hpa, std::move(status)));
  }
  setCondition(status, "AbleToScale", true, "SucceededGetScale",
               "the HPA controller was able to get the target's current scale", now);
  int64_t current = 0;
  if (const json& s = (*scale)["spec"]; s.is_object() && s.contains("replicas") && s["replicas"].is_number_integer())
    current = s["replicas"].get<int64_t>();
  int64_t min = spec.value("minReplicas", int64_t{1}), max = spec.value("maxReplicas", int64_t{1});
  status["currentReplicas"] = current;

  int64_t desired = current;
  std::string why;
  if (current == 0 && min != 0) {
    desired = 0;
    setCondition(status, "ScalingActive", false, "ScalingDisabled",
                 "scaling is disabled since the replica count of the target is zero", now);
  } else if (current > max) {
    desired = max;
    why = "Current number of replicas above Spec.MaxReplicas";
  } else if (current < min) {
    desired = min;
    why = "Current number of replicas below Spec.MinReplicas";
  } else {
    // Within range: the count would come from the metrics, and there is no metrics API to read.
    json metrics = spec.value("metrics", json::array());
    if (!metrics.is_array() || metrics.empty()) metrics = json::array({json{{"type", "Resource"},
        {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
    auto [reason, err] = metricFailure(metrics[0]);
    setCondition(status, "ScalingActive", false, reason, "the HPA was unable to compute the replica count: " + err, now);
    event(hpa, true, reason, err);
    event(hpa, true, "FailedComputeMetricsReplicas",
          "invalid metrics (" + std::to_string(metrics.size()) + " invalid out of " + std::to_string(metrics.size()) +
              "), first error is: " + err);
    return after(writeStatus(hpa, std::move(status)));
  }

  if (desired != current) {
    json body = *scale;
    body["spec"]["replicas"] = desired;
    auto updated = client_->update(*res, ns, target, body, "scale");
    if (!updated.isOk()) {
      std::string err = updated.status().message();
      event(hpa, true, "FailedRescale", "New size: " + std::to_string(desired) + "; reason: " + why + "; error: " + err);
      setCondition(status, "AbleToScale", false, "FailedUpdateScale",
                   "the HPA controller was unable to update the target scale: " + err, now);
      if (Status ws = writeStatus(hpa, std::move(status)); !ws.isOk())
        BLOG(1, "hpa status not written").kv("hpa", key).kv("error", ws.toString());
      return ReconcileResult::fail(updated.status().withContext("rescaling " + target));
    }
    setCondition(status, "AbleToScale", true, "SucceededRescale",
                 "the HPA controller was able to update the target scale to " + std::to_string(desired), now);
    event(hpa, false, "SuccessfulRescale", "New size: " + std::to_string(desired) + "; reason: " + why);
    status["lastScaleTime"] = now;
    BLOG(2, "hpa rescaled target").kv("hpa", key).kv("target", target).kv("from", current).kv("to", desired);
  }
  status["desiredReplicas"] = desired;
  return after(writeStatus(hpa, std::move(status)));
}

}  // namespace berth::controllers
