// The smaller API groups: coordination.k8s.io/v1 Lease, discovery.k8s.io/v1 EndpointSlice,
// events.k8s.io/v1 Event, policy/v1 PodDisruptionBudget, autoscaling/v2 HorizontalPodAutoscaler
// (and its autoscaling/v1 view),
// certificates.k8s.io/v1 CertificateSigningRequest, networking.k8s.io/v1 Ingress,
// scheduling.k8s.io/v1 PriorityClass.
#include <chrono>
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/name_validation.h"
#include "apiserver/kinds/priority_classes.h"
#include "apiserver/kinds/quantity.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

// ---- Lease -----------------------------------------------------------------------------------

KindSpec leaseKind() {
  KindSpec k = makeKind("coordination.k8s.io", "v1", "Lease", "leases", "lease", true);
  k.uses_generation = false;
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    errs.positive("spec.leaseDurationSeconds", find(obj, {"spec", "leaseDurationSeconds"}));
    errs.nonNegative("spec.leaseTransitions", find(obj, {"spec", "leaseTransitions"}));
    return errs.take();
  };
  k.columns = {nameColumn(), column("Holder", "string", "The holder of the lease"), ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"spec", "holderIdentity"}),
                             ageCell(obj, now)};
  };
  return k;
}

// ---- EndpointSlice ---------------------------------------------------------------------------

std::string listWithMore(const std::vector<std::string>& list, bool more, size_t total, size_t max) {
  std::string ret = join(list, ",");
  if (more) return ret + " + " + std::to_string(total - max) + " more...";
  return ret.empty() ? "<unset>" : ret;
}

KindSpec endpointSliceKind() {
  KindSpec k =
      makeKind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true);
  k.defaults = [](json& obj) {
    if (auto it = obj.find("ports"); it != obj.end() && it->is_array()) {
      for (json& p : *it) {
        if (!p.is_object()) continue;
        setDefault(p, "protocol", "TCP");
        setDefault(p, "name", "");
      }
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    std::string at_ = str(obj, {"addressType"});
    if (at_.empty()) {
      errs.required("addressType");
    } else if (at_ != "IPv4" && at_ != "IPv6" && at_ != "FQDN") {
      errs.notSupported("addressType", at_, {"FQDN", "IPv4", "IPv6"});
    }
    if (const json* eps = find(obj, {"endpoints"}); eps && eps->is_array()) {
      for (size_t i = 0; i < eps->size(); ++i) {
        std::string p = at("", "endpoints", i);
        size_t n = count((*eps)[i], {"addresses"});
        if (n == 0) {
          errs.required(at(p, "addresses"));
        } else if (n > 100) {
          errs.tooLong(at(p, "addresses"), "must have at most 100 items");
        }
      }
    }
    if (const json* ps = find(obj, {"ports"}); ps && ps->is_array()) {
      for (size_t i = 0; i < ps->size(); ++i) {
        const json* port = find((*ps)[i], {"port"});
        if (port && !port->is_null() &&
            (!port->is_number_integer() || port->get<int64_t>() < 1 || port->get<int64_t>() > 65535)) {
          errs.invalid(at(at("", "ports", i), "port"), *port, "must be between 1 and 65535, inclusive");
        }
      }
    }
    if (old && str(*old, {"addressType"}) != at_) errs.immutable("addressType", at_);
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("AddressType", "string", "The type of address carried by this EndpointSlice."),
               column("Ports", "string", "Port numbers of the EndpointSlice (first 3)."),
               column("Endpoints", "string", "Addresses of the endpoints (first 3)."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    const size_t kMax = 3;
    std::vector<std::string> ports;
    bool morePorts = false;
    size_t nPorts = 0;
    if (const json* ps = find(obj, {"ports"}); ps && ps->is_array()) {
      for (const json& p : *ps) {
        if (ports.size() < kMax) {
          std::string s = "*";
          if (isInt(find(p, {"port"}))) s = std::to_string(num(p, {"port"}));
          else if (!str(p, {"name"}).empty()) s = str(p, {"name"});
          ports.push_back(s);
        } else {
          morePorts = true;
        }
        ++nPorts;
      }
    }
    std::vector<std::string> addrs;
    bool moreAddrs = false;
    size_t nAddrs = 0;
    if (const json* eps = find(obj, {"endpoints"}); eps && eps->is_array()) {
      for (const json& e : *eps) {
        const json* as = find(e, {"addresses"});
        if (!as || !as->is_array()) continue;
        for (const json& a : *as) {
          if (addrs.size() < kMax) addrs.push_back(a.is_string() ? a.get<std::string>() : "");
          else moreAddrs = true;
          ++nAddrs;
        }
      }
    }
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"addressType"}),
                             listWithMore(ports, morePorts, nPorts, kMax),
                             listWithMore(addrs, moreAddrs, nAddrs, kMax), ageCell(obj, now)};
  };
  return k;
}

