#include "apiserver/core/pod_admission.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "apiserver/kinds/quantity.h"
#include "apiserver/kinds/quota.h"

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

// ---- LimitRanger ----

// A resource list as quantities, keeping each one's text for messages.
struct Amount {
  long double value = 0;
  std::string text;
};
using Amounts = std::map<std::string, Amount>;

Amounts amountsOf(const json* list) {
  Amounts out;
  if (!list || !list->is_object()) return out;
  for (auto it = list->begin(); it != list->end(); ++it) {
    if (auto q = quantityOf(*it)) out[it.key()] = {*q, quantityText(*it)};
  }
  return out;
}

const json* resourceList(const json& container, const char* which) {
  if (!container.is_object() || !container.contains("resources")) return nullptr;
  const json& res = container["resources"];
  return res.is_object() && res.contains(which) ? &res[which] : nullptr;
}

void minConstraint(const std::string& type, const std::string& res, const Amount& enforced,
                   const Amounts& requests, const Amounts& limits, std::vector<std::string>& errs) {
  auto req = requests.find(res);
  auto lim = limits.find(res);
  std::string head = "minimum " + res + " usage per " + type + " is " + enforced.text;
  if (req == requests.end()) {
    errs.push_back(head + ".  No request is specified.");
  } else if (req->second.value < enforced.value) {
    errs.push_back(head + ", but request is " + req->second.text + ".");
  } else if (lim != limits.end() && lim->second.value < enforced.value) {
    errs.push_back(head + ", but limit is " + lim->second.text + ".");
  }
}

void maxConstraint(const std::string& type, const std::string& res, const Amount& enforced,
                   const Amounts& requests, const Amounts& limits, std::vector<std::string>& errs) {
  auto req = requests.find(res);
  auto lim = limits.find(res);
  std::string head = "maximum " + res + " usage per " + type + " is " + enforced.text;
  if (lim == limits.end()) {
    errs.push_back(head + ".  No limit is specified.");
  } else if (lim->second.value > enforced.value) {
    errs.push_back(head + ", but limit is " + lim->second.text + ".");
  } else if (req != requests.end() && req->second.value > enforced.value) {
    errs.push_back(head + ", but request is " + req->second.text + ".");
  }
}

void ratioConstraint(const std::string& type, const std::string& res, const Amount& enforced,
                     const Amounts& requests, const Amounts& limits,
                     std::vector<std::string>& errs) {
  auto req = requests.find(res);
  auto lim = limits.find(res);
  std::string head =
      res + " max limit to request ratio per " + type + " is " + enforced.text + ", but ";
  if (req == requests.end() || req->second.value == 0) {
    errs.push_back(head + "no request is specified or request is 0.");
  } else if (lim == limits.end() || lim->second.value == 0) {
    errs.push_back(head + "no limit is specified or limit is 0.");
  } else {
    // Compared to the milli, as upstream does.
    long double ratio = lim->second.value / req->second.value;
    if (std::round(ratio * 1000) > std::round(enforced.value * 1000)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%f", static_cast<double>(ratio));
      errs.push_back(head + "provided ratio is " + buf + ".");
    }
  }
}

// The pod's total as LimitRanger reads it (podResources without overhead), each written in
// binary when its first term was.
Amounts podTotal(const json& spec, const char* which) {
  std::map<std::string, bool> binary;
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const json& c : spec[list])
      for (const auto& [res, a] : amountsOf(resourceList(c, which)))
        binary.try_emplace(res, isBinaryQuantity(a.text));
  }
  Amounts total;
  for (const auto& [res, value] : kinds::podResources(spec, which, false))
    total[res] = {value, formatQuantity(value, binary[res])};
  return total;
}

Status forbiddenBy(std::vector<std::string> errs) {
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (auto& e : errs)
    if (seen.insert(e).second) unique.push_back(std::move(e));
  if (unique.size() == 1) return Status(Code::kForbidden, unique[0]);
  std::string msg = "[";
  for (size_t i = 0; i < unique.size(); ++i) msg += (i ? ", " : "") + unique[i];
  return Status(Code::kForbidden, msg + "]");
}

const json& itemsOf(const json& range) {
  static const json kNone = json::array();
  if (!range.is_object() || !range.contains("spec") || !range["spec"].is_object()) return kNone;
  auto items = range["spec"].find("limits");
  return items != range["spec"].end() && items->is_array() ? *items : kNone;
}

