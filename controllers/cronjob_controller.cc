#include "controllers/cronjob_controller.h"

#include <algorithm>
#include <cstdio>

#include "client/event_recorder.h"
#include "common/log.h"
#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

const char kCronJobScheduledTimestampAnnotation[] = "batch.kubernetes.io/cronjob-scheduled-timestamp";

namespace {

const client::Resource& cronJobs() {
  static const client::Resource r{"batch", "v1", "cronjobs", "CronJob", true,
                                  {"create", "delete", "get", "list", "patch", "update", "watch"}};
  return r;
}

bool conditionTrue(const json& job, const std::string& type) {
  const json& conds = jsonAt(job, {"status", "conditions"});
  if (!conds.is_array()) return false;
  for (const auto& c : conds)
    if (c.value("type", "") == type && c.value("status", "") == "True") return true;
  return false;
}

bool finished(const json& job) { return conditionTrue(job, "Complete") || conditionTrue(job, "Failed"); }

TimePoint timeAt(const json& obj, std::initializer_list<const char*> path, TimePoint def) {
  TimePoint t;
  std::string s = strAt(obj, path);
  return !s.empty() && parseRfc3339(s, &t) ? t : def;
}

// RFC 3339 in the zone's offset at `t` ("2026-01-01T09:00:00+01:00"; "Z" for UTC).
std::string formatInZone(TimePoint t, const TimeZone& tz) {
  auto offset = tz.offsetAt(t);
  std::string s = formatRfc3339(t + offset);
  if (offset.count() == 0) return s;
  int64_t m = std::abs(offset.count()) / 60;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset.count() < 0 ? '-' : '+',
                static_cast<int>(m / 60), static_cast<int>(m % 60));
  return s.substr(0, s.size() - 1) + buf;
}

json referenceTo(const json& job) {
  return {{"kind", "Job"}, {"namespace", namespaceOf(job)}, {"name", nameOf(job)},
          {"uid", uidOf(job)}, {"apiVersion", "batch/v1"},
          {"resourceVersion", strAt(job, {"metadata", "resourceVersion"})}};
}

}  // namespace

// The Jobs a CronJob controls, from the cache.
struct CronJobController::Children {
  std::vector<ObjectPtr> all;
};

CronJobController::CronJobController(client::Client* client, client::InformerFactory* informers,
                                     Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("cronjob", config_, [this](const std::string& k) { return reconcile(k); });
  cronjobs_ = informers->informerFor(cronJobs());
  jobs_ = informers->informerFor(res::jobs());
  jobs_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  cronjobs_->addEventHandlers(controller_->keyHandlers(false));
  client::EventHandlers jh;
  auto enqueue = [this](const ObjectPtr& o) {
    std::string key = cronJobKeyFor(*o);
    if (!key.empty()) controller_->enqueue(key);
  };
  jh.on_add = enqueue;
  jh.on_update = [enqueue](const ObjectPtr& old_job, const ObjectPtr& o) {
    if (*old_job != *o) enqueue(o);
  };
  jh.on_delete = enqueue;
  jobs_->addEventHandlers(std::move(jh));
}

CronJobController::~CronJobController() { stop(); }

void CronJobController::start() { controller_->start({cronjobs_, jobs_}); }
void CronJobController::stop() { controller_->stop(); }

std::string CronJobController::cronJobKeyFor(const json& job) const {
  const json* ref = controllerRefOfKind(job, "CronJob");
  if (!ref || ref->value("apiVersion", "").rfind("batch/", 0) != 0) return "";
  std::string key = namespaceOf(job) + "/" + ref->value("name", "");
  ObjectPtr cj = cronjobs_->get(key);
  return cj && uidOf(*cj) == ref->value("uid", "") ? key : "";
}

CronJobController::Due CronJobController::mostRecentSchedule(const CronSchedule& schedule,
                                                             const TimeZone& tz, TimePoint earliest,
                                                             TimePoint now) {
  Due due;
  // A schedule every minute over a long outage is bounded by this many steps.
  for (int i = 0; i < 600000; ++i) {
    auto t = schedule.next(earliest, tz);
    if (!t || *t > now) break;
    if (due.at) ++due.missed;
    due.at = *t;
    earliest = *t;
  }
  return due;
}

std::string CronJobController::jobName(const std::string& cronjob, TimePoint scheduled) {
  int64_t minutes = std::chrono::duration_cast<std::chrono::minutes>(scheduled.time_since_epoch()).count();
  return cronjob + "-" + std::to_string(minutes);
}

