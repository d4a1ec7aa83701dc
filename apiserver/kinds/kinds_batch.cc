// batch/v1 Job and CronJob. Defaults follow pkg/apis/batch/v1/defaults.go, validation
// pkg/apis/batch/validation, the tables printJob (v1.32, with the Status column) and printCronJob.
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "common/cron.h"
#include "common/strings.h"

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
  KindSpec k = makeKind("batch", "v1", "Job", "jobs", "job", true);
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
  k.status_omit_zero = {"active", "succeeded", "failed"};
  return k;
}

// ---- CronJob ---------------------------------------------------------------------------------

void validateTimeZone(const json* tz, Errors& errs) {
  if (!tz || tz->is_null()) return;
  if (!tz->is_string()) {
    errs.invalid("spec.timeZone", *tz, "must be a string");
    return;
  }
  std::string name = tz->get<std::string>();
  if (name.empty()) {
    errs.invalid("spec.timeZone", name, "timeZone must be nil or non-empty string");
  } else if (toLower(name) == "local") {
    errs.invalid("spec.timeZone", name,
                 "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones");
  } else if (auto loaded = TimeZone::load(name); !loaded.isOk()) {
    errs.invalid("spec.timeZone", name, loaded.status().message());
  }
}

void validateCronJobSpec(const json& obj, Errors& errs) {
  const json* sched = find(obj, {"spec", "schedule"});
  std::string schedule = sched && sched->is_string() ? sched->get<std::string>() : "";
  if (schedule.empty()) {
    errs.required("spec.schedule");
  } else if (schedule.find("TZ") != std::string::npos) {
    errs.invalid("spec.schedule", schedule,
                 "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
  } else if (auto parsed = CronSchedule::parse(schedule); !parsed.isOk()) {
    errs.invalid("spec.schedule", schedule, parsed.status().message());
  }
  validateTimeZone(find(obj, {"spec", "timeZone"}), errs);
  std::string cp = str(obj, {"spec", "concurrencyPolicy"});
  if (cp.empty()) {
    errs.required("spec.concurrencyPolicy");
  } else if (cp != "Allow" && cp != "Forbid" && cp != "Replace") {
    errs.notSupported("spec.concurrencyPolicy", cp, {"Allow", "Forbid", "Replace"});
  }
  errs.nonNegative("spec.startingDeadlineSeconds", find(obj, {"spec", "startingDeadlineSeconds"}));
  errs.nonNegative("spec.successfulJobsHistoryLimit", find(obj, {"spec", "successfulJobsHistoryLimit"}));
  errs.nonNegative("spec.failedJobsHistoryLimit", find(obj, {"spec", "failedJobsHistoryLimit"}));
  const json* tmpl = find(obj, {"spec", "jobTemplate", "spec", "template"});
  validatePodTemplate(tmpl, "spec.jobTemplate.spec.template", errs);
  if (tmpl) {
    std::string rp = str(*tmpl, {"spec", "restartPolicy"});
    if (rp != "OnFailure" && rp != "Never") {
      errs.notSupported("spec.jobTemplate.spec.template.spec.restartPolicy", rp, {"OnFailure", "Never"});
    }
  }
}

KindSpec cronJobKind() {
  KindSpec k = makeKind("batch", "v1", "CronJob", "cronjobs", "cronjob", true);
  k.short_names = {"cj"};
  k.categories = {"all"};
  k.has_status = true;
  k.uses_generation = true;
  k.defaults = [](json& obj) {
    json& spec = child(obj, "spec");
    setDefault(spec, "concurrencyPolicy", "Allow");
    setDefault(spec, "suspend", false);
    setDefault(spec, "successfulJobsHistoryLimit", 3);
    setDefault(spec, "failedJobsHistoryLimit", 1);
    defaultPodTemplate(child(child(spec, "jobTemplate"), "spec")["template"]);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    // Job names are "<cronjob>-<minutes>", which must stay within 63 characters.
    std::string name = str(obj, {"metadata", "name"});
    if (name.size() > 52) errs.invalid("metadata.name", name, "must be no more than 52 characters");
    validateCronJobSpec(obj, errs);
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
               column("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"),
               column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false."),
               column("Active", "integer", "A list of pointers to currently running jobs."),
               column("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
               ageColumn(),
               column("Containers", "string", "Names of each container in the template.", 1),
               column("Images", "string", "Images referenced by each container in the template.", 1),
               column("Selector", "string", "A label query over pods that should match the pod count.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    const json* last = find(obj, {"status", "lastScheduleTime"});
    std::string lastSchedule = last && last->is_string() ? since(last, now) : "<none>";
    const json* tspec = find(obj, {"spec", "jobTemplate", "spec", "template", "spec"});
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"spec", "schedule"}),
                             str(obj, {"spec", "timeZone"}, "<none>"),
                             flag(obj, {"spec", "suspend"}) ? "True" : "False",
                             static_cast<int64_t>(count(obj, {"status", "active"})), lastSchedule,
                             ageCell(obj, now), containerNames(tspec), containerImages(tspec),
                             formatLabelSelector(find(obj, {"spec", "jobTemplate", "spec", "selector"}))};
  };
  return k;
}

}  // namespace

void registerBatchKinds(KindRegistry& reg) {
  reg.add(jobKind());
  reg.add(cronJobKind());
}

}  // namespace berth::apiserver::kinds
