#include "apiserver/kinds/quota.h"

#include <algorithm>
#include <set>

#include "apiserver/kinds/quantity.h"

namespace berth::apiserver::kinds {

using json = nlohmann::json;

namespace {

const std::set<std::string>& countedByName() {
  static const std::set<std::string> names = {
      "pods",          "services",   "replicationcontrollers",
      "secrets",       "configmaps", "persistentvolumeclaims",
      "resourcequotas"};
  return names;
}

const std::set<std::string>& computeNames() {
  static const std::set<std::string> names = {
      "cpu",          "memory",          "ephemeral-storage",
      "requests.cpu", "requests.memory", "requests.ephemeral-storage",
      "limits.cpu",   "limits.memory",   "limits.ephemeral-storage"};
  return names;
}

std::string countName(const std::string& group, const std::string& resource) {
  return "count/" + resource + (group.empty() ? "" : "." + group);
}

long double amount(const json& v) { return quantityOf(v).value_or(0); }

bool bestEffort(const json& pod) {
  const json& spec = pod.value("spec", json::object());
  for (const char* which : {"requests", "limits"})
    if (!podResources(spec, which, true).empty()) return false;
  return true;
}

bool terminatingPod(const json& pod) {
  return pod.contains("spec") && pod["spec"].is_object() &&
         pod["spec"].contains("activeDeadlineSeconds") &&
         pod["spec"]["activeDeadlineSeconds"].is_number_integer() &&
         pod["spec"]["activeDeadlineSeconds"].get<int64_t>() >= 0;
}

// One scope (with a selector's operator and values, or none) against a pod.
bool scopeSelectsPod(const std::string& scope, const std::string& op,
                     const std::vector<std::string>& values, const json& pod) {
  if (scope == "Terminating") return terminatingPod(pod);
  if (scope == "NotTerminating") return !terminatingPod(pod);
  if (scope == "BestEffort") return bestEffort(pod);
  if (scope == "NotBestEffort") return !bestEffort(pod);
  if (scope == "PriorityClass") {
    std::string cls = pod.contains("spec") && pod["spec"].is_object()
                          ? pod["spec"].value("priorityClassName", "")
                          : "";
    bool in = std::find(values.begin(), values.end(), cls) != values.end();
    if (op == "In") return in;
    if (op == "NotIn") return !in;
    if (op == "DoesNotExist") return cls.empty();
    return !cls.empty();  // Exists, and the bare scope
  }
  return false;  // CrossNamespacePodAffinity: Berth's pods have no such terms counted
}

}  // namespace

std::map<std::string, long double> podResources(const json& spec, const char* which,
                                                bool overhead) {
  using Amounts = std::map<std::string, long double>;
  auto add = [](Amounts& to, const Amounts& from) {
    for (const auto& [name, v] : from) to[name] += v;
  };
  auto raise = [](Amounts& to, const Amounts& from) {
    for (const auto& [name, v] : from) {
      auto [it, fresh] = to.try_emplace(name, v);
      if (!fresh) it->second = std::max(it->second, v);
    }
  };
  auto listOf = [&](const json& c) {
    Amounts out;
    if (!c.is_object() || !c.contains("resources") || !c["resources"].is_object()) return out;
    const json& r = c["resources"];
    if (!r.contains(which) || !r[which].is_object()) return out;
    for (auto it = r[which].begin(); it != r[which].end(); ++it) out[it.key()] = amount(it.value());
    return out;
  };
  Amounts total;
  if (spec.contains("containers") && spec["containers"].is_array())
    for (const json& c : spec["containers"]) add(total, listOf(c));
  // Each init container runs beside the sidecars (restartPolicy Always) started before it;
  // sidecars keep running beside the containers.
  Amounts sidecars, init_peak;
  if (spec.contains("initContainers") && spec["initContainers"].is_array()) {
    for (const json& c : spec["initContainers"]) {
      Amounts own = listOf(c);
      Amounts running = sidecars;
      add(running, own);
      if (c.is_object() && c.value("restartPolicy", "") == "Always") {
        add(total, own);
        sidecars = running;
      }
      raise(init_peak, running);
    }
  }
  raise(total, init_peak);
  if (overhead && spec.contains("overhead") && spec["overhead"].is_object())
    for (auto it = spec["overhead"].begin(); it != spec["overhead"].end(); ++it)
      total[it.key()] += amount(it.value());
  return total;
}

bool podFinished(const json& pod) {
  std::string phase;
  if (pod.contains("status") && pod["status"].is_object()) phase = pod["status"].value("phase", "");
  return phase == "Succeeded" || phase == "Failed";
}

QuotaUsage quotaUsage(const std::string& group, const std::string& resource, const json& obj) {
  QuotaUsage u;
  u[countName(group, resource)] = 1;
  if (!group.empty()) return u;
  if (resource == "pods") {
    if (podFinished(obj)) return u;
    u["pods"] = 1;
    const json& spec = obj.value("spec", json::object());
    for (const auto& [name, v] : podResources(spec, "requests", true)) {
      if (name != "cpu" && name != "memory" && name != "ephemeral-storage") continue;
      u["requests." + name] += v;
      u[name] += v;
    }
    for (const auto& [name, v] : podResources(spec, "limits", true)) {
      if (name != "cpu" && name != "memory" && name != "ephemeral-storage") continue;
      u["limits." + name] += v;
    }
    return u;
  }
  if (resource == "services") {
    u["services"] = 1;
    const json& spec = obj.value("spec", json::object());
    std::string type = spec.value("type", "ClusterIP");
    if (type == "LoadBalancer") u["services.loadbalancers"] = 1;
    if ((type == "NodePort" || type == "LoadBalancer") && spec.contains("ports") &&
        spec["ports"].is_array())
      u["services.nodeports"] = static_cast<long double>(spec["ports"].size());
    else
      u["services.nodeports"] = 0;
    return u;
  }
  if (resource == "persistentvolumeclaims") {
    u["persistentvolumeclaims"] = 1;
    const json* storage = nullptr;
    if (obj.contains("spec") && obj["spec"].is_object()) {
      const json& spec = obj["spec"];
      if (spec.contains("resources") && spec["resources"].is_object() &&
          spec["resources"].contains("requests") && spec["resources"]["requests"].is_object() &&
          spec["resources"]["requests"].contains("storage"))
        storage = &spec["resources"]["requests"]["storage"];
    }
    u["requests.storage"] = storage ? amount(*storage) : 0;
    return u;
  }
  if (countedByName().count(resource)) u[resource] = 1;
  return u;
}

bool quotaTracksKind(const json& hard, const std::string& group, const std::string& resource) {
  if (!hard.is_object()) return false;
  if (hard.contains(countName(group, resource))) return true;
  if (!group.empty()) return false;
  if (hard.contains(resource) && countedByName().count(resource)) return true;
  if (resource == "pods") {
    for (const auto& name : computeNames())
      if (hard.contains(name)) return true;
  }
  if (resource == "services")
    return hard.contains("services.loadbalancers") || hard.contains("services.nodeports");
  if (resource == "persistentvolumeclaims") return hard.contains("requests.storage");
  return false;
}

bool quotaSelects(const json& quota, const std::string& group, const std::string& resource,
                  const json& obj) {
  const json& spec = quota.value("spec", json::object());
  const json scopes = spec.value("scopes", json::array());
  const json exprs = spec.contains("scopeSelector") && spec["scopeSelector"].is_object()
                         ? spec["scopeSelector"].value("matchExpressions", json::array())
                         : json::array();
  bool scoped = (scopes.is_array() && !scopes.empty()) || (exprs.is_array() && !exprs.empty());
  if (!scoped) return true;
  if (!group.empty() || resource != "pods") return false;
  if (scopes.is_array())
    for (const json& s : scopes)
      if (!s.is_string() || !scopeSelectsPod(s.get<std::string>(), "", {}, obj)) return false;
  if (exprs.is_array()) {
    for (const json& e : exprs) {
      if (!e.is_object()) return false;
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array())
        for (const json& v : e["values"])
          if (v.is_string()) values.push_back(v);
      if (!scopeSelectsPod(e.value("scopeName", ""), e.value("operator", ""), values, obj))
        return false;
    }
  }
  return true;
}

