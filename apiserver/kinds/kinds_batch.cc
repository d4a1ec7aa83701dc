// batch/v1 Job. Defaults follow pkg/apis/batch/v1/defaults.go, validation
// pkg/apis/batch/validation, the table printJob (v1.32, with the Status column).
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"

namespace berth::apiserver::kinds {

namespace {

constexpr const char* kControllerUidLabel = "batch.kubernetes.io/controller-uid";
constexpr const char* kJobNameLabel = "batch.kubernetes.io/job-name";

std::string jobStatus(const json& obj) {
  if (hasCondition(obj, "Complete")) return "Complete";
  if (hasCondition(obj, "Failed")) return "Failed";
  const json* del = find(obj, {"metadata", "deletionTimestamp"});
  if (del && del->is_string()) return "Terminating";
  if (hasCondition(obj, "Suspended")) return "Suspended";
  if (hasCondition(obj, "FailureTarget")) return "FailureTarget";
  if (hasCondition(obj, "SuccessCriteriaMet")) return "SuccessCriteriaMet";
  return "Running";
}

KindSpec jobKind() {
  KindSpec k;
  k.group = "batch";
  k.version = "v1";
  k.kind = "Job";
  k.resource = "jobs";
  k.singular = "job";
  k.namespaced = true;
  k.categories = {"all"};
  k.has_status = true;
  k.uses_generation = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    bool noCompletions = !spec.contains("completions") || spec["completions"].is_null();
    bool noParallelism = !spec.contains("parallelism") || spec["parallelism"].is_null();
    if (noCompletions && noParallelism) {
      spec["completions"] = 1;
      spec["parallelism"] = 1;
    }
    setDefault(spec, "parallelism", 1);
    bool perIndex = spec.contains("backoffLimitPerIndex") && !spec["backoffLimitPerIndex"].is_null();
    setDefault(spec, "backoffLimit", perIndex ? 2147483647 : 6);
    setDefault(spec, "completionMode", "NonIndexed");
    setDefault(spec, "suspend", false);
    bool hasFailurePolicy = spec.contains("podFailurePolicy") && !spec["podFailurePolicy"].is_null();
    setDefault(spec, "podReplacementPolicy", hasFailurePolicy ? "Failed" : "TerminatingOrFailed");
    json& tmpl = spec["template"];
    defaultPodTemplate(tmpl);
    // The generated selector (JobStrategy.PrepareForCreate): needs the uid, so the generic
    // create path must assign metadata.uid before calling defaults.
    std::string uid = str(obj, {"metadata", "uid"});
    std::string name = str(obj, {"metadata", "name"});
    bool manual = flag(spec, {"manualSelector"});
    if (!manual && !uid.empty() && (!spec.contains("selector") || spec["selector"].is_null())) {
      spec["selector"] = {{"matchLabels", {{kControllerUidLabel, uid}}}};
      json& labels = child(child(tmpl, "metadata"), "labels");
      labels[kControllerUidLabel] = uid;
      labels[kJobNameLabel] = name;
      labels["controller-uid"] = uid;
      labels["job-name"] = name;
    }
    // Job labels default to the template's.
    const json* tl = find(tmpl, {"metadata", "labels"});
    if (tl && tl->is_object() && count(obj, {"metadata", "labels"}) == 0) {
      child(obj, "metadata")["labels"] = *tl;
    }
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json empty = json::object();
    const json* specp = find(obj, {"spec"});
    const json& spec = specp && specp->is_object() ? *specp : empty;
    errs.nonNegative("spec.parallelism", find(spec, {"parallelism"}));
    errs.nonNegative("spec.completions", find(spec, {"completions"}));
    errs.nonNegative("spec.backoffLimit", find(spec, {"backoffLimit"}));
    errs.nonNegative("spec.ttlSecondsAfterFinished", find(spec, {"ttlSecondsAfterFinished"}));
    errs.positive("spec.activeDeadlineSeconds", find(spec, {"activeDeadlineSeconds"}));
    std::string mode = str(spec, {"completionMode"}, "NonIndexed");
    if (mode != "NonIndexed" && mode != "Indexed") {
      errs.notSupported("spec.completionMode", mode, {"NonIndexed", "Indexed"});
    }
    if (mode == "Indexed" && !isInt(find(spec, {"completions"}))) {
      errs.required("spec.completions", "when completion mode is Indexed");
    }
    std::string prp = str(spec, {"podReplacementPolicy"});
    if (!prp.empty() && prp != "TerminatingOrFailed" && prp != "Failed") {
      errs.notSupported("spec.podReplacementPolicy", prp, {"Failed", "TerminatingOrFailed"});
    }
    const json* sel = find(spec, {"selector"});
    if (flag(spec, {"manualSelector"}) || (sel && !sel->is_null())) {
      validateWorkloadSelector(obj, errs, "job");
    }
    const json* tmpl = find(spec, {"template"});
    validatePodTemplate(tmpl, "spec.template", errs);
    if (tmpl) {
      std::string rp = str(*tmpl, {"spec", "restartPolicy"});
      if (rp != "OnFailure" && rp != "Never") {
        errs.notSupported("spec.template.spec.restartPolicy", rp, {"OnFailure", "Never"});
      }
    }
    if (old) {
      const json* oldSel = find(*old, {"spec", "selector"});
      if (sel && oldSel && *sel != *oldSel) {
        errs.invalidText("spec.selector", goLabelSelector(*sel), "field is immutable");
      }
      const json* oldTmpl = find(*old, {"spec", "template"});
      if (tmpl && oldTmpl && *tmpl != *oldTmpl) errs.immutable("spec.template", *tmpl);
      const json* c = find(spec, {"completions"});
      const json* oc = find(*old, {"spec", "completions"});
      if (mode != "Indexed" && c && oc && *c != *oc) errs.immutable("spec.completions", *c);
      if (str(*old, {"spec", "completionMode"}, "NonIndexed") != mode) {
        errs.immutable("spec.completionMode", mode);
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Status", "string", "Status of the job."),
               column("Completions", "string", "The desired number of successfully finished pods the job should be run with."),
               column("Duration", "string", "Time required to complete the job."),
               ageColumn(),
               column("Containers", "string", "Names of each container in the template.", 1),
               column("Images", "string", "Images referenced by each container in the template.", 1),
               column("Selector", "string", "A label query over pods that should match the pod count.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    int64_t succeeded = num(obj, {"status", "succeeded"});
    std::string completions;
    if (isInt(find(obj, {"spec", "completions"}))) {
      completions = std::to_string(succeeded) + "/" + std::to_string(num(obj, {"spec", "completions"}));
    } else {
      int64_t parallelism = num(obj, {"spec", "parallelism"});
      completions = std::to_string(succeeded) + "/1";
      if (parallelism > 1) completions += " of " + std::to_string(parallelism);
    }
    std::string duration;
    TimePoint start, end;
    std::string startStr = str(obj, {"status", "startTime"});
    std::string endStr = str(obj, {"status", "completionTime"});
    if (!startStr.empty() && parseRfc3339(startStr, &start)) {
      if (!endStr.empty() && parseRfc3339(endStr, &end)) {
        duration = humanDuration(end - start);
      } else {
        duration = humanDuration(now - start);
      }
    }
    const json* tspec = find(obj, {"spec", "template", "spec"});
    return std::vector<json>{str(obj, {"metadata", "name"}), jobStatus(obj), completions, duration,
                             ageCell(obj, now), containerNames(tspec), containerImages(tspec),
                             formatLabelSelector(find(obj, {"spec", "selector"}))};
  };
  k.selectable_fields = {"status.successful"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "status.successful") return std::to_string(num(obj, {"status", "succeeded"}));
    return "";
  };
  return k;
}

}  // namespace

void registerBatchKinds(KindRegistry& reg) { reg.add(jobKind()); }

}  // namespace berth::apiserver::kinds