// ---- events.k8s.io Event ---------------------------------------------------------------------

// Each events.k8s.io/v1 field and its core/v1 name: the two versions of one Event.
constexpr std::pair<const char*, const char*> kEventFields[] = {
    {"metadata", "metadata"},
    {"eventTime", "eventTime"},
    {"series", "series"},
    {"reportingController", "reportingComponent"},
    {"reportingInstance", "reportingInstance"},
    {"action", "action"},
    {"reason", "reason"},
    {"regarding", "involvedObject"},
    {"related", "related"},
    {"note", "message"},
    {"type", "type"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
};

// The events.k8s.io/v1 fields under their core/v1 names, for the shared table and selectors.
json toCoreEvent(const json& ev) {
  json core = json::object();
  for (const auto& [v1, v1core] : kEventFields)
    if (const json* v = find(ev, {v1}); v && !v->is_null()) core[v1core] = *v;
  return core;
}

// The inverse of toCoreEvent: a stored core/v1 Event as events.k8s.io/v1 serves it.
void fromCoreEvent(json& obj) {
  json out = {{"apiVersion", "events.k8s.io/v1"}, {"kind", "Event"}};
  for (const auto& [v1, v1core] : kEventFields)
    if (auto it = obj.find(v1core); it != obj.end() && !it->is_null()) out[v1] = std::move(*it);
  // core/v1 always has a source; events.k8s.io/v1 leaves it out when empty.
  if (auto it = out.find("deprecatedSource"); it != out.end() && it->is_object() && it->empty())
    out.erase(it);
  obj = std::move(out);
}

// events.k8s.io/v1 Event: a view of the core/v1 Events (one store, as upstream), with the
// stricter validation upstream gives writes through this version.
KindSpec eventsV1Kind() {
  KindSpec k = makeKind("events.k8s.io", "v1", "Event", "events", "event", true);
  k.short_names = {"ev"};
  k.uses_generation = false;
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    if (!old) {
      if (str(obj, {"eventTime"}).empty()) errs.required("eventTime");
      if (str(obj, {"reportingController"}).empty()) errs.required("reportingController");
      if (str(obj, {"reportingInstance"}).empty()) errs.required("reportingInstance");
      if (str(obj, {"action"}).empty()) errs.required("action");
      if (str(obj, {"reason"}).empty()) errs.required("reason");
    }
    std::string type = str(obj, {"type"});
    if (type != "Normal" && type != "Warning") errs.notSupported("type", type, {"Normal", "Warning"});
    if (str(obj, {"note"}).size() > 1024) errs.tooLong("note", "must have at most 1024 bytes");
    return errs.take();
  };
  k.storage_version = "v1";
  k.storage_group = "";
  k.to_storage = [](json& obj) {
    json core = toCoreEvent(obj);
    core["apiVersion"] = "v1";
    core["kind"] = "Event";
    obj = std::move(core);
    return Status::ok();
  };
  k.from_storage = fromCoreEvent;
  for (const char* f :
       {"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"})
    k.field_renames.push_back({std::string("regarding.") + f, std::string("involvedObject.") + f});
  k.field_renames.push_back({"reportingController", "reportingComponent"});
  // Requests are served by the stored kind; these read this version's shape (the same
  // columns and selectors, under this version's field names).
  k.columns = eventColumns();
  k.cells = [](const json& obj, TimePoint now) { return eventCells(toCoreEvent(obj), now); };
  k.selectable_fields = eventSelectableFields();
  for (const auto& [mine, stored] : k.field_renames) k.selectable_fields.push_back(mine);
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (startsWith(f, "regarding.")) return str(obj, {"regarding", f.substr(10)});
    if (f == "reportingController") return str(obj, {"reportingController"});
    return eventFieldValue(toCoreEvent(obj), f);
  };
  for (const char* f : {"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"})
    k.plain_fields.push_back({std::string("regarding.") + f, {"regarding", f}});
  k.plain_fields.push_back({"reportingController", {"reportingController"}});
  return k;
}

// ---- PodDisruptionBudget ---------------------------------------------------------------------

