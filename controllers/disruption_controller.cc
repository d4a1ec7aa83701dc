#include "controllers/disruption_controller.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;
using client::Resource;

namespace {

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};
// How long an eviction's disruptedPods entry waits for the pod's deletion (upstream's
// DeletionTimeout).
constexpr std::chrono::minutes kDeletionTimeout{2};

const json& at(const json& obj, const char* a, const char* b = nullptr) {
  static const json kNull;
  if (!obj.is_object() || !obj.contains(a)) return kNull;
  const json& x = obj[a];
  if (!b) return x;
  if (!x.is_object() || !x.contains(b)) return kNull;
  return x[b];
}

std::string str(const json& obj, const char* a, const char* b) {
  const json& v = at(obj, a, b);
  return v.is_string() ? v.get<std::string>() : "";
}

}  // namespace

const Resource& pdbsResource() {
  static const Resource r{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, kVerbs};
  return r;
}

Result<int64_t> scaledValue(const json& v, int64_t total, bool round_up) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return invalid("invalid value for IntOrString: " + v.dump());
  std::string s = v.get<std::string>();
  if (s.size() < 2 || s.back() != '%') return invalid("invalid value for IntOrString: " + s);
  char* end = nullptr;
  long pct = std::strtol(s.c_str(), &end, 10);
  if (end != s.c_str() + s.size() - 1 || pct < 0) return invalid("invalid value for IntOrString: " + s);
  int64_t num = pct * total;
  return round_up ? (num + 99) / 100 : num / 100;
}

Result<PdbCounts> computePdbCounts(const json& pdb, const std::vector<ObjectPtr>& pods,
                                   const ScaleFinder& scale_of, TimePoint now) {
  PdbCounts c;
  const json& max_unavailable = at(pdb, "spec", "maxUnavailable");
  const json& min_available = at(pdb, "spec", "minAvailable");
  auto controllers_scale = [&]() -> Result<int64_t> {
    std::set<std::string> seen;
    int64_t sum = 0;
    for (const auto& p : pods) {
      const json* ref = controllerRefOf(*p);
      std::string pod_name = str(*p, "metadata", "name");
      if (!ref) {
        c.unmanaged_pods.push_back(pod_name);
        continue;
      }
      if (!seen.insert(ref->value("uid", "")).second) continue;
      auto scale = scale_of(*ref, str(*p, "metadata", "namespace"));
      if (!scale.isOk() && scale.status().code() == Code::kNotFound)
        return notFound("found no controllers for pod \"" + pod_name + "\"");
      if (!scale.isOk()) return scale.status();
      sum += *scale;
    }
    return sum;
  };
  if (!max_unavailable.is_null()) {
    BERTH_ASSIGN_OR_RETURN(c.expected, controllers_scale());
    BERTH_ASSIGN_OR_RETURN(int64_t max_u, scaledValue(max_unavailable, c.expected, true));
    c.desired_healthy = std::max<int64_t>(0, c.expected - max_u);
  } else if (min_available.is_number_integer()) {
    c.desired_healthy = min_available.get<int64_t>();
    c.expected = static_cast<int64_t>(pods.size());
  } else if (min_available.is_string()) {
    BERTH_ASSIGN_OR_RETURN(c.expected, controllers_scale());
    BERTH_ASSIGN_OR_RETURN(c.desired_healthy, scaledValue(min_available, c.expected, true));
  }
  // Evicted pods whose deletion is not seen yet are not healthy; stale entries are dropped.
  const json& disrupted = at(pdb, "status", "disruptedPods");
  std::set<std::string> disrupted_names;
  for (const auto& p : pods) {
    if (isDeleting(*p)) continue;
    std::string name = str(*p, "metadata", "name");
    if (!disrupted.is_object() || !disrupted.contains(name) || !disrupted[name].is_string()) continue;
    TimePoint when;
    if (!parseRfc3339(disrupted[name].get<std::string>(), &when)) continue;
    TimePoint expires = when + kDeletionTimeout;
    if (expires < now) {
      BLOG(2, "pod was expected to be deleted but was not").kv("pod", name)
          .kv("pdb", client::objectKey(pdb));
      continue;
    }
    c.disrupted_pods[name] = disrupted[name];
    disrupted_names.insert(name);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expires - now) +
                std::chrono::milliseconds(10);
    if (c.recheck.count() == 0 || left < c.recheck) c.recheck = left;
  }
  for (const auto& p : pods)
    if (!isDeleting(*p) && !disrupted_names.count(str(*p, "metadata", "name")) && podReady(*p))
      ++c.current_healthy;
  c.allowed = c.current_healthy - c.desired_healthy;
  if (c.expected <= 0 || c.allowed < 0) c.allowed = 0;
  return c;
}