CronJobController::Children CronJobController::children(const json& cj) const {
  Children c;
  for (const auto& job : jobs_->byIndex(client::kIndexOwnerUid, uidOf(cj))) {
    const json* ref = controllerRefOfKind(*job, "CronJob");
    if (ref && ref->value("uid", "") == uidOf(cj)) c.all.push_back(job);
  }
  return c;
}

Status CronJobController::createJob(const std::string& key, const json& cj, TimePoint scheduled,
                                    const TimeZone& tz, json* status) {
  const json& tmpl = jsonAt(cj, {"spec", "jobTemplate"});
  std::string name = jobName(nameOf(cj), scheduled);
  json meta = {{"name", name}, {"namespace", namespaceOf(cj)}};
  if (jsonAt(tmpl, {"metadata", "labels"}).is_object()) meta["labels"] = tmpl["metadata"]["labels"];
  json ann = jsonAt(tmpl, {"metadata", "annotations"}).is_object() ? tmpl["metadata"]["annotations"]
                                                                  : json::object();
  ann[kCronJobScheduledTimestampAnnotation] = formatInZone(scheduled, tz);
  meta["annotations"] = ann;
  meta["ownerReferences"] = json::array({controllerRefTo("batch/v1", "CronJob", cj)});
  json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", meta},
              {"spec", jsonAt(tmpl, {"spec"}).is_object() ? tmpl["spec"] : json::object()}};
  auto r = client_->create(res::jobs(), namespaceOf(cj), job);
  if (!r.isOk() && r.status().code() != Code::kAlreadyExists) {
    recordEvent(config_.recorder, cj, true, "FailedCreate", "Error creating job: " + r.status().message());
    return r.status().withContext("creating job " + name);
  }
  if (r.isOk()) {
    recordEvent(config_.recorder, cj, false, "SuccessfulCreate", "Created job " + name);
    BLOG(2, "created job").kv("cronjob", key).kv("job", name);
    if (!nameOf(*r).empty()) (*status)["active"].push_back(referenceTo(*r));
  }
  (*status)["lastScheduleTime"] = formatRfc3339(scheduled);
  return Status::ok();
}

Status CronJobController::replaceActive(const json& cj, json* status) {
  for (const auto& ref : (*status)["active"]) {
    std::string name = ref.value("name", "");
    auto r = client_->remove(res::jobs(), namespaceOf(cj), name,
                             {{"propagationPolicy", "Background"}});
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return r.status().withContext("deleting active job " + name);
    recordEvent(config_.recorder, cj, false, "SuccessfulDelete", "Deleted job " + name);
  }
  (*status)["active"] = json::array();
  return Status::ok();
}

Status CronJobController::cleanupHistory(const json& cj, const Children& c) {
  std::vector<ObjectPtr> succeeded, failed;
  for (const auto& job : c.all) {
    if (isDeleting(*job)) continue;
    if (conditionTrue(*job, "Complete")) succeeded.push_back(job);
    else if (conditionTrue(*job, "Failed")) failed.push_back(job);
  }
  auto prune = [&](std::vector<ObjectPtr>& jobs, int64_t limit) -> Status {
    if (static_cast<int64_t>(jobs.size()) <= limit) return Status::ok();
    std::sort(jobs.begin(), jobs.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      TimePoint epoch{};
      TimePoint ta = timeAt(*a, {"status", "startTime"}, timeAt(*a, {"metadata", "creationTimestamp"}, epoch));
      TimePoint tb = timeAt(*b, {"status", "startTime"}, timeAt(*b, {"metadata", "creationTimestamp"}, epoch));
      return ta != tb ? ta < tb : nameOf(*a) < nameOf(*b);
    });
    for (size_t i = 0; i + limit < jobs.size(); ++i) {
      auto r = client_->remove(res::jobs(), namespaceOf(cj), nameOf(*jobs[i]),
                               {{"propagationPolicy", "Background"},
                                {"preconditions", {{"uid", uidOf(*jobs[i])}}}});
      if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
        return r.status().withContext("deleting old job " + nameOf(*jobs[i]));
      if (r.isOk()) recordEvent(config_.recorder, cj, false, "SuccessfulDelete", "Deleted job " + nameOf(*jobs[i]));
    }
    return Status::ok();
  };
  BERTH_RETURN_IF_ERROR(prune(succeeded, intAt(cj, {"spec", "successfulJobsHistoryLimit"}, 3)));
  return prune(failed, intAt(cj, {"spec", "failedJobsHistoryLimit"}, 1));
}

