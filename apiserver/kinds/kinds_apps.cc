// apps/v1 kinds: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision. Defaults follow pkg/apis/apps/v1/defaults.go,
// validation pkg/apis/apps/validation, tables pkg/printers/internalversion/printers.go (v1.32).
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

KindSpec apps(std::string kind, std::string resource, std::string singular) {
  KindSpec k =
      makeKind("apps", "v1", std::move(kind), std::move(resource), std::move(singular), true);
  k.categories = {"all"};
  k.has_status = true;
  k.uses_generation = true;
  return k;
}

// Rules shared by the three workloads: selector, template, non-negative counters, immutable
// selector on update, pods that restart Always.
void validateWorkload(const json& obj, const json* old, const std::string& kind, Errors& errs) {
  std::string kindLower = toLower(kind);
  errs.nonNegative("spec.replicas", find(obj, {"spec", "replicas"}));
  errs.nonNegative("spec.minReadySeconds", find(obj, {"spec", "minReadySeconds"}));
  errs.nonNegative("spec.revisionHistoryLimit", find(obj, {"spec", "revisionHistoryLimit"}));
  validateWorkloadSelector(obj, errs, kindLower);
  const json* tmpl = find(obj, {"spec", "template"});
  validatePodTemplate(tmpl, "spec.template", errs);
  if (tmpl) {
    std::string rp = str(*tmpl, {"spec", "restartPolicy"});
    if (!rp.empty() && rp != "Always") {
      errs.notSupported("spec.template.spec.restartPolicy", rp, {"Always"});
    }
    const json* ads = find(*tmpl, {"spec", "activeDeadlineSeconds"});
    if (ads && !ads->is_null()) {
      errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                     "activeDeadlineSeconds in " + kind + " is not Supported");
    }
  }
  if (old) {
    const json* sel = find(obj, {"spec", "selector"});
    const json* oldSel = find(*old, {"spec", "selector"});
    if (sel && oldSel && *sel != *oldSel) {
      errs.invalidText("spec.selector", goLabelSelector(*sel), "field is immutable");
    }
  }
}

// maxUnavailable / maxSurge: non-negative ints or "N%" (at most 100%), not both zero.
void validateRollingUpdate(const json& ru, const std::string& path, Errors& errs) {
  const json* mu = find(ru, {"maxUnavailable"});
  const json* ms = find(ru, {"maxSurge"});
  validateIntOrPercent(mu, at(path, "maxUnavailable"), errs);
  validateIntOrPercent(ms, at(path, "maxSurge"), errs);
  int64_t muv = intOrPercentValue(mu, 100, false);
  int64_t msv = intOrPercentValue(ms, 100, true);
  if (mu && !mu->is_null() && muv == 0 && msv == 0) {
    errs.invalidIntOrString(at(path, "maxUnavailable"), *mu, "may not be 0 when `maxSurge` is 0");
  }
}

// A DaemonSet's rolling update (ValidateRollingUpdateDaemonSet): exactly one of maxUnavailable and
// maxSurge is non-zero.
void validateDaemonSetRollingUpdate(const json& ru, const std::string& path, Errors& errs) {
  const json* mu = find(ru, {"maxUnavailable"});
  const json* ms = find(ru, {"maxSurge"});
  validateIntOrPercent(mu, at(path, "maxUnavailable"), errs);
  validateIntOrPercent(ms, at(path, "maxSurge"), errs);
  bool unavailable = intOrPercentValue(mu, 100, false) != 0;
  bool surge = intOrPercentValue(ms, 100, false) != 0;
  if (unavailable && surge) {
    errs.invalidIntOrString(at(path, "maxSurge"), *ms, "may not be set when maxUnavailable is non-zero");
  } else if (!unavailable && !surge) {
    errs.required(at(path, "maxUnavailable"), "cannot be 0 when maxSurge is 0");
  }
}

std::vector<ColumnDefinition> wideTemplateColumns() {
  return {column("Containers", "string", "Names of each container in the template.", 1),
          column("Images", "string", "Images referenced by each container in the template.", 1),
          column("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", 1)};
}

void appendTemplateCells(const json& obj, std::vector<json>& cells) {
  const json* spec = find(obj, {"spec", "template", "spec"});
  cells.push_back(containerNames(spec));
  cells.push_back(containerImages(spec));
  cells.push_back(formatLabelSelector(find(obj, {"spec", "selector"})));
}