std::string quotaPodConstraints(const json& hard, const json& pod) {
  if (!hard.is_object()) return "";
  std::map<std::string, std::set<std::string>> missing;  // quota resource -> containers
  const json& spec = pod.value("spec", json::object());
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const json& c : spec[list]) {
      if (!c.is_object()) continue;
      const json res = c.value("resources", json::object());
      for (const char* name :
           {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}) {
        if (!hard.contains(name)) continue;
        std::string n = name;
        bool limit = n.rfind("limits.", 0) == 0;
        std::string base = n.substr(n.find('.') == std::string::npos ? 0 : n.find('.') + 1);
        const json l = res.is_object() ? res.value(limit ? "limits" : "requests", json::object())
                                       : json::object();
        if (!l.is_object() || !l.contains(base)) missing[n].insert(c.value("name", ""));
      }
    }
  }
  if (missing.empty()) return "";
  std::string msg = "must specify ";
  bool first = true;
  for (const auto& [name, containers] : missing) {
    msg += (first ? "" : "; ") + name + " for: ";
    first = false;
    bool first_c = true;
    for (const auto& c : containers) {
      msg += (first_c ? "" : ",") + c;
      first_c = false;
    }
  }
  return msg;
}

bool isIntegerQuotaResource(const std::string& name) {
  return countedByName().count(name) || name == "services.nodeports" ||
         name == "services.loadbalancers" || name.rfind("count/", 0) == 0;
}

bool isStandardQuotaResource(const std::string& name) {
  static const std::set<std::string> other = {"services.nodeports", "services.loadbalancers",
                                              "requests.storage"};
  return countedByName().count(name) || computeNames().count(name) || other.count(name) ||
         name.rfind("count/", 0) == 0 || name.rfind("hugepages-", 0) == 0 ||
         name.rfind("requests.hugepages-", 0) == 0 || name.rfind("limits.hugepages-", 0) == 0;
}

}  // namespace berth::apiserver::kinds
