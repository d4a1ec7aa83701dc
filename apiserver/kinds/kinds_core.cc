// core/v1 kinds: Namespace, Pod, Service, Endpoints, Node, Event, ConfigMap, Secret,
// ServiceAccount, PersistentVolumeClaim, PersistentVolume, ReplicationController. Defaults follow
// pkg/apis/core/v1/defaults.go, validation pkg/apis/core/validation, tables
// pkg/printers/internalversion/printers.go (v1.32).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/name_validation.h"
#include "apiserver/kinds/quantity.h"
#include "common/json_parse.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

const json kNull;

// ---- Namespace -------------------------------------------------------------------------------

KindSpec namespaceKind() {
  KindSpec k = coreKind("Namespace", "namespaces", "namespace", false);
  k.short_names = {"ns"};
  k.verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "finalizers", json::array({"kubernetes"}));
    setDefault(child(obj, "status"), "phase", "Active");
    std::string name = str(obj, {"metadata", "name"});
    if (!name.empty()) child(child(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = name;
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    std::string name = str(obj, {"metadata", "name"});
    if (!name.empty()) {
      for (const auto& m : validateDns1123Label(name)) errs.invalid("metadata.name", name, m);
    }
    if (const json* fs = find(obj, {"spec", "finalizers"}); fs && fs->is_array()) {
      for (size_t i = 0; i < fs->size(); ++i) {
        if (!(*fs)[i].is_string() || (*fs)[i].get<std::string>().empty()) {
          errs.required(at("spec", "finalizers", i));
        }
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Status", "string", "The status of the namespace"),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"status", "phase"}),
                             ageCell(obj, now)};
  };
  k.selectable_fields = {"status.phase"};
  k.field_value = [](const json& obj, const std::string& f) {
    return f == "status.phase" ? str(obj, {"status", "phase"}) : std::string();
  };
  k.plain_fields = {{"status.phase", {"status", "phase"}}};
  return k;
}

// ---- Pod -------------------------------------------------------------------------------------

// BestEffort / Burstable / Guaranteed from cpu and memory requests and limits.
std::string qosClass(const json& spec) {
  bool any = false;
  bool guaranteed = true;
  for (const char* list : {"initContainers", "containers"}) {
    const json* cs = find(spec, {list});
    if (!cs || !cs->is_array()) continue;
    for (const json& c : *cs) {
      const json* req = find(c, {"resources", "requests"});
      const json* lim = find(c, {"resources", "limits"});
      if ((req && req->is_object() && !req->empty()) || (lim && lim->is_object() && !lim->empty())) {
        any = true;
      }
      for (const char* r : {"cpu", "memory"}) {
        const json* l = lim ? find(*lim, {r}) : nullptr;
        const json* q = req ? find(*req, {r}) : nullptr;
        if (!l || (q && *q != *l)) guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

bool onlyPodSpecMutableChanges(const json& newSpec, const json& oldSpec) {
  json mutated = oldSpec;
  for (const char* list : {"containers", "initContainers"}) {
    const json* nl = find(newSpec, {list});
    if (!nl || !nl->is_array() || !mutated.contains(list) || !mutated[list].is_array() ||
        mutated[list].size() != nl->size()) {
      continue;
    }
    for (size_t i = 0; i < nl->size(); ++i) {
      if ((*nl)[i].is_object() && (*nl)[i].contains("image") && mutated[list][i].is_object()) {
        mutated[list][i]["image"] = (*nl)[i]["image"];
      }
    }
  }
  if (const json* ads = find(newSpec, {"activeDeadlineSeconds"})) {
    mutated["activeDeadlineSeconds"] = *ads;
  } else {
    mutated.erase("activeDeadlineSeconds");
  }
  // Tolerations may only be added to.
  const json* newTols = find(newSpec, {"tolerations"});
  const json* oldTols = find(oldSpec, {"tolerations"});
  bool additionsOnly = true;
  if (oldTols && oldTols->is_array()) {
    for (const json& t : *oldTols) {
      if (!newTols || !newTols->is_array() ||
          std::find(newTols->begin(), newTols->end(), t) == newTols->end()) {
        additionsOnly = false;
      }
    }
  }
  if (additionsOnly) {
    if (newTols) mutated["tolerations"] = *newTols;
    else mutated.erase("tolerations");
  }
  // terminationGracePeriodSeconds may go from negative to 1.
  if (num(oldSpec, {"terminationGracePeriodSeconds"}, 0) < 0 &&
      num(newSpec, {"terminationGracePeriodSeconds"}, 0) == 1) {
    mutated["terminationGracePeriodSeconds"] = 1;
  }
  // nodeName may be set once (binding) when it was empty.
  if (str(oldSpec, {"nodeName"}).empty() && newSpec.contains("nodeName")) {
    mutated["nodeName"] = newSpec["nodeName"];
  }
  return mutated == newSpec;
}

struct PodRow {
  std::string ready;
  std::string reason;
  std::string restarts;
};

bool isRestartableInit(const json& spec, const std::string& name) {
  const json* ics = find(spec, {"initContainers"});
  if (!ics || !ics->is_array()) return false;
  for (const json& c : *ics) {
    if (str(c, {"name"}) == name) return str(c, {"restartPolicy"}) == "Always";
  }
  return false;
}

PodRow podRow(const json& pod, TimePoint now) {
  const json& spec = pod.contains("spec") ? pod["spec"] : kNull;
  int64_t restarts = 0;
  int64_t restartableInitRestarts = 0;
  int64_t total = static_cast<int64_t>(count(pod, {"spec", "containers"}));
  int64_t ready = 0;
  TimePoint lastRestart{};
  TimePoint lastRestartableInitRestart{};
  auto noteRestart = [](const json& cs, TimePoint* latest) {
    const json* fin = find(cs, {"lastState", "terminated", "finishedAt"});
    TimePoint t;
    if (fin && fin->is_string() && parseRfc3339(fin->get<std::string>(), &t) && t > *latest) {
      *latest = t;
    }
  };

  std::string phase = str(pod, {"status", "phase"});
  std::string reason = phase;
  if (!str(pod, {"status", "reason"}).empty()) reason = str(pod, {"status", "reason"});
  if (const json* conds = find(pod, {"status", "conditions"}); conds && conds->is_array()) {
    for (const json& c : *conds) {
      if (str(c, {"type"}) == "PodScheduled" && str(c, {"reason"}) == "SchedulingGated") {
        reason = "SchedulingGated";
      }
    }
  }
  if (const json* ics = find(spec, {"initContainers"}); ics && ics->is_array()) {
    for (const json& c : *ics) {
      if (str(c, {"restartPolicy"}) == "Always") ++total;
    }
  }
  size_t nInit = count(spec, {"initContainers"});

  bool initializing = false;
  if (const json* ics = find(pod, {"status", "initContainerStatuses"}); ics && ics->is_array()) {
    for (size_t i = 0; i < ics->size(); ++i) {
      const json& cs = (*ics)[i];
      std::string name = str(cs, {"name"});
      restarts += num(cs, {"restartCount"});
      noteRestart(cs, &lastRestart);
      bool restartable = isRestartableInit(spec, name);
      if (restartable) {
        restartableInitRestarts += num(cs, {"restartCount"});
        noteRestart(cs, &lastRestartableInitRestart);
      }
      const json* term = find(cs, {"state", "terminated"});
      const json* waiting = find(cs, {"state", "waiting"});
      if (term && term->is_object() && num(*term, {"exitCode"}) == 0) continue;
      if (restartable && flag(cs, {"started"})) {
        if (flag(cs, {"ready"})) ++ready;
        continue;
      }
      if (term && term->is_object()) {
        std::string r = str(*term, {"reason"});
        if (r.empty()) {
          if (num(*term, {"signal"}) != 0) {
            reason = "Init:Signal:" + std::to_string(num(*term, {"signal"}));
          } else {
            reason = "Init:ExitCode:" + std::to_string(num(*term, {"exitCode"}));
          }
        } else {
          reason = "Init:" + r;
        }
      } else if (waiting && waiting->is_object() && !str(*waiting, {"reason"}).empty() &&
                 str(*waiting, {"reason"}) != "PodInitializing") {
        reason = "Init:" + str(*waiting, {"reason"});
      } else {
        reason = "Init:" + std::to_string(i) + "/" + std::to_string(nInit);
      }
      initializing = true;
      break;
    }
  }

  if (!initializing || hasCondition(pod, "Initialized")) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    bool hasRunning = false;
    const json* css = find(pod, {"status", "containerStatuses"});
    if (css && css->is_array()) {
      for (size_t j = css->size(); j-- > 0;) {
        const json& cs = (*css)[j];
        restarts += num(cs, {"restartCount"});
        noteRestart(cs, &lastRestart);
        const json* waiting = find(cs, {"state", "waiting"});
        const json* term = find(cs, {"state", "terminated"});
        const json* running = find(cs, {"state", "running"});
        if (waiting && waiting->is_object() && !str(*waiting, {"reason"}).empty()) {
          reason = str(*waiting, {"reason"});
        } else if (term && term->is_object() && !str(*term, {"reason"}).empty()) {
          reason = str(*term, {"reason"});
        } else if (term && term->is_object()) {
          if (num(*term, {"signal"}) != 0) {
            reason = "Signal:" + std::to_string(num(*term, {"signal"}));
          } else {
            reason = "ExitCode:" + std::to_string(num(*term, {"exitCode"}));
          }
        } else if (flag(cs, {"ready"}) && running && running->is_object()) {
          hasRunning = true;
          ++ready;
        }
      }
    }
    if (reason == "Completed" && hasRunning) {
      reason = hasCondition(pod, "Ready") ? "Running" : "NotReady";
    }
  }

  const json* deletion = find(pod, {"metadata", "deletionTimestamp"});
  bool deleting = deletion && deletion->is_string();
  if (deleting && str(pod, {"status", "reason"}) == "NodeLost") {
    reason = "Unknown";
  } else if (deleting && phase != "Succeeded" && phase != "Failed") {
    reason = "Terminating";
  }

  std::string restartsStr = std::to_string(restarts);
  if (restarts != 0 && lastRestart != TimePoint{}) {
    restartsStr += " (" + ageString(formatRfc3339(lastRestart), now) + " ago)";
  }
  return {std::to_string(ready) + "/" + std::to_string(total), reason, restartsStr};
}

KindSpec podKind() {
  KindSpec k = coreKind("Pod", "pods", "pod", true);
  k.short_names = {"po"};
  k.categories = {"all"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    defaultPodSpec(spec);
    defaultPodRequests(spec);
    setDefault(spec, "enableServiceLinks", true);
    // Set by the Priority admission plugin upstream; every real pod carries them.
    setDefault(spec, "priority", 0);
    setDefault(spec, "preemptionPolicy", "PreemptLowerPriority");
    // The ServiceAccount admission plugin's default account.
    if (str(spec, {"serviceAccountName"}).empty()) {
      spec["serviceAccountName"] = "default";
      spec["serviceAccount"] = "default";
    }
    // DefaultTolerationSeconds admission: tolerate a not-ready or unreachable node for 300s.
    json& tols = spec["tolerations"];
    if (!tols.is_array()) tols = json::array();
    for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
      bool has = std::any_of(tols.begin(), tols.end(), [&](const json& t) {
        std::string e = str(t, {"effect"});
        return str(t, {"key"}) == key && (e.empty() || e == "NoExecute");
      });
      if (!has) {
        tols.push_back({{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"},
                        {"tolerationSeconds", 300}});
      }
    }
    json& status = child(obj, "status");
    setDefault(status, "phase", "Pending");
    setDefault(status, "qosClass", qosClass(spec));
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* spec = find(obj, {"spec"});
    validatePodSpec(spec ? *spec : kNull, "spec", errs);
    if (old && spec) {
      const json* oldSpec = find(*old, {"spec"});
      if (oldSpec && !onlyPodSpecMutableChanges(*spec, *oldSpec)) {
        errs.forbidden("spec",
                       "pod updates may not change fields other than "
                       "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                       "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                       "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
                       "set to 1 if it was previously negative)");
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
               column("Status", "string", "The aggregate status of the containers in this pod."),
               column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
               ageColumn(),
               column("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
               column("Node", "string", "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.", 1),
               column("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.", 1),
               column("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    PodRow row = podRow(obj, now);
    std::string ip;
    if (const json* ips = find(obj, {"status", "podIPs"}); ips && ips->is_array() && !ips->empty()) {
      ip = str((*ips)[0], {"ip"});
    }
    if (ip.empty()) ip = "<none>";
    std::string node = str(obj, {"spec", "nodeName"}, "");
    if (node.empty()) node = "<none>";
    std::string nominated = str(obj, {"status", "nominatedNodeName"});
    if (nominated.empty()) nominated = "<none>";
    std::string gates = "<none>";
    if (const json* rg = find(obj, {"spec", "readinessGates"}); rg && rg->is_array() && !rg->empty()) {
      int trueCount = 0;
      for (const json& g : *rg) {
        std::string type = str(g, {"conditionType"});
        if (const json* conds = find(obj, {"status", "conditions"}); conds && conds->is_array()) {
          for (const json& c : *conds) {
            if (str(c, {"type"}) == type) {
              if (str(c, {"status"}) == "True") ++trueCount;
              break;
            }
          }
        }
      }
      gates = std::to_string(trueCount) + "/" + std::to_string(rg->size());
    }
    return std::vector<json>{str(obj, {"metadata", "name"}), row.ready, row.reason, row.restarts,
                             ageCell(obj, now), ip, node, nominated, gates};
  };
  // What the cells and row conditions read: the containers are only counted.
  auto projection = std::make_shared<JsonProjection>();
  projection->keep({"metadata", "name"})
      .keep({"metadata", "creationTimestamp"})
      .keep({"metadata", "deletionTimestamp"})
      .keepShape({"spec", "containers"})
      .keep({"spec", "initContainers", "name"})
      .keep({"spec", "initContainers", "restartPolicy"})
      .keep({"spec", "nodeName"})
      .keep({"spec", "readinessGates"})
      .keep({"status"});
  k.table_projection = std::move(projection);
  k.row_conditions = [](const json& obj) -> json {
    std::string phase = str(obj, {"status", "phase"});
    if (phase == "Succeeded") {
      return json::array({{{"type", "Completed"}, {"status", "True"}, {"reason", "Succeeded"},
                           {"message", "The pod has completed successfully."}}});
    }
    if (phase == "Failed") {
      return json::array({{{"type", "Completed"}, {"status", "True"}, {"reason", "Failed"},
                           {"message", "The pod failed."}}});
    }
    return nullptr;
  };
  k.selectable_fields = {"spec.nodeName",      "spec.restartPolicy", "spec.schedulerName",
                         "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                         "status.podIP",       "status.nominatedNodeName"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "spec.nodeName") return str(obj, {"spec", "nodeName"});
    if (f == "spec.restartPolicy") return str(obj, {"spec", "restartPolicy"});
    if (f == "spec.schedulerName") return str(obj, {"spec", "schedulerName"});
    if (f == "spec.serviceAccountName") return str(obj, {"spec", "serviceAccountName"});
    if (f == "spec.hostNetwork") return flag(obj, {"spec", "hostNetwork"}) ? "true" : "false";
    if (f == "status.phase") return str(obj, {"status", "phase"});
    if (f == "status.nominatedNodeName") return str(obj, {"status", "nominatedNodeName"});
    if (f == "status.podIP") {
      if (const json* ips = find(obj, {"status", "podIPs"}); ips && ips->is_array() && !ips->empty()) {
        return str((*ips)[0], {"ip"});
      }
      return str(obj, {"status", "podIP"});
    }
    return "";
  };
  k.plain_fields = {{"spec.nodeName", {"spec", "nodeName"}},
                    {"spec.restartPolicy", {"spec", "restartPolicy"}},
                    {"spec.schedulerName", {"spec", "schedulerName"}},
                    {"spec.serviceAccountName", {"spec", "serviceAccountName"}},
                    {"spec.hostNetwork", {"spec", "hostNetwork"}, true},
                    {"status.phase", {"status", "phase"}},
                    {"status.nominatedNodeName", {"status", "nominatedNodeName"}}};
  return k;
}

// ---- Service ---------------------------------------------------------------------------------

const std::vector<std::string> kServiceTypes = {"ClusterIP", "ExternalName", "LoadBalancer",
                                                "NodePort"};

KindSpec serviceKind() {
  KindSpec k = coreKind("Service", "services", "service", true);
  k.name_rule = KindSpec::NameRule::kLabel;
  k.short_names = {"svc"};
  k.categories = {"all"};
  k.has_status = true;
  // kube-proxy watches services with spec.clusterIP!=None.
  k.selectable_fields = {"spec.clusterIP", "spec.type"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "spec.clusterIP") return str(obj, {"spec", "clusterIP"});
    if (f == "spec.type") return str(obj, {"spec", "type"});
    return "";
  };
  k.plain_fields = {{"spec.clusterIP", {"spec", "clusterIP"}}, {"spec.type", {"spec", "type"}}};
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "type", "ClusterIP");
    std::string type = str(spec, {"type"});
    setDefault(spec, "sessionAffinity", "None");
    if (str(spec, {"sessionAffinity"}) == "ClientIP") {
      setDefault(child(child(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds", 10800);
    }
    if (auto it = spec.find("ports"); it != spec.end() && it->is_array()) {
      for (json& p : *it) {
        if (!p.is_object()) continue;
        setDefault(p, "protocol", "TCP");
        if (p.contains("port")) setDefault(p, "targetPort", p["port"]);
        if (type == "ClusterIP" || type == "ExternalName") {
          // not allocated for these types
        }
      }
    }
    if (type != "ExternalName") {
      setDefault(spec, "ipFamilies", json::array({"IPv4"}));
      setDefault(spec, "ipFamilyPolicy", "SingleStack");
      setDefault(spec, "internalTrafficPolicy", "Cluster");
    }
    if (type == "NodePort" || type == "LoadBalancer") {
      setDefault(spec, "externalTrafficPolicy", "Cluster");
    }
    if (type == "LoadBalancer") setDefault(spec, "allocateLoadBalancerNodePorts", true);
    if (spec.contains("clusterIP") && spec["clusterIP"].is_string() &&
        !spec["clusterIP"].get<std::string>().empty()) {
      setDefault(spec, "clusterIPs", json::array({spec["clusterIP"]}));
    }
    child(child(obj, "status"), "loadBalancer");
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json empty = json::object();
    const json* specp = find(obj, {"spec"});
    const json& spec = specp && specp->is_object() ? *specp : empty;
    std::string type = str(spec, {"type"}, "ClusterIP");
    if (std::find(kServiceTypes.begin(), kServiceTypes.end(), type) == kServiceTypes.end()) {
      errs.notSupported("spec.type", type, kServiceTypes);
    }
    std::string clusterIP = str(spec, {"clusterIP"});
    bool headless = clusterIP == "None";
    const json* ports = find(spec, {"ports"});
    size_t nports = ports && ports->is_array() ? ports->size() : 0;
    if (type == "ExternalName" && (!clusterIP.empty() || count(spec, {"clusterIPs"}) > 0)) {
      errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services");
    }
    if (const std::string etp = str(spec, {"externalTrafficPolicy"});
        !etp.empty() && type != "NodePort" && type != "LoadBalancer" &&
        count(spec, {"externalIPs"}) == 0) {
      errs.invalid("spec.externalTrafficPolicy", etp,
                   "may only be set for externally-accessible services");
    }
    if (type == "ExternalName") {
      std::string en = str(spec, {"externalName"});
      if (en.empty()) {
        errs.required("spec.externalName");
      } else {
        for (const auto& m : validateDns1123Subdomain(en)) errs.invalid("spec.externalName", en, m);
      }
    } else if (nports == 0 && !headless) {
      errs.required("spec.ports");
    }
    if (headless && (type == "NodePort" || type == "LoadBalancer")) {
      errs.invalid("spec.clusterIPs[0]", clusterIP,
                   "may not be set to 'None' for " + type + " services");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < nports; ++i) {
      const json& p = (*ports)[i];
      std::string pp = at("spec", "ports", i);
      std::string name = str(p, {"name"});
      if (name.empty()) {
        if (nports > 1) errs.required(at(pp, "name"));
      } else {
        for (const auto& m : validateDns1123Label(name)) errs.invalid(at(pp, "name"), name, m);
        if (!names.insert(name).second) errs.duplicate(at(pp, "name"), name);
      }
      const json* port = find(p, {"port"});
      if (!port || !port->is_number_integer() || port->get<int64_t>() < 1 ||
          port->get<int64_t>() > 65535) {
        errs.invalid(at(pp, "port"), port ? *port : json(0), "must be between 1 and 65535, inclusive");
      }
      std::string proto = str(p, {"protocol"}, "TCP");
      if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
        errs.notSupported(at(pp, "protocol"), proto, {"SCTP", "TCP", "UDP"});
      }
      if (const json* tp = find(p, {"targetPort"}); tp && !tp->is_null()) {
        if (tp->is_number_integer()) {
          if (tp->get<int64_t>() < 1 || tp->get<int64_t>() > 65535) {
            errs.invalid(at(pp, "targetPort"), *tp, "must be between 1 and 65535, inclusive");
          }
        } else if (tp->is_string()) {
          for (const auto& m : validateIanaSvcName(tp->get<std::string>())) {
            errs.invalid(at(pp, "targetPort"), *tp, m);
          }
        }
      }
      if (const json* np = find(p, {"nodePort"}); np && np->is_number() && np->get<int64_t>() != 0) {
        if (type == "ClusterIP" || type == "ExternalName") {
          errs.forbidden(at(pp, "nodePort"), "may not be used when `type` is '" + type + "'");
        } else if (np->get<int64_t>() < 30000 || np->get<int64_t>() > 32767) {
          errs.invalid(at(pp, "nodePort"), *np,
                       "provided port is not in the valid range. The range of valid ports is "
                       "30000-32767");
        }
      }
    }
    std::string affinity = str(spec, {"sessionAffinity"}, "None");
    if (affinity != "None" && affinity != "ClientIP") {
      errs.notSupported("spec.sessionAffinity", affinity, {"ClientIP", "None"});
    }
    for (const char* f : {"externalTrafficPolicy", "internalTrafficPolicy"}) {
      std::string v = str(spec, {f});
      if (!v.empty() && v != "Cluster" && v != "Local") {
        errs.notSupported(at("spec", f), v, {"Cluster", "Local"});
      }
    }
    if (old && type != "ExternalName" && str(*old, {"spec", "type"}) != "ExternalName") {
      auto primary = [](const json& svc) {
        const json* ips = find(svc, {"spec", "clusterIPs"});
        if (ips && ips->is_array() && !ips->empty() && (*ips)[0].is_string()) {
          return (*ips)[0].get<std::string>();
        }
        return str(svc, {"spec", "clusterIP"});
      };
      std::string oldIP = primary(*old);
      std::string newIP = primary(obj);
      const json* newIPs = find(spec, {"clusterIPs"});
      json shown = newIPs && newIPs->is_array() && !newIPs->empty()
                       ? *newIPs
                       : (newIP.empty() ? json() : json::array({newIP}));
      // A changed clusterIP under unchanged clusterIPs is a change too (upstream normalizes
      // clusterIPs[0] to it first).
      if (std::string ip = str(spec, {"clusterIP"}); !ip.empty() && ip != oldIP) {
        newIP = ip;
        shown = json::array({ip});
      }
      // An empty clusterIP on update is not an error: upstream's patchAllocatedValues keeps the
      // allocated address when a client resubmits its original manifest (the server's
      // allocator does the same here).
      if (!oldIP.empty() && !newIP.empty() && newIP != oldIP) {
        errs.invalidText("spec.clusterIPs[0]", goStringSlice(&shown), "may not change once set");
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP."),
               column("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
               column("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
               column("Port(s)", "string", "The list of ports that are exposed by this service."),
               ageColumn(),
               column("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    std::string type = str(obj, {"spec", "type"});
    std::string clusterIP = "<none>";
    if (const json* ips = find(obj, {"spec", "clusterIPs"}); ips && ips->is_array() && !ips->empty() &&
                                                            (*ips)[0].is_string()) {
      clusterIP = (*ips)[0].get<std::string>();
    } else if (!str(obj, {"spec", "clusterIP"}).empty()) {
      clusterIP = str(obj, {"spec", "clusterIP"});
    }
    std::vector<std::string> externalIPs;
    if (const json* e = find(obj, {"spec", "externalIPs"}); e && e->is_array()) {
      for (const json& ip : *e) {
        if (ip.is_string()) externalIPs.push_back(ip.get<std::string>());
      }
    }
    std::string external;
    if (type == "ClusterIP" || type == "NodePort") {
      external = externalIPs.empty() ? "<none>" : join(externalIPs, ",");
    } else if (type == "LoadBalancer") {
      std::vector<std::string> lb;
      if (const json* ing = find(obj, {"status", "loadBalancer", "ingress"}); ing && ing->is_array()) {
        for (const json& i : *ing) {
          if (!str(i, {"ip"}).empty()) lb.push_back(str(i, {"ip"}));
          else if (!str(i, {"hostname"}).empty()) lb.push_back(str(i, {"hostname"}));
        }
      }
      lb.insert(lb.end(), externalIPs.begin(), externalIPs.end());
      external = lb.empty() ? "<pending>" : join(lb, ",");
    } else if (type == "ExternalName") {
      external = str(obj, {"spec", "externalName"});
    } else {
      external = "<unknown>";
    }
    std::vector<std::string> ports;
    if (const json* ps = find(obj, {"spec", "ports"}); ps && ps->is_array()) {
      for (const json& p : *ps) {
        std::string proto = str(p, {"protocol"});
        int64_t np = num(p, {"nodePort"});
        std::string s = std::to_string(num(p, {"port"}));
        if (np != 0) s += ":" + std::to_string(np);
        ports.push_back(s + "/" + proto);
      }
    }
    std::string portStr = ports.empty() ? "<none>" : join(ports, ",");
    return std::vector<json>{str(obj, {"metadata", "name"}), type, clusterIP, external, portStr,
                             ageCell(obj, now), formatLabels(find(obj, {"spec", "selector"}))};
  };
  return k;
}

// ---- Endpoints -------------------------------------------------------------------------------

std::string formatEndpoints(const json* subsets) {
  if (!subsets || !subsets->is_array() || subsets->empty()) return "<none>";
  std::vector<std::string> list;
  const size_t kMax = 3;
  bool more = false;
  size_t total = 0;
  auto hostPort = [](const std::string& ip, int64_t port) {
    std::string h = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    return h + ":" + std::to_string(port);
  };
  for (const json& ss : *subsets) {
    const json* addrs = find(ss, {"addresses"});
    size_t naddr = addrs && addrs->is_array() ? addrs->size() : 0;
    const json* ports = find(ss, {"ports"});
    if (!ports || !ports->is_array() || ports->empty()) {
      total += naddr;
      for (size_t i = 0; i < naddr; ++i) {
        if (list.size() == kMax) {
          more = true;
          break;
        }
        list.push_back(str((*addrs)[i], {"ip"}));
      }
      continue;
    }
    for (const json& port : *ports) {
      total += naddr;
      for (size_t i = 0; i < naddr; ++i) {
        if (list.size() == kMax) {
          more = true;
          break;
        }
        list.push_back(hostPort(str((*addrs)[i], {"ip"}), num(port, {"port"})));
      }
    }
  }
  std::string ret = join(list, ",");
  if (more) ret += " + " + std::to_string(total - kMax) + " more...";
  return ret;
}

KindSpec endpointsKind() {
  KindSpec k = coreKind("Endpoints", "endpoints", "endpoints", true);
  k.short_names = {"ep"};
  k.defaults = [](json& obj) {
    if (auto it = obj.find("subsets"); it != obj.end() && it->is_array()) {
      for (json& ss : *it) {
        if (auto ps = ss.find("ports"); ps != ss.end() && ps->is_array()) {
          for (json& p : *ps) {
            if (p.is_object()) setDefault(p, "protocol", "TCP");
          }
        }
      }
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    if (const json* subsets = find(obj, {"subsets"}); subsets && subsets->is_array()) {
      for (size_t i = 0; i < subsets->size(); ++i) {
        const json& ss = (*subsets)[i];
        std::string sp = at("", "subsets", i);
        for (const char* list : {"addresses", "notReadyAddresses"}) {
          if (const json* as = find(ss, {list}); as && as->is_array()) {
            for (size_t j = 0; j < as->size(); ++j) {
              if (str((*as)[j], {"ip"}).empty()) errs.required(at(at(sp, list, j), "ip"));
            }
          }
        }
        if (const json* ps = find(ss, {"ports"}); ps && ps->is_array()) {
          for (size_t j = 0; j < ps->size(); ++j) {
            const json* port = find((*ps)[j], {"port"});
            if (!port || !port->is_number_integer() || port->get<int64_t>() < 1 ||
                port->get<int64_t>() > 65535) {
              errs.invalid(at(at(sp, "ports", j), "port"), port ? *port : json(0),
                           "must be between 1 and 65535, inclusive");
            }
          }
        }
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Endpoints", "string", "Endpoints of the endpoints resource"),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), formatEndpoints(find(obj, {"subsets"})),
                             ageCell(obj, now)};
  };
  return k;
}

// ---- Node ------------------------------------------------------------------------------------

std::string nodeAddress(const json& node, std::string_view type) {
  if (const json* as = find(node, {"status", "addresses"}); as && as->is_array()) {
    for (const json& a : *as) {
      if (str(a, {"type"}) == type) return str(a, {"address"});
    }
  }
  return "<none>";
}

KindSpec nodeKind() {
  KindSpec k = coreKind("Node", "nodes", "node", false);
  k.short_names = {"no"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    json& status = child(obj, "status");
    if (status.contains("capacity") && status["capacity"].is_object()) {
      setDefault(status, "allocatable", status["capacity"]);
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    if (const json* taints = find(obj, {"spec", "taints"}); taints && taints->is_array()) {
      for (size_t i = 0; i < taints->size(); ++i) {
        const json& t = (*taints)[i];
        std::string tp = at("spec", "taints", i);
        if (str(t, {"key"}).empty()) errs.required(at(tp, "key"));
        std::string effect = str(t, {"effect"});
        if (effect.empty()) {
          errs.required(at(tp, "effect"));
        } else if (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute") {
          errs.notSupported(at(tp, "effect"), effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
        }
      }
    }
    if (old) {
      std::string oldCidr = str(*old, {"spec", "podCIDR"});
      if (!oldCidr.empty() && str(obj, {"spec", "podCIDR"}) != oldCidr) {
        errs.forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid");
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Status", "string", "The status of the node"),
               column("Roles", "string", "The roles of the node"),
               ageColumn(),
               column("Version", "string", "Kubelet Version reported by the node."),
               column("Internal-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1),
               column("External-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1),
               column("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
               column("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
               column("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<std::string> status;
    if (const json* conds = find(obj, {"status", "conditions"}); conds && conds->is_array()) {
      for (const json& c : *conds) {
        if (str(c, {"type"}) == "Ready") {
          status.push_back(str(c, {"status"}) == "True" ? "Ready" : "NotReady");
          break;
        }
      }
    }
    if (status.empty()) status.push_back("Unknown");
    if (flag(obj, {"spec", "unschedulable"})) status.push_back("SchedulingDisabled");
    std::set<std::string> roles;
    if (const json* labels = find(obj, {"metadata", "labels"}); labels && labels->is_object()) {
      const std::string prefix = "node-role.kubernetes.io/";
      for (auto it = labels->begin(); it != labels->end(); ++it) {
        if (startsWith(it.key(), prefix) && it.key().size() > prefix.size()) {
          roles.insert(it.key().substr(prefix.size()));
        } else if (it.key() == "kubernetes.io/role" && it.value().is_string() &&
                   !it.value().get<std::string>().empty()) {
          roles.insert(it.value().get<std::string>());
        }
      }
    }
    std::string roleStr = join(std::vector<std::string>(roles.begin(), roles.end()), ",");
    if (roleStr.empty()) roleStr = "<none>";
    auto orUnknown = [](std::string s) { return s.empty() ? std::string("<unknown>") : s; };
    return std::vector<json>{str(obj, {"metadata", "name"}), join(status, ","), roleStr,
                             ageCell(obj, now), str(obj, {"status", "nodeInfo", "kubeletVersion"}),
                             nodeAddress(obj, "InternalIP"), nodeAddress(obj, "ExternalIP"),
                             orUnknown(str(obj, {"status", "nodeInfo", "osImage"})),
                             orUnknown(str(obj, {"status", "nodeInfo", "kernelVersion"})),
                             orUnknown(str(obj, {"status", "nodeInfo", "containerRuntimeVersion"}))};
  };
  k.selectable_fields = {"spec.unschedulable"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "spec.unschedulable") return flag(obj, {"spec", "unschedulable"}) ? "true" : "false";
    return "";
  };
  k.plain_fields = {{"spec.unschedulable", {"spec", "unschedulable"}, true}};
  return k;
}

// ---- Event -----------------------------------------------------------------------------------

KindSpec eventKind() {
  KindSpec k = coreKind("Event", "events", "event", true);
  k.short_names = {"ev"};
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    std::string ns = str(obj, {"metadata", "namespace"});
    std::string ions = str(obj, {"involvedObject", "namespace"});
    if (!ions.empty() && !ns.empty() && ions != ns) {
      errs.invalid("involvedObject.namespace", ions, "does not match event.namespace");
    }
    std::string type = str(obj, {"type"});
    if (!type.empty() && type != "Normal" && type != "Warning") {
      errs.notSupported("type", type, {"Normal", "Warning"});
    }
    return errs.take();
  };
  k.columns = eventColumns();
  k.cells = eventCells;
  k.selectable_fields = eventSelectableFields();
  k.field_value = eventFieldValue;
  k.plain_fields = eventPlainFields();
  return k;
}

// ---- ConfigMap / Secret ----------------------------------------------------------------------

constexpr size_t kMaxDataSize = 1024 * 1024;

void validateDataKeys(const json* data, const std::string& field, Errors& errs) {
  if (!data || !data->is_object()) return;
  for (auto it = data->begin(); it != data->end(); ++it) {
    for (const auto& m : validateConfigMapKey(it.key())) {
      errs.invalid(keyed(field, it.key()), it.key(), m);
    }
  }
}

void validateImmutableData(const json& obj, const json* old, const std::vector<const char*>& fields,
                           Errors& errs) {
  if (!old || !flag(*old, {"immutable"})) return;
  if (!flag(obj, {"immutable"})) {
    errs.forbidden("immutable", "field is immutable when `immutable` is set");
  }
  for (const char* f : fields) {
    const json* a = find(obj, {f});
    const json* b = find(*old, {f});
    json na = a ? *a : json::object();
    json nb = b ? *b : json::object();
    if (na.is_null()) na = json::object();
    if (nb.is_null()) nb = json::object();
    if (na != nb) errs.forbidden(f, "field is immutable when `immutable` is set");
  }
}

KindSpec configMapKind() {
  KindSpec k = coreKind("ConfigMap", "configmaps", "configmap", true);
  k.short_names = {"cm"};
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* data = find(obj, {"data"});
    const json* binary = find(obj, {"binaryData"});
    validateDataKeys(data, "data", errs);
    validateDataKeys(binary, "binaryData", errs);
    size_t total = 0;
    if (data && data->is_object()) {
      for (auto it = data->begin(); it != data->end(); ++it) {
        if (it.value().is_string()) total += it.value().get<std::string>().size();
        if (binary && binary->is_object() && binary->contains(it.key())) {
          errs.invalid(keyed("data", it.key()), it.key(), "duplicate of key present in binaryData");
        }
      }
    }
    if (binary && binary->is_object()) {
      for (auto it = binary->begin(); it != binary->end(); ++it) {
        if (it.value().is_string()) total += it.value().get<std::string>().size() * 3 / 4;
      }
    }
    // upstream reports the ConfigMap's size on the empty path, printed "[]".
    if (total > kMaxDataSize) errs.tooLong("[]", "may not be more than 1048576 bytes");
    validateImmutableData(obj, old, {"data", "binaryData"}, errs);
    return errs.take();
  };
  k.columns = {nameColumn(), column("Data", "integer", "Number of data entries in the config map"),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             static_cast<int64_t>(count(obj, {"data"}) + count(obj, {"binaryData"})),
                             ageCell(obj, now)};
  };
  return k;
}

KindSpec secretKind() {
  KindSpec k = coreKind("Secret", "secrets", "secret", true);
  k.defaults = [](json& obj) {
    setDefault(obj, "type", "Opaque");
    // stringData is write-only: merged into data (base64) and dropped, as the v1 conversion does.
    if (auto it = obj.find("stringData"); it != obj.end()) {
      if (it->is_object()) {
        json& data = child(obj, "data");
        for (auto s = it->begin(); s != it->end(); ++s) {
          if (s.value().is_string()) data[s.key()] = base64Encode(s.value().get<std::string>());
        }
      }
      obj.erase("stringData");
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* data = find(obj, {"data"});
    validateDataKeys(data, "data", errs);
    size_t total = 0;
    if (data && data->is_object()) {
      for (auto it = data->begin(); it != data->end(); ++it) {
        std::string decoded;
        if (!it.value().is_string() || !base64Decode(it.value().get<std::string>(), &decoded)) {
          errs.invalid(keyed("data", it.key()), "<secret contents redacted>",
                       "must be base64-encoded");
          continue;
        }
        total += decoded.size();
      }
    }
    if (total > kMaxDataSize) errs.tooLong("data", "may not be more than 1048576 bytes");
    std::string type = str(obj, {"type"}, "Opaque");
    auto requireKey = [&](const char* key) {
      if (!data || !data->is_object() || !data->contains(key)) errs.required(keyed("data", key));
    };
    if (type == "kubernetes.io/tls") {
      requireKey("tls.crt");
      requireKey("tls.key");
    } else if (type == "kubernetes.io/dockerconfigjson") {
      requireKey(".dockerconfigjson");
    } else if (type == "kubernetes.io/dockercfg") {
      requireKey(".dockercfg");
    } else if (type == "kubernetes.io/basic-auth") {
      if (!data || !data->is_object() || (!data->contains("username") && !data->contains("password"))) {
        errs.required("data[username]");
      }
    } else if (type == "kubernetes.io/ssh-auth") {
      requireKey("ssh-privatekey");
    } else if (type == "kubernetes.io/service-account-token") {
      if (str(obj, {"metadata", "annotations", "kubernetes.io/service-account.name"}).empty()) {
        errs.required("metadata.annotations[kubernetes.io/service-account.name]");
      }
    }
    if (old) {
      std::string oldType = str(*old, {"type"}, "Opaque");
      if (oldType != type) errs.immutable("type", type);
    }
    validateImmutableData(obj, old, {"data"}, errs);
    return errs.take();
  };
  k.columns = {nameColumn(), column("Type", "string", "The type of the secret"),
               column("Data", "integer", "Number of data entries in the secret"), ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"type"}),
                             static_cast<int64_t>(count(obj, {"data"})), ageCell(obj, now)};
  };
  k.selectable_fields = {"type"};
  k.field_value = [](const json& obj, const std::string& f) {
    return f == "type" ? str(obj, {"type"}) : std::string();
  };
  k.plain_fields = {{"type", {"type"}}};
  return k;
}

KindSpec serviceAccountKind() {
  KindSpec k = coreKind("ServiceAccount", "serviceaccounts", "serviceaccount", true);
  k.short_names = {"sa"};
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    if (const json* ss = find(obj, {"secrets"}); ss && ss->is_array()) {
      for (size_t i = 0; i < ss->size(); ++i) {
        if (str((*ss)[i], {"name"}).empty()) errs.required(at(at("", "secrets", i), "name"));
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Secrets", "integer", "Number of secrets associated with this service account"),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             static_cast<int64_t>(count(obj, {"secrets"})), ageCell(obj, now)};
  };
  return k;
}

}  // namespace

// ---- shared event table ------------------------------------------------------------------------

std::vector<ColumnDefinition> eventColumns() {
  ColumnDefinition name = nameColumn();
  name.priority = 1;
  return {column("Last Seen", "string", "The time of the most recent occurrence of this event."),
          column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
          column("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
          column("Object", "string", "The object that this event is about."),
          column("Subobject", "string", "The subobject that this event is about.", 1),
          column("Source", "string", "The component reporting this event. Should be a short machine understandable string.", 1),
          column("Message", "string", "A human-readable description of the status of this operation."),
          column("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1),
          column("Count", "integer", "The number of times this event has occurred.", 1),
          name};
}

std::vector<json> eventCells(const json& ev, TimePoint now) {
  auto present = [&](std::initializer_list<std::string_view> keys) {
    const json* v = find(ev, keys);
    return v && v->is_string() && !v->get<std::string>().empty() ? v : nullptr;
  };
  std::string first = present({"firstTimestamp"}) ? since(find(ev, {"firstTimestamp"}), now)
                                                  : since(present({"eventTime"}), now);
  std::string last = present({"lastTimestamp"}) ? since(find(ev, {"lastTimestamp"}), now) : first;
  int64_t cnt = num(ev, {"count"});
  if (const json* series = find(ev, {"series"}); series && series->is_object()) {
    last = since(find(*series, {"lastObservedTime"}), now);
    cnt = num(*series, {"count"});
  } else if (cnt == 0) {
    cnt = 1;
  }
  std::string kind = toLower(str(ev, {"involvedObject", "kind"}));
  std::string name = str(ev, {"involvedObject", "name"});
  std::string target = name.empty() ? kind : kind + "/" + name;
  std::string component = str(ev, {"source", "component"});
  if (component.empty()) component = str(ev, {"reportingComponent"});
  std::string host = str(ev, {"source", "host"});
  if (host.empty()) host = str(ev, {"reportingInstance"});
  std::string source = component.empty() ? "" : (host.empty() ? component : component + ", " + host);
  return {last, str(ev, {"type"}), str(ev, {"reason"}), target,
          str(ev, {"involvedObject", "fieldPath"}), source, std::string(trim(str(ev, {"message"}))),
          first, cnt, str(ev, {"metadata", "name"})};
}

std::vector<std::string> eventSelectableFields() {
  return {"involvedObject.kind",       "involvedObject.namespace", "involvedObject.name",
          "involvedObject.uid",        "involvedObject.apiVersion",
          "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
          "reportingComponent",        "source", "type"};
}

std::vector<KindSpec::PlainField> eventPlainFields() {
  std::vector<KindSpec::PlainField> out;
  for (const char* f : {"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"})
    out.push_back({std::string("involvedObject.") + f, {"involvedObject", f}});
  out.push_back({"reason", {"reason"}});
  out.push_back({"type", {"type"}});
  out.push_back({"source", {"source", "component"}});
  out.push_back({"reportingComponent", {"reportingComponent"}});
  return out;
}

std::string eventFieldValue(const json& ev, const std::string& f) {
  const std::string prefix = "involvedObject.";
  if (startsWith(f, prefix)) return str(ev, {"involvedObject", f.substr(prefix.size())});
  if (f == "reason") return str(ev, {"reason"});
  if (f == "type") return str(ev, {"type"});
  if (f == "source") return str(ev, {"source", "component"});
  if (f == "reportingComponent") return str(ev, {"reportingComponent"});
  return "";
}

namespace {

// ---- PersistentVolumeClaim, PersistentVolume -------------------------------------------------

// helper.GetAccessModesAsString: the distinct modes, in this order, abbreviated.
std::string accessModesText(const json* modes) {
  static const std::pair<const char*, const char*> kModes[] = {{"ReadWriteOnce", "RWO"},
                                                               {"ReadOnlyMany", "ROX"},
                                                               {"ReadWriteMany", "RWX"},
                                                               {"ReadWriteOncePod", "RWOP"}};
  std::string out;
  for (const auto& [mode, abbrev] : kModes) {
    bool has = false;
    if (modes && modes->is_array())
      for (const json& m : *modes) has = has || (m.is_string() && m.get<std::string>() == mode);
    if (has) out += (out.empty() ? "" : ",") + std::string(abbrev);
  }
  return out;
}

// The storage class: the beta annotation first, as upstream's helper reads it.
std::string storageClassOf(const json& obj) {
  std::string beta =
      str(obj, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  return !beta.empty() ? beta : str(obj, {"spec", "storageClassName"});
}

// The phase, or "Terminating" once the object is being deleted.
std::string phaseOrTerminating(const json& obj) {
  const json* ts = find(obj, {"metadata", "deletionTimestamp"});
  return ts && !ts->is_null() ? "Terminating" : str(obj, {"status", "phase"});
}

std::string orUnset(const std::string& v) { return v.empty() ? "<unset>" : v; }

// A quantity cell: the text as written ("5Gi"), "0" when absent.
std::string quantityText(const json* q) {
  if (!q || q->is_null()) return "0";
  return q->is_string() ? q->get<std::string>() : formatValue(*q);
}

// A storage quantity ("10Gi" or a number) that must be present and greater than zero.
void validateStorage(const json* v, const std::string& path, Errors& errs) {
  if (!v || v->is_null()) return errs.required(path);
  std::optional<long double> q;
  if (v->is_string())
    q = parseQuantity(v->get<std::string>());
  else if (v->is_number())
    q = v->get<long double>();
  if (!q || *q <= 0) errs.invalid(path, *v, "must be greater than zero");
}

void validateAccessModes(const json* modes, const std::string& path, Errors& errs) {
  static const std::vector<std::string> kSupported = {"ReadOnlyMany", "ReadWriteMany",
                                                      "ReadWriteOnce", "ReadWriteOncePod"};
  if (!modes || !modes->is_array() || modes->empty()) {
    errs.required(path, "at least 1 access mode is required");
    return;
  }
  bool once_pod = false;
  for (const json& m : *modes) {
    std::string v = m.is_string() ? m.get<std::string>() : m.dump();
    if (std::find(kSupported.begin(), kSupported.end(), v) == kSupported.end()) {
      errs.notSupported(path, v, kSupported);
    }
    once_pod = once_pod || v == "ReadWriteOncePod";
  }
  if (once_pod && modes->size() > 1) {
    errs.forbidden(path, "may not use ReadWriteOncePod with other access modes");
  }
}

void validateVolumeMode(const json* mode, const std::string& path, Errors& errs) {
  if (!mode || mode->is_null()) return;
  std::string v = mode->is_string() ? mode->get<std::string>() : mode->dump();
  if (v != "Filesystem" && v != "Block") errs.notSupported(path, v, {"Block", "Filesystem"});
}

KindSpec persistentVolumeClaimKind() {
  KindSpec k =
      coreKind("PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true);
  k.short_names = {"pvc"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    setDefault(child(obj, "spec"), "volumeMode", "Filesystem");
    setDefault(child(obj, "status"), "phase", "Pending");
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateAccessModes(find(obj, {"spec", "accessModes"}), "spec.accessModes", errs);
    validateStorage(find(obj, {"spec", "resources", "requests", "storage"}),
                    "spec.resources[storage]", errs);
    validateVolumeMode(find(obj, {"spec", "volumeMode"}), "spec.volumeMode", errs);
    if (old) {
      // Upstream: a claim's spec is immutable after creation except resources.requests and
      // volumeAttributesClassName; volumeName may be set once (binding).
      json spec = obj.value("spec", json::object());
      json old_spec = old->value("spec", json::object());
      for (json* sp : {&spec, &old_spec}) {
        if (sp->contains("resources") && (*sp)["resources"].is_object())
          (*sp)["resources"].erase("requests");
        sp->erase("volumeAttributesClassName");
      }
      if (str(*old, {"spec", "volumeName"}).empty()) {
        spec.erase("volumeName");
        old_spec.erase("volumeName");
      }
      if (spec != old_spec) {
        errs.forbidden("spec",
                       "spec is immutable after creation except resources.requests and "
                       "volumeAttributesClassName for bound claims");
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Status", "string", "The phase of the claim."),
               column("Volume", "string", "The volume the claim is bound to."),
               column("Capacity", "string", "The capacity of the bound volume."),
               column("Access Modes", "string", "The access modes of the bound volume."),
               column("StorageClass", "string", "The storage class the claim asks for."),
               column("VolumeAttributesClass", "string", "The volume attributes class in use."),
               ageColumn(),
               column("VolumeMode", "string", "Filesystem or Block.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    std::string volume = str(obj, {"spec", "volumeName"});
    std::string capacity, modes;
    if (!volume.empty()) {
      const json* cap = find(obj, {"status", "capacity", "storage"});
      capacity = quantityText(cap);
      modes = accessModesText(find(obj, {"status", "accessModes"}));
    }
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             phaseOrTerminating(obj),
                             volume,
                             capacity,
                             modes,
                             storageClassOf(obj),
                             orUnset(str(obj, {"status", "currentVolumeAttributesClassName"})),
                             ageCell(obj, now),
                             orUnset(str(obj, {"spec", "volumeMode"}))};
  };
  return k;
}

// The inline PersistentVolumeSource members: exactly one is set.
constexpr const char* kVolumeSources[] = {"awsElasticBlockStore",
                                          "azureDisk",
                                          "azureFile",
                                          "cephfs",
                                          "cinder",
                                          "csi",
                                          "fc",
                                          "flexVolume",
                                          "flocker",
                                          "gcePersistentDisk",
                                          "glusterfs",
                                          "hostPath",
                                          "iscsi",
                                          "local",
                                          "nfs",
                                          "photonPersistentDisk",
                                          "portworxVolume",
                                          "quobyte",
                                          "rbd",
                                          "scaleIO",
                                          "storageos",
                                          "vsphereVolume"};

KindSpec persistentVolumeKind() {
  KindSpec k = coreKind("PersistentVolume", "persistentvolumes", "persistentvolume", false);
  k.short_names = {"pv"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "persistentVolumeReclaimPolicy", "Retain");
    setDefault(spec, "volumeMode", "Filesystem");
    setDefault(child(obj, "status"), "phase", "Pending");
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateAccessModes(find(obj, {"spec", "accessModes"}), "spec.accessModes", errs);
    validateStorage(find(obj, {"spec", "capacity", "storage"}), "spec.capacity[storage]", errs);
    std::string policy = str(obj, {"spec", "persistentVolumeReclaimPolicy"});
    if (policy != "Retain" && policy != "Recycle" && policy != "Delete") {
      errs.notSupported("spec.persistentVolumeReclaimPolicy", policy,
                        {"Delete", "Recycle", "Retain"});
    }
    validateVolumeMode(find(obj, {"spec", "volumeMode"}), "spec.volumeMode", errs);
    int sources = 0;
    for (const char* src : kVolumeSources) {
      const json* v = find(obj, {"spec", src});
      if (v && !v->is_null()) ++sources;
    }
    if (sources == 0) errs.required("spec", "must specify a volume type");
    if (sources > 1) errs.forbidden("spec", "may not specify more than 1 volume type");
    if (find(obj, {"spec", "hostPath"}) && str(obj, {"spec", "hostPath", "path"}).empty()) {
      errs.required("spec.hostPath.path");
    }
    if (old) {
      for (const char* src : kVolumeSources) {
        const json* a = find(obj, {"spec", src});
        const json* b = find(*old, {"spec", src});
        if ((a ? *a : json()) != (b ? *b : json())) {
          errs.forbidden("spec.persistentvolumesource",
                         "spec.persistentvolumesource is immutable after creation");
          break;
        }
      }
      const json* a = find(obj, {"spec", "volumeMode"});
      const json* b = find(*old, {"spec", "volumeMode"});
      if (a && b && *a != *b) errs.immutable("spec.volumeMode", *a);
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Capacity", "string", "The capacity of the volume."),
               column("Access Modes", "string", "The ways the volume can be mounted."),
               column("Reclaim Policy", "string", "What happens to the volume once released."),
               column("Status", "string", "The phase of the volume."),
               column("Claim", "string", "The claim bound to the volume (namespace/name)."),
               column("StorageClass", "string", "The storage class of the volume."),
               column("VolumeAttributesClass", "string", "The volume attributes class."),
               column("Reason", "string", "Why the volume is in its phase."),
               ageColumn(),
               column("VolumeMode", "string", "Filesystem or Block.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    std::string claim;
    if (const json* ref = find(obj, {"spec", "claimRef"}); ref && ref->is_object()) {
      claim = str(*ref, {"namespace"}) + "/" + str(*ref, {"name"});
    }
    const json* cap = find(obj, {"spec", "capacity", "storage"});
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             quantityText(cap),
                             accessModesText(find(obj, {"spec", "accessModes"})),
                             str(obj, {"spec", "persistentVolumeReclaimPolicy"}),
                             phaseOrTerminating(obj),
                             claim,
                             storageClassOf(obj),
                             orUnset(str(obj, {"spec", "volumeAttributesClassName"})),
                             str(obj, {"status", "reason"}),
                             ageCell(obj, now),
                             orUnset(str(obj, {"spec", "volumeMode"}))};
  };
  return k;
}

// ---- ReplicationController -------------------------------------------------------------------

KindSpec replicationControllerKind() {
  KindSpec k =
      coreKind("ReplicationController", "replicationcontrollers", "replicationcontroller", true);
  k.short_names = {"rc"};
  k.categories = {"all"};
  k.has_status = true;
  k.has_scale = true;
  k.uses_generation = true;
  // The Scale's status.selector from the equality-only map: "a=b,c=d".
  k.scale_selector = [](const json& obj) {
    std::string s = formatLabels(find(obj, {"spec", "selector"}));
    return s == "<none>" ? std::string() : s;
  };
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    // SetDefaults_ReplicationController: the selector and the labels default to the
    // template's labels.
    const json* labels = find(spec, {"template", "metadata", "labels"});
    if (labels && labels->is_object() && !labels->empty()) {
      if (count(spec, {"selector"}) == 0) spec["selector"] = *labels;
      if (count(obj, {"metadata", "labels"}) == 0) child(obj, "metadata")["labels"] = *labels;
    }
    setDefault(spec, "replicas", 1);
    if (spec.contains("template") && spec["template"].is_object()) {
      defaultPodTemplate(spec["template"]);
    }
  };
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    errs.nonNegative("spec.replicas", find(obj, {"spec", "replicas"}));
    errs.nonNegative("spec.minReadySeconds", find(obj, {"spec", "minReadySeconds"}));
    const json* sel = find(obj, {"spec", "selector"});
    bool has_sel = sel && sel->is_object() && !sel->empty();
    if (!has_sel) errs.required("spec.selector");
    const json* tmpl = find(obj, {"spec", "template"});
    if (!tmpl || tmpl->is_null()) {
      errs.required("spec.template");
      return errs.take();
    }
    const json* found = find(*tmpl, {"metadata", "labels"});
    const json labels = found ? *found : json::object();
    // The equality-only selector is a LabelSelector's matchLabels.
    if (has_sel && !selectorMatches(json{{"matchLabels", *sel}}, labels)) {
      errs.invalid("spec.template.metadata.labels", labels,
                   "`selector` does not match template `labels`");
    }
    validatePodTemplate(tmpl, "spec.template", errs);
    std::string rp = str(*tmpl, {"spec", "restartPolicy"});
    if (!rp.empty() && rp != "Always") {
      errs.notSupported("spec.template.spec.restartPolicy", rp, {"Always"});
    }
    return errs.take();
  };
  k.columns = {
      nameColumn(),
      column("Desired", "integer", "The number of desired replicas."),
      column("Current", "integer", "The most recently observed number of replicas."),
      column("Ready", "integer", "The number of ready replicas."),
      ageColumn(),
      column("Containers", "string", "Names of each container in the template.", 1),
      column("Images", "string", "Images referenced by each container in the template.", 1),
      column("Selector", "string", "Label selector for the pods.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    const json* pod_spec = find(obj, {"spec", "template", "spec"});
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             num(obj, {"spec", "replicas"}),
                             num(obj, {"status", "replicas"}),
                             num(obj, {"status", "readyReplicas"}),
                             ageCell(obj, now),
                             containerNames(pod_spec),
                             containerImages(pod_spec),
                             formatLabels(find(obj, {"spec", "selector"}))};
  };
  k.selectable_fields = {"status.replicas"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "status.replicas") return std::to_string(num(obj, {"status", "replicas"}));
    return "";
  };
  k.status_omit_zero = {"fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                        "observedGeneration"};
  return k;
}

}  // namespace

void registerCoreKinds(KindRegistry& reg) {
  reg.add(namespaceKind());
  reg.add(podKind());
  reg.add(serviceKind());
  reg.add(endpointsKind());
  reg.add(nodeKind());
  reg.add(eventKind());
  reg.add(configMapKind());
  reg.add(secretKind());
  reg.add(serviceAccountKind());
  reg.add(persistentVolumeClaimKind());
  reg.add(persistentVolumeKind());
  reg.add(replicationControllerKind());
}

}  // namespace berth::apiserver::kinds