// ---- Deployment ------------------------------------------------------------------------------

KindSpec deploymentKind() {
  KindSpec k = apps("Deployment", "deployments", "deployment");
  k.short_names = {"deploy"};
  k.has_scale = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "replicas", 1);
    json& strategy = child(spec, "strategy");
    setDefault(strategy, "type", "RollingUpdate");
    if (str(strategy, {"type"}) == "RollingUpdate") {
      json& ru = child(strategy, "rollingUpdate");
      setDefault(ru, "maxUnavailable", "25%");
      setDefault(ru, "maxSurge", "25%");
    }
    setDefault(spec, "revisionHistoryLimit", 10);
    setDefault(spec, "progressDeadlineSeconds", 600);
    defaultPodTemplate(spec["template"]);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateWorkload(obj, old, "Deployment", errs);
    const json* strategy = find(obj, {"spec", "strategy"});
    std::string type = strategy ? str(*strategy, {"type"}) : "";
    if (type.empty()) {
      errs.required("spec.strategy.type");
    } else if (type != "Recreate" && type != "RollingUpdate") {
      errs.notSupported("spec.strategy.type", type, {"Recreate", "RollingUpdate"});
    }
    const json* ru = strategy ? find(*strategy, {"rollingUpdate"}) : nullptr;
    if (type == "Recreate" && ru && !ru->is_null()) {
      errs.forbidden("spec.strategy.rollingUpdate",
                     "may not be specified when strategy `type` is 'Recreate'");
    }
    if (type == "RollingUpdate" && ru && ru->is_object()) {
      validateRollingUpdate(*ru, "spec.strategy.rollingUpdate", errs);
    }
    const json* pds = find(obj, {"spec", "progressDeadlineSeconds"});
    const json* mrs = find(obj, {"spec", "minReadySeconds"});
    if (isInt(pds) && pds->get<int64_t>() <= (isInt(mrs) ? mrs->get<int64_t>() : 0)) {
      errs.invalid("spec.progressDeadlineSeconds", *pds, "must be greater than minReadySeconds");
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Ready", "string", "Number of the pod with ready state"),
               column("Up-to-date", "integer", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
               column("Available", "integer", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
               ageColumn()};
  for (auto& c : wideTemplateColumns()) k.columns.push_back(c);
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<json> cells{
        str(obj, {"metadata", "name"}),
        std::to_string(num(obj, {"status", "readyReplicas"})) + "/" +
            std::to_string(num(obj, {"spec", "replicas"})),
        num(obj, {"status", "updatedReplicas"}), num(obj, {"status", "availableReplicas"}),
        ageCell(obj, now)};
    appendTemplateCells(obj, cells);
    return cells;
  };
  k.status_omit_zero = {"observedGeneration", "replicas",          "updatedReplicas",
                        "readyReplicas",      "availableReplicas", "unavailableReplicas"};
  return k;
}

// ---- ReplicaSet ------------------------------------------------------------------------------

KindSpec replicaSetKind() {
  KindSpec k = apps("ReplicaSet", "replicasets", "replicaset");
  k.short_names = {"rs"};
  k.has_scale = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "replicas", 1);
    defaultPodTemplate(spec["template"]);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateWorkload(obj, old, "ReplicaSet", errs);
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Desired", "integer", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1."),
               column("Current", "integer", "Replicas is the most recently observed number of replicas."),
               column("Ready", "integer", "The number of ready replicas for this replica set."),
               ageColumn()};
  for (auto& c : wideTemplateColumns()) k.columns.push_back(c);
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<json> cells{str(obj, {"metadata", "name"}), num(obj, {"spec", "replicas"}),
                            num(obj, {"status", "replicas"}),
                            num(obj, {"status", "readyReplicas"}), ageCell(obj, now)};
    appendTemplateCells(obj, cells);
    return cells;
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

// ---- DaemonSet -------------------------------------------------------------------------------