json pdbStatus(const json& pdb, const Result<PdbCounts>& counts, TimePoint now) {
  json old = at(pdb, "status", nullptr).is_object() ? pdb["status"] : json::object();
  json next = old;
  const json& gen = at(pdb, "metadata", "generation");
  json cond = {{"type", "DisruptionAllowed"}, {"message", ""}};
  if (gen.is_number_integer()) cond["observedGeneration"] = gen;
  if (counts.isOk()) {
    next["expectedPods"] = counts->expected;
    next["desiredHealthy"] = counts->desired_healthy;
    next["currentHealthy"] = counts->current_healthy;
    next["disruptionsAllowed"] = counts->allowed;
    if (counts->disrupted_pods.empty()) next.erase("disruptedPods");
    else next["disruptedPods"] = counts->disrupted_pods;
    cond["status"] = counts->allowed > 0 ? "True" : "False";
    cond["reason"] = counts->allowed > 0 ? "SufficientPods" : "InsufficientPods";
  } else {
    // Upstream's failSafe: nothing may be disrupted while the budget cannot be computed.
    next["disruptionsAllowed"] = 0;
    cond["status"] = "False";
    cond["reason"] = "SyncFailed";
    cond["message"] = counts.status().message();
  }
  if (gen.is_number_integer()) next["observedGeneration"] = gen;
  json conds = json::array();
  bool placed = false;
  for (const auto& c : old.value("conditions", json::array())) {
    if (c.is_object() && c.value("type", "") == "DisruptionAllowed") {
      bool same = c.value("status", "") == cond["status"] && c.value("reason", "") == cond["reason"];
      cond["lastTransitionTime"] = same && c.contains("lastTransitionTime")
                                       ? c["lastTransitionTime"] : json(formatRfc3339(now));
      conds.push_back(cond);
      placed = true;
    } else {
      conds.push_back(c);
    }
  }
  if (!placed) {
    cond["lastTransitionTime"] = formatRfc3339(now);
    conds.push_back(cond);
  }
  next["conditions"] = conds;
  return next;
}

DisruptionController::DisruptionController(client::Client* client,
                                           client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("disruption", config_, [this](const std::string& k) { return reconcile(k); });
  pdbs_ = informers->informerFor(pdbsResource());
  pods_ = informers->informerFor(podsResource());
  rss_ = informers->informerFor(replicaSetsResource());
  deployments_ = informers->informerFor(deploymentsResource());
  statefulsets_ = informers->informerFor(res::statefulSets());
  rcs_ = informers->informerFor(replicationControllersResource());
  pdbs_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  pods_->addIndexer(client::kIndexNamespace, client::namespaceIndex);

  client::EventHandlers bh = controller_->keyHandlers(false);
  pdbs_->addEventHandlers(std::move(bh));

  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr& o) { enqueueFor(*o); };
  ph.on_update = [this](const ObjectPtr& old_pod, const ObjectPtr& o) {
    enqueueFor(*o);
    if (at(*old_pod, "metadata", "labels") != at(*o, "metadata", "labels")) enqueueFor(*old_pod);
  };
  ph.on_delete = [this](const ObjectPtr& o) { enqueueFor(*o); };
  pods_->addEventHandlers(std::move(ph));

  // A scale change moves expectedPods.
  client::EventHandlers sh;
  sh.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
    if (at(*old_obj, "spec", "replicas") != at(*o, "spec", "replicas"))
      enqueueNamespace(str(*o, "metadata", "namespace"));
  };
  rss_->addEventHandlers(sh);
  deployments_->addEventHandlers(sh);
  statefulsets_->addEventHandlers(sh);
  rcs_->addEventHandlers(sh);
}

