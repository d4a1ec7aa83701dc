#include "apiserver/core/pod_admission.h"

#include <algorithm>

namespace berth::apiserver {

using json = nlohmann::json;

namespace {

constexpr char kNotReady[] = "node.kubernetes.io/not-ready";
constexpr char kUnreachable[] = "node.kubernetes.io/unreachable";
// Upstream's MaxDisruptedPodSize: a budget with this many pending evictions takes no more.
constexpr size_t kMaxDisruptedPods = 2000;
constexpr char kViolation[] = "Cannot evict pod as it would violate the pod's disruption budget.";

std::string field(const json& obj, const char* a, const char* b) {
  if (!obj.is_object() || !obj.contains(a) || !obj[a].is_object()) return "";
  const json& x = obj[a];
  return x.contains(b) && x[b].is_string() ? x[b].get<std::string>() : "";
}

int64_t intField(const json& obj, const char* a, const char* b) {
  if (!obj.is_object() || !obj.contains(a) || !obj[a].is_object()) return 0;
  const json& x = obj[a];
  return x.contains(b) && x[b].is_number_integer() ? x[b].get<int64_t>() : 0;
}

bool podReady(const json& pod) {
  if (!pod.contains("status") || !pod["status"].is_object()) return false;
  const json& conds = pod["status"].value("conditions", json::array());
  if (!conds.is_array()) return false;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

Status budgetViolation(const std::string& cause) {
  return Status(Code::kTooManyRequests, kViolation).withCause({"DisruptionBudget", cause, ""});
}

}  // namespace

void addDefaultTolerations(json& pod, int64_t not_ready_seconds, int64_t unreachable_seconds) {
  if (!pod.is_object()) return;
  if (!pod.contains("spec") || !pod["spec"].is_object()) pod["spec"] = json::object();
  json& spec = pod["spec"];
  if (!spec.contains("tolerations") || !spec["tolerations"].is_array())
    spec["tolerations"] = json::array();
  json& tols = spec["tolerations"];
  auto tolerated = [&](const char* key) {
    for (const auto& t : tols) {
      if (!t.is_object()) continue;
      std::string k = t.value("key", ""), e = t.value("effect", "");
      if ((k == key || k.empty()) && (e == "NoExecute" || e.empty())) return true;
    }
    return false;
  };
  bool has_not_ready = tolerated(kNotReady), has_unreachable = tolerated(kUnreachable);
  if (!has_not_ready)
    tols.push_back({{"key", kNotReady}, {"operator", "Exists"}, {"effect", "NoExecute"},
                    {"tolerationSeconds", not_ready_seconds}});
  if (!has_unreachable)
    tols.push_back({{"key", kUnreachable}, {"operator", "Exists"}, {"effect", "NoExecute"},
                    {"tolerationSeconds", unreachable_seconds}});
}

namespace {

bool selectorMatchesPod(const json& sel, const std::string& ns, const json& labels) {
  if (!sel.is_object() || sel.value("namespace", "") != ns) return false;
  const json empty = json::object();
  const json& want = sel.contains("labels") && sel["labels"].is_object() ? sel["labels"] : empty;
  for (const auto& [k, v] : want.items()) {
    if (!labels.is_object() || !labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

}  // namespace

const json* globalDefaultPriorityClass(const std::vector<json>& classes) {
  const json* best = nullptr;
  for (const json& c : classes) {
    if (!c.is_object()) continue;
    const auto d = c.find("globalDefault");
    if (d == c.end() || !d->is_boolean() || !d->get<bool>()) continue;
    if (!best || c.value("value", int64_t{0}) < best->value("value", int64_t{0})) best = &c;
  }
  return best;
}

Status admitPodPriority(json& pod, const std::vector<json>& classes) {
  json& spec = pod["spec"];
  if (!spec.is_object()) return Status::ok();  // validation names what is wrong
  std::string class_name = spec.value("priorityClassName", "");
  int64_t priority = 0;
  json policy = "PreemptLowerPriority";
  const json* cls = nullptr;
  if (class_name.empty()) {
    cls = globalDefaultPriorityClass(classes);
    if (cls) spec["priorityClassName"] = (*cls)["metadata"].value("name", "");
  } else {
    for (const json& c : classes)
      if (c.is_object() && c["metadata"].value("name", "") == class_name) cls = &c;
    if (!cls)
      return Status(Code::kForbidden, "no PriorityClass with name " + class_name + " was found");
  }
  if (cls) {
    priority = cls->value("value", int64_t{0});
    if (cls->contains("preemptionPolicy") && (*cls)["preemptionPolicy"].is_string())
      policy = (*cls)["preemptionPolicy"];
  }
  if (const auto it = spec.find("priority"); it != spec.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() != priority)
      return Status(
          Code::kForbidden,
          "the integer value of priority (" + it->dump() +
              ") must not be provided in pod spec; priority admission controller computed " +
              std::to_string(priority) + " from the given PriorityClass name");
  }
  if (const auto it = spec.find("preemptionPolicy"); it != spec.end() && !it->is_null()) {
    if (*it != policy)
      return Status(
          Code::kForbidden,
          "the string value of PreemptionPolicy (" +
              (it->is_string() ? it->get<std::string>() : it->dump()) +
              ") must not be provided in pod spec; priority admission controller computed " +
              policy.get<std::string>() + " from the given PriorityClass name");
  }
  spec["priority"] = priority;
  spec["preemptionPolicy"] = policy;
  return Status::ok();
}

std::string applyFargateProfile(json& pod, const std::vector<json>& profiles) {
  json& spec = pod["spec"];
  if (!spec.is_object()) return "";
  if (!spec.value("nodeName", "").empty()) return "";
  std::string sched = spec.value("schedulerName", "");
  if (!sched.empty() && sched != "default-scheduler") return "";
  const json& meta = pod["metadata"];
  std::string ns = meta.value("namespace", "");
  const json labels = meta.contains("labels") ? meta["labels"] : json::object();
  std::vector<const json*> sorted;
  for (const json& p : profiles) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) {
    return (*a)["metadata"].value("name", "") < (*b)["metadata"].value("name", "");
  });
  for (const json* p : sorted) {
    if (!p->is_object() || (*p)["metadata"].contains("deletionTimestamp")) continue;
    const json* sels = p->contains("spec") && (*p)["spec"].contains("selectors")
                           ? &(*p)["spec"]["selectors"]
                           : nullptr;
    if (!sels || !sels->is_array()) continue;
    bool match = std::any_of(sels->begin(), sels->end(),
                             [&](const json& s) { return selectorMatchesPod(s, ns, labels); });
    if (!match) continue;
    std::string name = (*p)["metadata"].value("name", "");
    spec["schedulerName"] = "fargate-scheduler";
    pod["metadata"]["labels"]["eks.amazonaws.com/fargate-profile"] = name;
    if (!spec.contains("tolerations") || !spec["tolerations"].is_array()) {
      spec["tolerations"] = json::array();
    }
    spec["tolerations"].push_back({{"key", "eks.amazonaws.com/compute-type"},
                                   {"operator", "Equal"},
                                   {"value", "fargate"},
                                   {"effect", "NoSchedule"}});
    return name;
  }
  return "";
}

bool evictionIgnoresBudget(const json& pod) {
  if (pod.contains("metadata") && pod["metadata"].is_object() &&
      pod["metadata"].contains("deletionTimestamp") && !pod["metadata"]["deletionTimestamp"].is_null())
    return true;
  std::string phase = field(pod, "status", "phase");
  return phase == "Succeeded" || phase == "Failed" || phase == "Pending";
}

bool unhealthyPodMayGo(const json& pod, const json& pdb) {
  if (podReady(pod)) return false;
  if (field(pdb, "spec", "unhealthyPodEvictionPolicy") == "AlwaysAllow") return true;
  int64_t desired = intField(pdb, "status", "desiredHealthy");
  return intField(pdb, "status", "currentHealthy") >= desired && desired > 0;
}

Result<json> consumeDisruption(const json& pdb, const std::string& pod_name, TimePoint now) {
  std::string name = field(pdb, "metadata", "name");
  int64_t generation = intField(pdb, "metadata", "generation");
  int64_t observed = intField(pdb, "status", "observedGeneration");
  if (observed < generation)
    return budgetViolation("The disruption budget " + name + " is still being processed by the server.");
  int64_t allowed = intField(pdb, "status", "disruptionsAllowed");
  if (allowed < 0) return Status(Code::kForbidden, "pdb disruptions allowed is negative");
  json status = pdb["status"];
  if (status.contains("disruptedPods") && status["disruptedPods"].is_object() &&
      status["disruptedPods"].size() > kMaxDisruptedPods)
    return Status(Code::kForbidden, "DisruptedPods map too big - too many evictions not confirmed by PDB controller");
  if (allowed == 0)
    return budgetViolation("The disruption budget " + name + " needs " +
                           std::to_string(intField(pdb, "status", "desiredHealthy")) +
                           " healthy pods and has " +
                           std::to_string(intField(pdb, "status", "currentHealthy")) + " currently");
  json next = pdb;
  next["status"]["disruptionsAllowed"] = allowed - 1;
  if (!next["status"].contains("disruptedPods") || !next["status"]["disruptedPods"].is_object())
    next["status"]["disruptedPods"] = json::object();
  next["status"]["disruptedPods"][pod_name] = formatRfc3339(now);
  if (allowed - 1 == 0 && next["status"].contains("conditions") && next["status"]["conditions"].is_array()) {
    for (auto& c : next["status"]["conditions"]) {
      if (!c.is_object() || c.value("type", "") != "DisruptionAllowed" || c.value("status", "") == "False")
        continue;
      c["status"] = "False";
      c["reason"] = "InsufficientPods";
      c["lastTransitionTime"] = formatRfc3339(now);
    }
  }
  return next;
}

}  // namespace berth::apiserver