KindSpec daemonSetKind() {
  KindSpec k = apps("DaemonSet", "daemonsets", "daemonset");
  k.short_names = {"ds"};
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    json& us = child(spec, "updateStrategy");
    setDefault(us, "type", "RollingUpdate");
    if (str(us, {"type"}) == "RollingUpdate") {
      json& ru = child(us, "rollingUpdate");
      setDefault(ru, "maxUnavailable", 1);
      setDefault(ru, "maxSurge", 0);
    }
    setDefault(spec, "revisionHistoryLimit", 10);
    defaultPodTemplate(spec["template"]);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateWorkload(obj, old, "DaemonSet", errs);
    const json* us = find(obj, {"spec", "updateStrategy"});
    std::string type = us ? str(*us, {"type"}) : "";
    if (type.empty()) {
      errs.required("spec.updateStrategy.type");
    } else if (type != "OnDelete" && type != "RollingUpdate") {
      errs.notSupported("spec.updateStrategy.type", type, {"OnDelete", "RollingUpdate"});
    }
    const json* ru = us ? find(*us, {"rollingUpdate"}) : nullptr;
    if (type == "RollingUpdate" && ru && ru->is_object()) {
      validateDaemonSetRollingUpdate(*ru, "spec.updateStrategy.rollingUpdate", errs);
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
               column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
               column("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
               column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
               column("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
               column("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
               ageColumn()};
  for (auto& c : wideTemplateColumns()) k.columns.push_back(c);
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<json> cells{str(obj, {"metadata", "name"}),
                            num(obj, {"status", "desiredNumberScheduled"}),
                            num(obj, {"status", "currentNumberScheduled"}),
                            num(obj, {"status", "numberReady"}),
                            num(obj, {"status", "updatedNumberScheduled"}),
                            num(obj, {"status", "numberAvailable"}),
                            formatLabels(find(obj, {"spec", "template", "spec", "nodeSelector"})),
                            ageCell(obj, now)};
    appendTemplateCells(obj, cells);
    return cells;
  };
  k.status_omit_zero = {"observedGeneration", "updatedNumberScheduled", "numberAvailable",
                        "numberUnavailable"};
  return k;
}

// ---- StatefulSet -----------------------------------------------------------------------------

// The spec fields an update may change (ValidateStatefulSetUpdate, v1.32); the message names
// them as upstream does, without revisionHistoryLimit.
bool statefulSetSpecChangeForbidden(const json& obj, const json& old) {
  static const char* kMutable[] = {"replicas", "ordinals", "template", "updateStrategy",
                                   "persistentVolumeClaimRetentionPolicy", "minReadySeconds",
                                   "revisionHistoryLimit"};
  const json* spec = find(obj, {"spec"});
  const json* oldSpec = find(old, {"spec"});
  json a = spec && spec->is_object() ? *spec : json::object();
  json b = oldSpec && oldSpec->is_object() ? *oldSpec : json::object();
  for (const char* f : kMutable) {
    a.erase(f);
    b.erase(f);
  }
  return a != b;
}

void validateStatefulSetStrategy(const json& obj, Errors& errs) {
  std::string pmp = str(obj, {"spec", "podManagementPolicy"});
  if (pmp.empty()) {
    errs.required("spec.podManagementPolicy");
  } else if (pmp != "OrderedReady" && pmp != "Parallel") {
    errs.invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'");
  }
  const json* us = find(obj, {"spec", "updateStrategy"});
  std::string type = us ? str(*us, {"type"}) : "";
  const json* ru = us ? find(*us, {"rollingUpdate"}) : nullptr;
  bool hasRu = ru && !ru->is_null();
  if (type.empty()) {
    errs.required("spec.updateStrategy");
  } else if (type == "OnDelete") {
    if (hasRu) {
      errs.invalidText("spec.updateStrategy.rollingUpdate", ru->dump(),
                       "only allowed for updateStrategy 'RollingUpdate'");
    }
  } else if (type == "RollingUpdate") {
    if (hasRu) {
      errs.nonNegative("spec.updateStrategy.rollingUpdate.partition", find(*ru, {"partition"}));
      const json* mu = find(*ru, {"maxUnavailable"});
      if (mu && !mu->is_null()) {
        validateIntOrPercent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", errs);
        if (intOrPercentValue(mu, 100, false) == 0) {
          errs.invalidIntOrString("spec.updateStrategy.rollingUpdate.maxUnavailable", *mu,
                                  "must be greater than 0");
        }
      }
    }
  } else {
    errs.invalid("spec.updateStrategy", type, "must be 'RollingUpdate' or 'OnDelete'");
  }
  const json* pol = find(obj, {"spec", "persistentVolumeClaimRetentionPolicy"});
  for (const char* f : {"whenDeleted", "whenScaled"}) {
    std::string v = pol ? str(*pol, {f}) : "";
    if (!v.empty() && v != "Retain" && v != "Delete") {
      errs.notSupported(std::string("spec.persistentVolumeClaimRetentionPolicy.") + f, v,
                        {"Retain", "Delete"});
    }
  }
}

KindSpec statefulSetKind() {
  KindSpec k = apps("StatefulSet", "statefulsets", "statefulset");
  k.short_names = {"sts"};
  k.has_scale = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "replicas", 1);
    setDefault(spec, "podManagementPolicy", "OrderedReady");
    json& us = child(spec, "updateStrategy");
    setDefault(us, "type", "RollingUpdate");
    if (str(us, {"type"}) == "RollingUpdate") {
      setDefault(child(us, "rollingUpdate"), "partition", 0);
    }
    setDefault(spec, "revisionHistoryLimit", 10);
    json& pol = child(spec, "persistentVolumeClaimRetentionPolicy");
    setDefault(pol, "whenDeleted", "Retain");
    setDefault(pol, "whenScaled", "Retain");
    defaultPodTemplate(spec["template"]);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateWorkload(obj, nullptr, "StatefulSet", errs);
    errs.nonNegative("spec.ordinals.start", find(obj, {"spec", "ordinals", "start"}));
    validateStatefulSetStrategy(obj, errs);
    if (old && statefulSetSpecChangeForbidden(obj, *old)) {
      errs.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                             "'ordinals', 'template', 'updateStrategy', "
                             "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                             "forbidden");
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Ready", "string", "Number of the pod with ready state"),
               ageColumn(),
               column("Containers", "string", "Names of each container in the template.", 1),
               column("Images", "string", "Images referenced by each container in the template.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    const json* spec = find(obj, {"spec", "template", "spec"});
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             std::to_string(num(obj, {"status", "readyReplicas"})) + "/" +
                                 std::to_string(num(obj, {"spec", "replicas"})),
                             ageCell(obj, now), containerNames(spec), containerImages(spec)};
  };
  k.status_omit_zero = {"observedGeneration", "readyReplicas", "currentReplicas",
                        "updatedReplicas"};
  return k;
}

// ---- ControllerRevision ----------------------------------------------------------------------

KindSpec controllerRevisionKind() {
  KindSpec k = apps("ControllerRevision", "controllerrevisions", "controllerrevision");
  k.categories = {};
  k.has_status = false;
  k.uses_generation = false;
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* rev = find(obj, {"revision"});
    if (!rev || rev->is_null()) {
      errs.required("revision");
    } else {
      errs.nonNegative("revision", rev);
    }
    if (old) {
      const json* data = find(obj, {"data"});
      const json* old_data = find(*old, {"data"});
      json a = data ? *data : json(), b = old_data ? *old_data : json();
      if (a != b) errs.immutable("data", a);
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Controller", "string", "Controller of the object"),
               column("Revision", "integer", "Revision of the ControllerRevision"),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::string controller = "<none>";
    if (const json* refs = find(obj, {"metadata", "ownerReferences"}); refs && refs->is_array()) {
      for (const json& r : *refs) {
        if (r.value("controller", false)) {
          std::string group = str(r, {"apiVersion"});
          group = group.find('/') == std::string::npos ? "" : group.substr(0, group.find('/'));
          controller = toLower(str(r, {"kind"})) + (group.empty() ? "" : "." + group) + "/" +
                       str(r, {"name"});
        }
      }
    }
    return std::vector<json>{str(obj, {"metadata", "name"}), controller, num(obj, {"revision"}),
                             ageCell(obj, now)};
  };
  return k;
}

}  // namespace

void registerAppsKinds(KindRegistry& reg) {
  reg.add(controllerRevisionKind());
  reg.add(deploymentKind());
  reg.add(replicaSetKind());
  reg.add(daemonSetKind());
  reg.add(statefulSetKind());
}

}  // namespace berth::apiserver::kinds