// Fills what `container` leaves unset from one range's Container defaults; adds to `notes`
// upstream's "cpu, memory request for container app".
void defaultContainer(json& container, const json& range, const char* role,
                      std::vector<std::string>& notes) {
  if (!container.is_object()) return;
  std::vector<std::string> set_requests, set_limits;
  for (const json& item : itemsOf(range)) {
    if (!item.is_object() || item.value("type", "") != "Container") continue;
    for (const auto& [field, which, set] :
         {std::tuple{"default", "limits", &set_limits},
          std::tuple{"defaultRequest", "requests", &set_requests}}) {
      if (!item.contains(field) || !item[field].is_object()) continue;
      for (auto it = item[field].begin(); it != item[field].end(); ++it) {
        json& res = container["resources"];
        if (!res.is_object()) res = json::object();
        json& list = res[which];
        if (!list.is_object()) list = json::object();
        if (list.contains(it.key())) continue;
        list[it.key()] = it.value();
        set->push_back(it.key());
      }
    }
  }
  std::string name = container.value("name", "");
  for (auto& [set, what] : {std::pair{&set_requests, "request"}, std::pair{&set_limits, "limit"}}) {
    if (set->empty()) continue;
    std::sort(set->begin(), set->end());
    std::string note;
    for (size_t i = 0; i < set->size(); ++i) note += (i ? ", " : "") + (*set)[i];
    notes.push_back(note + " " + what + " for " + role + " " + name);
  }
}

std::vector<const json*> byName(const std::vector<json>& ranges) {
  std::vector<const json*> out;
  for (const json& r : ranges) out.push_back(&r);
  std::sort(out.begin(), out.end(), [](const json* a, const json* b) {
    return (*a)["metadata"].value("name", "") < (*b)["metadata"].value("name", "");
  });
  return out;
}

}  // namespace

Status applyLimitRanges(json& pod, const std::vector<json>& ranges) {
  json& spec = pod["spec"];
  if (!spec.is_object() || ranges.empty()) return Status::ok();
  std::vector<const json*> sorted = byName(ranges);
  for (const json* range : sorted) {
    std::vector<std::string> notes;
    for (const auto& [list, role] :
         {std::pair{"containers", "container"}, std::pair{"initContainers", "init container"}}) {
      if (!spec.contains(list) || !spec[list].is_array()) continue;
      for (json& c : spec[list]) defaultContainer(c, *range, role, notes);
    }
    if (notes.empty()) continue;
    std::string val = "LimitRanger plugin set: ";
    for (size_t i = 0; i < notes.size(); ++i) val += (i ? "; " : "") + notes[i];
    json& meta = pod["metadata"];
    if (!meta["annotations"].is_object()) meta["annotations"] = json::object();
    meta["annotations"]["kubernetes.io/limit-ranger"] = val;
  }
  for (const json* range : sorted) {
    std::vector<std::string> errs;
    for (const json& item : itemsOf(*range)) {
      if (!item.is_object()) continue;
      std::string type = item.value("type", "");
      auto check = [&](const Amounts& requests, const Amounts& limits) {
        for (const auto& [res, a] : amountsOf(item.contains("min") ? &item["min"] : nullptr))
          minConstraint(type, res, a, requests, limits, errs);
        for (const auto& [res, a] : amountsOf(item.contains("max") ? &item["max"] : nullptr))
          maxConstraint(type, res, a, requests, limits, errs);
        const json* ratio =
            item.contains("maxLimitRequestRatio") ? &item["maxLimitRequestRatio"] : nullptr;
        for (const auto& [res, a] : amountsOf(ratio))
          ratioConstraint(type, res, a, requests, limits, errs);
      };
      if (type == "Container") {
        for (const char* list : {"containers", "initContainers"}) {
          if (!spec.contains(list) || !spec[list].is_array()) continue;
          for (const json& c : spec[list])
            check(amountsOf(resourceList(c, "requests")), amountsOf(resourceList(c, "limits")));
        }
      } else if (type == "Pod") {
        check(podTotal(spec, "requests"), podTotal(spec, "limits"));
      }
    }
    if (!errs.empty()) return forbiddenBy(std::move(errs));
  }
  return Status::ok();
}

Status checkClaimLimits(const json& claim, const std::vector<json>& ranges) {
  const json* requests = nullptr;
  if (claim.contains("spec") && claim["spec"].is_object())
    requests = resourceList(claim["spec"], "requests");
  Amounts asked = amountsOf(requests);
  for (const json* range : byName(ranges)) {
    std::vector<std::string> errs;
    for (const json& item : itemsOf(*range)) {
      if (!item.is_object() || item.value("type", "") != "PersistentVolumeClaim") continue;
      for (const auto& [res, a] : amountsOf(item.contains("min") ? &item["min"] : nullptr))
        minConstraint("PersistentVolumeClaim", res, a, asked, {}, errs);
      for (const auto& [res, a] : amountsOf(item.contains("max") ? &item["max"] : nullptr)) {
        // A claim's limits are not the user's ask: the max bounds its request.
        auto req = asked.find(res);
        std::string head = "maximum " + res + " usage per PersistentVolumeClaim is " + a.text;
        if (req == asked.end())
          errs.push_back(head + ".  No request is specified.");
        else if (req->second.value > a.value)
          errs.push_back(head + ", but request is " + req->second.text + ".");
      }
    }
    if (!errs.empty()) return forbiddenBy(std::move(errs));
  }
  return Status::ok();
}

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