std::string intOrStringText(const json* v) {
  if (!v || v->is_null()) return "N/A";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

KindSpec pdbKind() {
  KindSpec k = makeKind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
                        "poddisruptionbudget", true);
  k.short_names = {"pdb"};
  k.has_status = true;
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* mina = find(obj, {"spec", "minAvailable"});
    const json* maxu = find(obj, {"spec", "maxUnavailable"});
    if (mina && !mina->is_null() && maxu && !maxu->is_null()) {
      errs.invalid("spec", *find(obj, {"spec"}), "minAvailable and maxUnavailable cannot be both set");
    }
    validateIntOrPercent(mina, "spec.minAvailable", errs);
    validateIntOrPercent(maxu, "spec.maxUnavailable", errs);
    if (const json* sel = find(obj, {"spec", "selector"}); sel && sel->is_object()) {
      validateLabelSelector(*sel, "spec.selector", errs);
    }
    std::string policy = str(obj, {"spec", "unhealthyPodEvictionPolicy"});
    if (!policy.empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow") {
      errs.notSupported("spec.unhealthyPodEvictionPolicy", policy, {"AlwaysAllow", "IfHealthyBudget"});
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Min Available", "string", "The minimum number of pods that must be available, either as an absolute number or a percentage."),
               column("Max Unavailable", "string", "The maximum number of pods that may be unavailable, either as an absolute number or a percentage."),
               column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             intOrStringText(find(obj, {"spec", "minAvailable"})),
                             intOrStringText(find(obj, {"spec", "maxUnavailable"})),
                             num(obj, {"status", "disruptionsAllowed"}), ageCell(obj, now)};
  };
  k.status_omit_zero = {"observedGeneration"};
  return k;
}

// ---- HorizontalPodAutoscaler -----------------------------------------------------------------