DisruptionController::~DisruptionController() { stop(); }

void DisruptionController::start() {
  controller_->start({pdbs_, pods_, rss_, deployments_, statefulsets_, rcs_});
}
void DisruptionController::stop() { controller_->stop(); }

void DisruptionController::enqueueFor(const json& pod) {
  const json& labels = at(pod, "metadata", "labels");
  for (const auto& pdb : pdbs_->byIndex(client::kIndexNamespace, str(pod, "metadata", "namespace")))
    if (selectorMatches(at(*pdb, "spec", "selector"), labels))
      controller_->enqueue(client::objectKey(*pdb));
}

void DisruptionController::enqueueNamespace(const std::string& ns) {
  for (const auto& pdb : pdbs_->byIndex(client::kIndexNamespace, ns))
    controller_->enqueue(client::objectKey(*pdb));
}

Result<int64_t> DisruptionController::scaleOf(const json& ref, const std::string& ns) {
  std::string kind = ref.value("kind", ""), name = ref.value("name", ""), uid = ref.value("uid", "");
  auto replicas = [](const json& obj) {
    const json& r = at(obj, "spec", "replicas");
    return r.is_number_integer() ? r.get<int64_t>() : int64_t{1};
  };
  if (kind == "ReplicaSet" && ref.value("apiVersion", "") == "apps/v1") {
    ObjectPtr rs = rss_->get(ns + "/" + name);
    if (!rs || str(*rs, "metadata", "uid") != uid)
      return notFound("replicaset \"" + ns + "/" + name + "\" not found");
    // A Deployment's ReplicaSets share its scale: count the Deployment, not each of them.
    if (const json* dref = controllerRefOf(*rs); dref && dref->value("kind", "") == "Deployment") {
      ObjectPtr d = deployments_->get(ns + "/" + dref->value("name", ""));
      if (d && str(*d, "metadata", "uid") == dref->value("uid", "")) return replicas(*d);
    }
    return replicas(*rs);
  }
  if (kind == "Deployment" && ref.value("apiVersion", "") == "apps/v1") {
    ObjectPtr d = deployments_->get(ns + "/" + name);
    if (!d || str(*d, "metadata", "uid") != uid)
      return notFound("deployment \"" + ns + "/" + name + "\" not found");
    return replicas(*d);
  }
  if (kind == "StatefulSet" && ref.value("apiVersion", "") == "apps/v1") {
    ObjectPtr s = statefulsets_->get(ns + "/" + name);
    if (!s || str(*s, "metadata", "uid") != uid)
      return notFound("statefulset \"" + ns + "/" + name + "\" not found");
    return replicas(*s);
  }
  if (kind == "ReplicationController" && ref.value("apiVersion", "") == "v1") {
    ObjectPtr rc = rcs_->get(ns + "/" + name);
    if (!rc || str(*rc, "metadata", "uid") != uid)
      return notFound("replicationcontroller \"" + ns + "/" + name + "\" not found");
    return replicas(*rc);
  }
  // What upstream's scale client answers for the built-in kinds without a scale subresource.
  static const std::map<std::string, std::string> kNoScale = {
      {"Job", "jobs.batch"}, {"DaemonSet", "daemonsets.apps"}, {"CronJob", "cronjobs.batch"}};
  if (auto it = kNoScale.find(kind); it != kNoScale.end())
    return invalid(it->second + " does not implement the scale subresource");
  return notFound("controller " + kind + " \"" + name + "\" not found");
}