ReconcileResult CronJobController::writeStatus(const std::string& key, const json& cj, const json& status) {
  const json& old = jsonAt(cj, {"status"});
  json cmp = status;
  if (cmp["active"].empty()) cmp.erase("active");
  if ((old.is_object() ? old : json::object()) == cmp) return ReconcileResult::ok();
  json copy = cj;
  copy["status"] = cmp;
  auto r = client_->update(cronJobs(), namespaceOf(cj), nameOf(cj), copy, "status");
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    return ReconcileResult::fail(r.status().withContext("updating status of " + key));
  return ReconcileResult::ok();
}

ReconcileResult CronJobController::reconcile(const std::string& key) {
  ObjectPtr cached = cronjobs_->get(key);
  if (!cached) return ReconcileResult::ok();
  const json& cj = *cached;
  const TimePoint now = clock_->now();
  json status = jsonAt(cj, {"status"}).is_object() ? cj["status"] : json::object();
  Children c = children(cj);

  // status.active: running children only.
  json active = json::array();
  std::string last_success = strAt(cj, {"status", "lastSuccessfulTime"});
  for (const auto& job : c.all) {
    if (conditionTrue(*job, "Complete")) {
      std::string done = strAt(*job, {"status", "completionTime"});
      if (done > last_success) last_success = done;
    }
    if (!finished(*job)) {
      active.push_back(referenceTo(*job));
    } else if (jsonAt(status, {"active"}).is_array()) {
      for (const auto& ref : status["active"])
        if (ref.value("uid", "") == uidOf(*job))
          recordEvent(config_.recorder, cj, false, "SawCompletedJob",
                      "Saw completed job: " + nameOf(*job) + ", condition: " +
                          (conditionTrue(*job, "Complete") ? "Complete" : "Failed"));
    }
  }
  status["active"] = active;
  if (!last_success.empty()) status["lastSuccessfulTime"] = last_success;
  if (isDeleting(cj)) return writeStatus(key, cj, status);

  Status cleaned = cleanupHistory(cj, c);
  if (!cleaned.isOk()) return ReconcileResult::fail(cleaned);

  std::string spec = strAt(cj, {"spec", "schedule"});
  auto schedule = CronSchedule::parse(spec);
  if (!schedule.isOk()) {
    recordEvent(config_.recorder, cj, true, "UnparseableSchedule",
                "unparseable schedule: \"" + spec + "\" : " + schedule.status().message());
    return writeStatus(key, cj, status);
  }
  TimeZone tz;
  std::string zone = strAt(cj, {"spec", "timeZone"});
  if (!zone.empty()) {
    auto loaded = TimeZone::load(zone, config_.zoneinfo_dir);
    if (!loaded.isOk()) {
      recordEvent(config_.recorder, cj, true, "UnknownTimeZone",
                  "invalid timeZone: \"" + zone + "\": " + loaded.status().message());
      return writeStatus(key, cj, status);
    }
    tz = std::move(loaded).value();
  }
  if (jsonAt(cj, {"spec", "suspend"}).is_boolean() && cj["spec"]["suspend"].get<bool>())
    return writeStatus(key, cj, status);

  TimePoint earliest = timeAt(cj, {"status", "lastScheduleTime"},
                              timeAt(cj, {"metadata", "creationTimestamp"}, now));
  const json& sds = jsonAt(cj, {"spec", "startingDeadlineSeconds"});
  if (sds.is_number_integer())
    earliest = std::max(earliest, now - std::chrono::seconds(sds.get<int64_t>()));
  Due due = mostRecentSchedule(*schedule, tz, earliest, now);
  if (due.missed > 100)
    recordEvent(config_.recorder, cj, true, "TooManyMissedTimes",
                "too many missed start times: " + std::to_string(due.missed) +
                    ". Set or decrease .spec.startingDeadlineSeconds or check clock skew");
  Status st;
  if (due.at && jobs_->get(namespaceOf(cj) + "/" + jobName(nameOf(cj), *due.at)) == nullptr) {
    std::string policy = strAt(cj, {"spec", "concurrencyPolicy"}, "Allow");
    if (policy == "Forbid" && !status["active"].empty()) {
      recordEvent(config_.recorder, cj, false, "JobAlreadyActive",
                  "Not starting job because prior execution is running and concurrency policy is Forbid");
    } else {
      if (policy == "Replace") st = replaceActive(cj, &status);
      if (st.isOk()) st = createJob(key, cj, *due.at, tz, &status);
    }
  }
  ReconcileResult r = writeStatus(key, cj, status);
  if (!r.error.isOk()) return r;
  if (!st.isOk()) return ReconcileResult::fail(st);
  auto next = schedule->next(now, tz);
  if (!next) return ReconcileResult::ok();
  return ReconcileResult::after(std::chrono::duration_cast<std::chrono::milliseconds>(*next - now) +
                                std::chrono::milliseconds(100));
}

}  // namespace berth::controllers