std::string quantityText(const json* v) {
  if (!v || v->is_null()) return "<unknown>";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

std::string hpaTargets(const json& obj) {
  const json* specs = find(obj, {"spec", "metrics"});
  if (!specs || !specs->is_array() || specs->empty()) return "<none>";
  const json* statuses = find(obj, {"status", "currentMetrics"});
  auto status = [&](size_t i, const char* source) -> const json* {
    if (!statuses || !statuses->is_array() || i >= statuses->size()) return nullptr;
    const json* s = find((*statuses)[i], {source});
    return s && s->is_object() ? s : nullptr;
  };
  std::vector<std::string> list;
  for (size_t i = 0; i < specs->size(); ++i) {
    const json& m = (*specs)[i];
    std::string type = str(m, {"type"});
    if (type == "External" || type == "Object") {
      const char* src = type == "External" ? "external" : "object";
      const json* target = find(m, {src, "target"});
      const json* st = status(i, src);
      if (target && find(*target, {"averageValue"})) {
        std::string cur = st ? quantityText(find(*st, {"current", "averageValue"})) : "<unknown>";
        list.push_back(cur + "/" + quantityText(find(*target, {"averageValue"})) + " (avg)");
      } else {
        std::string cur = st ? quantityText(find(*st, {"current", "value"})) : "<unknown>";
        list.push_back(cur + "/" + quantityText(target ? find(*target, {"value"}) : nullptr));
      }
    } else if (type == "Pods") {
      const json* st = status(i, "pods");
      std::string cur = st ? quantityText(find(*st, {"current", "averageValue"})) : "<unknown>";
      list.push_back(cur + "/" + quantityText(find(m, {"pods", "target", "averageValue"})));
    } else if (type == "Resource" || type == "ContainerResource") {
      const char* src = type == "Resource" ? "resource" : "containerResource";
      const json* spec = find(m, {src});
      const json* st = status(i, src);
      std::string name = spec ? str(*spec, {"name"}) : "";
      std::string prefix = type == "Resource" ? name : name + " (container " + (spec ? str(*spec, {"container"}) : "") + ")";
      if (spec && find(*spec, {"target", "averageValue"})) {
        std::string cur = st ? quantityText(find(*st, {"current", "averageValue"})) : "<unknown>";
        list.push_back(prefix + ": " + cur + "/" + quantityText(find(*spec, {"target", "averageValue"})));
      } else {
        std::string cur = "<unknown>";
        if (st && isInt(find(*st, {"current", "averageUtilization"}))) {
          cur = std::to_string(num(*st, {"current", "averageUtilization"})) + "%";
        }
        std::string target = "<auto>";
        if (spec && isInt(find(*spec, {"target", "averageUtilization"}))) {
          target = std::to_string(num(*spec, {"target", "averageUtilization"})) + "%";
        }
        list.push_back(prefix + ": " + cur + "/" + target);
      }
    } else {
      list.push_back("<unknown type>");
    }
  }
  const size_t kMax = 2;
  size_t total = list.size();
  if (total > kMax) {
    list.resize(kMax);
    return join(list, ", ") + " + " + std::to_string(total - kMax) + " more...";
  }
  return join(list, ", ");
}

json scalingRules(bool up) {
  json rules;
  if (up) {
    rules = {{"stabilizationWindowSeconds", 0},
             {"selectPolicy", "Max"},
             {"policies", json::array({{{"type", "Pods"}, {"value", 4}, {"periodSeconds", 15}},
                                       {{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}})}};
  } else {
    rules = {{"stabilizationWindowSeconds", 300},
             {"selectPolicy", "Max"},
             {"policies", json::array({{{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}})}};
  }
  return rules;
}

KindSpec hpaKind() {
  KindSpec k = makeKind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                        "horizontalpodautoscaler", true);
  k.short_names = {"hpa"};
  k.categories = {"all"};
  k.has_status = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "minReplicas", 1);
    if (count(spec, {"metrics"}) == 0) {
      spec["metrics"] = json::array(
          {{{"type", "Resource"},
            {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
    }
    if (spec.contains("behavior") && spec["behavior"].is_object()) {
      json& behavior = spec["behavior"];
      for (bool up : {true, false}) {
        const char* key = up ? "scaleUp" : "scaleDown";
        json defaults = scalingRules(up);
        json& rules = child(behavior, key);
        for (auto it = defaults.begin(); it != defaults.end(); ++it) setDefault(rules, it.key(), it.value());
      }
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* minR = find(obj, {"spec", "minReplicas"});
    const json* maxR = find(obj, {"spec", "maxReplicas"});
    if (isInt(minR) && minR->get<int64_t>() < 1) {
      errs.invalid("spec.minReplicas", *minR, "must be greater than or equal to 1");
    }
    if (!maxR || maxR->is_null()) {
      errs.required("spec.maxReplicas");
    } else if (!isInt(maxR) || maxR->get<int64_t>() < 1) {
      errs.invalid("spec.maxReplicas", *maxR, "must be greater than 0");
    } else if (isInt(minR) && maxR->get<int64_t>() < minR->get<int64_t>()) {
      errs.invalid("spec.maxReplicas", *maxR, "must be greater than or equal to `minReplicas`");
    }
    if (str(obj, {"spec", "scaleTargetRef", "kind"}).empty()) errs.required("spec.scaleTargetRef.kind");
    if (str(obj, {"spec", "scaleTargetRef", "name"}).empty()) errs.required("spec.scaleTargetRef.name");
    if (const json* ms = find(obj, {"spec", "metrics"}); ms && ms->is_array()) {
      for (size_t i = 0; i < ms->size(); ++i) {
        std::string type = str((*ms)[i], {"type"});
        std::string p = at(at("spec", "metrics", i), "type");
        if (type.empty()) {
          errs.required(p, "must specify a metric source type");
        } else if (type != "Resource" && type != "Pods" && type != "Object" && type != "External" &&
                   type != "ContainerResource") {
          errs.notSupported(p, type, {"ContainerResource", "External", "Object", "Pods", "Resource"});
        }
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Reference", "string", "Reference to the target that is scaled."),
               column("Targets", "string", "The current and target metric values."),
               column("MinPods", "string", "Lower limit for the number of pods that can be set by the autoscaler, default 1."),
               column("MaxPods", "integer", "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas."),
               column("Replicas", "integer", "Current number of replicas of pods managed by this autoscaler."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::string ref = str(obj, {"spec", "scaleTargetRef", "kind"}) + "/" +
                      str(obj, {"spec", "scaleTargetRef", "name"});
    std::string minPods = "<unset>";
    if (isInt(find(obj, {"spec", "minReplicas"}))) minPods = std::to_string(num(obj, {"spec", "minReplicas"}));
    return std::vector<json>{str(obj, {"metadata", "name"}), ref, hpaTargets(obj), minPods,
                             num(obj, {"spec", "maxReplicas"}), num(obj, {"status", "currentReplicas"}),
                             ageCell(obj, now)};
  };
  k.status_omit_zero = {"observedGeneration", "currentReplicas"};
  return k;
}

// ---- HorizontalPodAutoscaler autoscaling/v1 -------------------------------------------------
// The v1 view of the objects stored as autoscaling/v2, converted as upstream does: the CPU
// utilisation metric is v1's targetCPUUtilizationPercentage / currentCPUUtilizationPercentage,
// and what v1 has no field for (other metrics, behavior, conditions) rides in annotations, so a
// v1 client's update keeps it.

constexpr const char* kHpaMetricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics";
constexpr const char* kHpaCurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics";
constexpr const char* kHpaBehaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior";
constexpr const char* kHpaConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions";

// A v2 MetricSpec / MetricStatus that v1's CPU field stands for: a Resource metric on cpu with
// a Utilization target (spec) or an averageUtilization reading (status).
bool isCpuUtilization(const json& m, bool status) {
  if (str(m, {"type"}) != "Resource" || str(m, {"resource", "name"}) != "cpu") return false;
  if (status) return isInt(find(m, {"resource", "current", "averageUtilization"}));
  return str(m, {"resource", "target", "type"}) == "Utilization" &&
         isInt(find(m, {"resource", "target", "averageUtilization"}));
}

json cpuMetric(const json& percent, bool status) {
  json resource = {{"name", "cpu"}};
  if (status) resource["current"] = {{"averageUtilization", percent}};
  else resource["target"] = {{"type", "Utilization"}, {"averageUtilization", percent}};
  return {{"type", "Resource"}, {"resource", resource}};
}

// Moves obj[section][field] into an annotation (as JSON text) when it is present.
void stashInAnnotation(json& obj, const char* section, const char* field, const char* annotation) {
  auto sec = obj.find(section);
  if (sec == obj.end() || !sec->is_object() || !sec->contains(field)) return;
  json value = (*sec)[field];
  sec->erase(field);
  if (value.is_null() || (value.is_array() && value.empty())) return;
  child(child(obj, "metadata"), "annotations")[annotation] = value.dump();
}

// v2 -> v1.
void hpaToV1(json& obj) {
  if (obj.contains("apiVersion")) obj["apiVersion"] = "autoscaling/v1";
  for (bool status : {false, true}) {
    const char* section = status ? "status" : "spec";
    const char* list = status ? "currentMetrics" : "metrics";
    const char* cpu_field = status ? "currentCPUUtilizationPercentage" : "targetCPUUtilizationPercentage";
    auto sec = obj.find(section);
    if (sec == obj.end() || !sec->is_object()) continue;
    auto ms = sec->find(list);
    if (ms == sec->end() || !ms->is_array()) continue;
    json others = json::array();
    for (const json& m : *ms) {
      if (!sec->contains(cpu_field) && isCpuUtilization(m, status)) {
        (*sec)[cpu_field] = status ? m["resource"]["current"]["averageUtilization"]
                                   : m["resource"]["target"]["averageUtilization"];
      } else {
        others.push_back(m);
      }
    }
    *ms = others;
    stashInAnnotation(obj, section, list, status ? kHpaCurrentMetricsAnnotation : kHpaMetricsAnnotation);
  }
  stashInAnnotation(obj, "spec", "behavior", kHpaBehaviorAnnotation);
  stashInAnnotation(obj, "status", "conditions", kHpaConditionsAnnotation);
}

// Takes an annotation written by hpaToV1 back out of the object (null when absent).
Result<json> takeAnnotation(json& obj, const char* annotation) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return json();
  auto anns = meta->find("annotations");
  if (anns == meta->end() || !anns->is_object() || !anns->contains(annotation)) return json();
  json text = (*anns)[annotation];
  anns->erase(annotation);
  if (anns->empty()) meta->erase("annotations");
  json value = text.is_string() ? json::parse(text.get<std::string>(), nullptr, false) : json(json::value_t::discarded);
  if (value.is_discarded())
    return invalid(std::string("metadata.annotations[") + annotation + "]: Invalid value: must be JSON");
  return value;
}

// v1 -> v2.
Status hpaToV2(json& obj) {
  if (obj.contains("apiVersion")) obj["apiVersion"] = "autoscaling/v2";
  for (bool status : {false, true}) {
    const char* section = status ? "status" : "spec";
    const char* cpu_field = status ? "currentCPUUtilizationPercentage" : "targetCPUUtilizationPercentage";
    BERTH_ASSIGN_OR_RETURN(json others, takeAnnotation(obj, status ? kHpaCurrentMetricsAnnotation
                                                                   : kHpaMetricsAnnotation));
    json metrics = json::array();
    auto sec = obj.find(section);
    if (sec != obj.end() && sec->is_object() && sec->contains(cpu_field)) {
      json percent = (*sec)[cpu_field];
      sec->erase(cpu_field);
      if (!percent.is_null()) metrics.push_back(cpuMetric(percent, status));
    }
    if (others.is_array())
      for (const json& m : others) metrics.push_back(m);
    if (!metrics.empty()) child(obj, section)[status ? "currentMetrics" : "metrics"] = metrics;
  }
  BERTH_ASSIGN_OR_RETURN(json behavior, takeAnnotation(obj, kHpaBehaviorAnnotation));
  if (!behavior.is_null()) child(obj, "spec")["behavior"] = behavior;
  BERTH_ASSIGN_OR_RETURN(json conditions, takeAnnotation(obj, kHpaConditionsAnnotation));
  if (!conditions.is_null()) child(obj, "status")["conditions"] = conditions;
  return Status::ok();
}

KindSpec hpaV1Kind() {
  KindSpec k = makeKind("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                        "horizontalpodautoscaler", true);
  k.short_names = {"hpa"};
  k.categories = {"all"};
  k.has_status = true;
  k.storage_version = "v2";
  k.to_storage = hpaToV2;
  k.from_storage = hpaToV1;
  // Tables are printed from the stored objects, with the stored version's columns.
  KindSpec stored = hpaKind();
  k.columns = stored.columns;
  k.cells = stored.cells;
  return k;
}

// ---- CertificateSigningRequest ---------------------------------------------------------------

KindSpec csrKind() {
  KindSpec k = makeKind("certificates.k8s.io", "v1", "CertificateSigningRequest",
                        "certificatesigningrequests", "certificatesigningrequest", false);
  k.short_names = {"csr"};
  k.has_status = true;
  k.uses_generation = false;
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    if (str(obj, {"spec", "request"}).empty()) errs.required("spec.request");
    std::string signer = str(obj, {"spec", "signerName"});
    if (signer.empty()) {
      errs.required("spec.signerName");
    } else if (signer.find('/') == std::string::npos) {
      errs.invalid("spec.signerName", signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'");
    } else if (!old && signer == "kubernetes.io/legacy-unknown") {
      errs.invalid("spec.signerName", signer,
                   "the legacy signerName is not allowed via this API version");
    }
    if (count(obj, {"spec", "usages"}) == 0) errs.required("spec.usages");
    if (const json* es = find(obj, {"spec", "expirationSeconds"}); isInt(es) && es->get<int64_t>() < 600) {
      errs.invalid("spec.expirationSeconds", *es, "may not specify a duration less than 600 seconds (10 minutes)");
    }
    if (old) {
      const json* spec = find(obj, {"spec"});
      const json* oldSpec = find(*old, {"spec"});
      if (spec && oldSpec && *spec != *oldSpec) errs.immutable("spec", *spec);
    }
    return errs.take();
  };
  k.columns = {nameColumn(), ageColumn(),
               column("SignerName", "string", "Only include CSRs with this signer name."),
               column("Requestor", "string", "Name of the user requesting the certificate."),
               column("RequestedDuration", "string", "Requested duration of the issued certificate."),
               column("Condition", "string", "Current approval state of the certificate.")};
  k.cells = [](const json& obj, TimePoint now) {
    bool approved = false, denied = false, failed = false;
    if (const json* conds = find(obj, {"status", "conditions"}); conds && conds->is_array()) {
      for (const json& c : *conds) {
        std::string t = str(c, {"type"});
        approved |= t == "Approved";
        denied |= t == "Denied";
        failed |= t == "Failed";
      }
    }
    std::string cond = denied ? "Denied" : (approved ? "Approved" : "Pending");
    if (failed) cond += ",Failed";
    if (!str(obj, {"status", "certificate"}).empty()) cond += ",Issued";
    std::string signer = str(obj, {"spec", "signerName"});
    if (signer.empty()) signer = "<none>";
    std::string duration = "<none>";
    if (isInt(find(obj, {"spec", "expirationSeconds"}))) {
      duration = humanDuration(std::chrono::seconds(num(obj, {"spec", "expirationSeconds"})));
    }
    return std::vector<json>{str(obj, {"metadata", "name"}), ageCell(obj, now), signer,
                             str(obj, {"spec", "username"}), duration, cond};
  };
  return k;
}

// ---- Ingress (networking.k8s.io/v1) ----------------------------------------------------------

// The ingress's rule hosts for its Table: "*" with none, at most three and "+ N more...".
std::string ingressHosts(const json& obj) {
  std::vector<std::string> hosts;
  if (const json* rules = find(obj, {"spec", "rules"}); rules && rules->is_array()) {
    for (const json& r : *rules) {
      std::string h = str(r, {"host"});
      if (!h.empty()) hosts.push_back(h);
    }
  }
  if (hosts.empty()) return "*";
  std::string out;
  for (size_t i = 0; i < hosts.size() && i < 3; ++i) out += (i ? "," : "") + hosts[i];
  if (hosts.size() > 3) out += " + " + std::to_string(hosts.size() - 3) + " more...";
  return out;
}

void validateIngressBackend(const json& backend, const std::string& path, Errors& errs) {
  const json* svc = find(backend, {"service"});
  const json* res = find(backend, {"resource"});
  bool has_svc = svc && !svc->is_null(), has_res = res && !res->is_null();
  if (has_svc && has_res) {
    errs.invalid(path, json(""), "cannot set both resource and service backends");
  } else if (!has_svc && !has_res) {
    errs.invalid(path, json(""), "resource or service backend is required");
  }
  if (has_svc) {
    if (str(*svc, {"name"}).empty()) errs.required(at(path, "service.name"));
    const json* port = find(*svc, {"port"});
    bool has_name = port && !str(*port, {"name"}).empty();
    bool has_number = port && find(*port, {"number"}) && num(*port, {"number"}) != 0;
    if (has_name && has_number) {
      errs.invalid(at(path, "service.port"), json(""), "cannot set both port name & port number");
    } else if (!has_name && !has_number) {
      errs.invalid(at(path, "service.port"), json(""), "port name or number is required");
    } else if (has_number && (num(*port, {"number"}) < 1 || num(*port, {"number"}) > 65535)) {
      errs.invalid(at(path, "service.port.number"), num(*port, {"number"}),
                   "must be between 1 and 65535, inclusive");
    }
  }
}

KindSpec ingressKind() {
  KindSpec k = makeKind("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true);
  k.short_names = {"ing"};
  k.has_status = true;
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    const json* def = find(obj, {"spec", "defaultBackend"});
    const json* rules = find(obj, {"spec", "rules"});
    bool has_def = def && !def->is_null();
    if (!has_def && (!rules || !rules->is_array() || rules->empty())) {
      errs.invalid("spec", json(""), "either `defaultBackend` or `rules` must be specified");
    }
    if (has_def) validateIngressBackend(*def, "spec.defaultBackend", errs);
    if (rules && rules->is_array()) {
      for (size_t i = 0; i < rules->size(); ++i) {
        const json& rule = (*rules)[i];
        std::string rpath = at("spec", "rules", i);
        std::string host = str(rule, {"host"});
        if (!host.empty()) {
          for (const auto& problem :
               validateDns1123Subdomain(host.rfind("*.", 0) == 0 ? host.substr(2) : host)) {
            errs.invalid(at(rpath, "host"), host, problem);
          }
        }
        const json* paths = find(rule, {"http", "paths"});
        if (find(rule, {"http"}) && (!paths || !paths->is_array() || paths->empty())) {
          errs.required(at(rpath, "http.paths"));
        }
        if (!paths || !paths->is_array()) continue;
        for (size_t j = 0; j < paths->size(); ++j) {
          const json& p = (*paths)[j];
          std::string ppath = at(at(rpath, "http"), "paths", j);
          std::string type = str(p, {"pathType"});
          std::string path = str(p, {"path"});
          if (type.empty()) {
            errs.required(at(ppath, "pathType"), "pathType must be specified");
          } else if (type != "Exact" && type != "Prefix" && type != "ImplementationSpecific") {
            errs.notSupported(at(ppath, "pathType"), type,
                              {"Exact", "ImplementationSpecific", "Prefix"});
          } else if (type != "ImplementationSpecific" && (path.empty() || path[0] != '/')) {
            errs.invalid(at(ppath, "path"), path, "must be an absolute path");
          }
          const json* backend = find(p, {"backend"});
          if (!backend || backend->is_null())
            errs.required(at(ppath, "backend"));
          else
            validateIngressBackend(*backend, at(ppath, "backend"), errs);
        }
      }
    }
    if (const json* tls = find(obj, {"spec", "tls"}); tls && tls->is_array()) {
      for (size_t i = 0; i < tls->size(); ++i) {
        std::string secret = str((*tls)[i], {"secretName"});
        if (secret.empty()) continue;
        for (const auto& problem : validateDns1123Subdomain(secret)) {
          errs.invalid(at(at("spec", "tls", i), "secretName"), secret, problem);
        }
      }
    }
    return errs.take();
  };
  k.columns = {
      nameColumn(),
      column("Class", "string", "The name of the IngressClass resource that should be used."),
      column("Hosts", "string",
             "Hosts that incoming requests are matched against before the ingress rule."),
      column("Address", "string",
             "Address is a list containing ingress points for the load-balancer."),
      column("Ports", "string", "Ports of TLS configurations that open."),
      ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::string cls = str(obj, {"spec", "ingressClassName"});
    std::string address;
    if (const json* lbs = find(obj, {"status", "loadBalancer", "ingress"});
        lbs && lbs->is_array()) {
      for (const json& lb : *lbs) {
        std::string a = str(lb, {"ip"});
        if (a.empty()) a = str(lb, {"hostname"});
        if (!a.empty()) address += (address.empty() ? "" : ",") + a;
      }
    }
    // Like upstream's load-balancer column: long addresses are cut (the Table has no -o wide
    // variant of the cell here).
    if (address.size() > 16) address = address.substr(0, 13) + "...";
    std::string ports = count(obj, {"spec", "tls"}) > 0 ? "80, 443" : "80";
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             cls.empty() ? "<none>" : cls,
                             ingressHosts(obj),
                             address,
                             ports,
                             ageCell(obj, now)};
  };
  return k;
}

// ---- PriorityClass (scheduling.k8s.io/v1) ----------------------------------------------------

KindSpec priorityClassKind() {
  KindSpec k = makeKind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses",
                        "priorityclass", false);
  k.short_names = {"pc"};
  k.defaults = [](json& obj) { setDefault(obj, "preemptionPolicy", "PreemptLowerPriority"); };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    std::string name = str(obj, {"metadata", "name"});
    int64_t value = num(obj, {"value"});
    bool global_default = flag(obj, {"globalDefault"});
    if (name.rfind(kSystemPriorityClassPrefix, 0) == 0) {
      // Only the system classes themselves, with their own value, may use the prefix.
      std::string why;
      if (const SystemPriorityClass* sys = findSystemPriorityClass(name); !sys) {
        why = name + " is not a known system priority class";
      } else if (value != sys->value) {
        why = "value of " + name + " PriorityClass must be " + std::to_string(sys->value);
      } else if (global_default) {
        why = "globalDefault of " + name + " PriorityClass must be false";
      }
      if (!why.empty()) {
        errs.forbidden("metadata.name",
                       "priority class names with '" + std::string(kSystemPriorityClassPrefix) +
                           "' prefix are reserved for system use only. error: " + why);
      }
    } else if (value > kHighestUserDefinablePriority) {
      errs.forbidden("value", "maximum allowed value of a user defined priority is " +
                                  std::to_string(kHighestUserDefinablePriority));
    }
    const json* policy = find(obj, {"preemptionPolicy"});
    if (policy && policy->is_string() && *policy != "Never" && *policy != "PreemptLowerPriority") {
      if (policy->get<std::string>().empty())
        errs.required("preemptionPolicy");
      else
        errs.notSupported("preemptionPolicy", *policy, {"Never", "PreemptLowerPriority"});
    }
    if (old) {
      if (value != num(*old, {"value"}))
        errs.forbidden("value", "may not be changed in an update.");
      const json* old_policy = find(*old, {"preemptionPolicy"});
      if (policy && old_policy && *policy != *old_policy)
        errs.immutable("preemptionPolicy", *policy);
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Value", "integer", "The priority pods of this class get."),
               column("Global-Default", "boolean", "Whether pods that name no class get this one."),
               ageColumn(),
               column("PreemptionPolicy", "string",
                      "Whether pods of this class may preempt lower-priority pods.")};
  k.cells = [](const json& obj, TimePoint now) {
    const json* policy = find(obj, {"preemptionPolicy"});
    return std::vector<json>{str(obj, {"metadata", "name"}), num(obj, {"value"}),
                             flag(obj, {"globalDefault"}), ageCell(obj, now),
                             policy && policy->is_string() ? *policy : json("")};
  };
  return k;
}

}  // namespace

void registerMiscKinds(KindRegistry& reg) {
  reg.add(leaseKind());
  reg.add(endpointSliceKind());
  reg.add(eventsV1Kind());
  reg.add(pdbKind());
  reg.add(hpaKind());
  reg.add(hpaV1Kind());  // after v2: the preferred version is the first registered
  reg.add(csrKind());
  reg.add(ingressKind());
  reg.add(priorityClassKind());
}

}  // namespace berth::apiserver::kinds