std::string labelSelectorText(const json& selector) {
  std::string labels = "map[string]string{";
  const json& ml = at(selector, "matchLabels");
  if (ml.is_object())  // nlohmann's object keeps keys sorted, as Go's String() sorts them
    for (auto it = ml.begin(); it != ml.end(); ++it)
      labels += it.key() + ": " + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()) + ",";
  labels += "}";
  std::string exprs = "[]LabelSelectorRequirement{";
  const json& me = at(selector, "matchExpressions");
  if (me.is_array())
    for (const auto& e : me) {
      std::vector<std::string> values;
      if (at(e, "values").is_array())
        for (const auto& v : e["values"]) values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      exprs += "LabelSelectorRequirement{Key:" + str(e, "key", nullptr) + ",Operator:" + str(e, "operator", nullptr) +
               ",Values:[" + join(values, " ") + "],},";
    }
  exprs += "}";
  return "&LabelSelector{MatchLabels:" + labels + ",MatchExpressions:" + exprs + ",}";
}

ReconcileResult DisruptionController::reconcile(const std::string& key) {
  ObjectPtr cached = pdbs_->get(key);
  if (!cached) return ReconcileResult::ok();
  const json& pdb = *cached;
  std::string ns = str(pdb, "metadata", "namespace");
  std::vector<ObjectPtr> pods;
  const json& sel = at(pdb, "spec", "selector");
  for (const auto& p : pods_->byIndex(client::kIndexNamespace, ns))
    if (selectorMatches(sel, at(*p, "metadata", "labels"))) pods.push_back(p);
  // Pods of one Deployment's ReplicaSets count the Deployment once.
  std::set<std::string> deployments_seen;
  ScaleFinder finder = [&](const json& ref, const std::string& pod_ns) -> Result<int64_t> {
    BERTH_ASSIGN_OR_RETURN(int64_t scale, scaleOf(ref, pod_ns));
    if (ref.value("kind", "") == "ReplicaSet") {
      ObjectPtr rs = rss_->get(pod_ns + "/" + ref.value("name", ""));
      const json* dref = rs ? controllerRefOf(*rs) : nullptr;
      if (dref && dref->value("kind", "") == "Deployment" &&
          !deployments_seen.insert(dref->value("uid", "")).second)
        return int64_t{0};
    }
    return scale;
  };
  const TimePoint now = clock_->now();
  auto counts = computePdbCounts(pdb, pods, finder, now);
  if (!counts.isOk()) {
    BLOG(2, "cannot compute disruption budget").kv("pdb", key).kv("err", counts.status().toString());
    recordEvent(config_.recorder, pdb, true, "CalculateExpectedPodCountFailed",
                "Failed to calculate the number of expected pods: " + counts.status().message());
  } else if (!counts->unmanaged_pods.empty()) {
    BLOG(4, "found unmanaged pods for a disruption budget").kv("pdb", key)
        .kv("pods", join(counts->unmanaged_pods, ","));
    recordEvent(config_.recorder, pdb, true, "UnmanagedPods",
                "Pods selected by this PodDisruptionBudget (selector: " + labelSelectorText(sel) +
                    ") were found to be unmanaged. As a result, the status of the PDB cannot be "
                    "calculated correctly, which may result in undefined behavior. To account for "
                    "these pods please set \".spec.minAvailable\" field of the PDB to an integer value.");
  }
  json status = pdbStatus(pdb, counts, now);
  if (status != pdb.value("status", json::object())) {
    json copy = pdb;
    copy["status"] = status;
    auto res = client_->update(pdbsResource(), ns, str(pdb, "metadata", "name"), copy, "status");
    if (!res.isOk() && res.status().code() != Code::kNotFound)
      return ReconcileResult::fail(res.status().withContext("updating status of " + key));
  }
  if (!counts.isOk()) return ReconcileResult::backoff();
  if (counts->recheck.count() > 0) return ReconcileResult::after(counts->recheck);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
