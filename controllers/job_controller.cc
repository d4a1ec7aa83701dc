#include "controllers/job_controller.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "controllers/owned_pods.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

namespace {

constexpr const char kJobNameLabel[] = "batch.kubernetes.io/job-name";
constexpr const char kControllerUidLabel[] = "batch.kubernetes.io/controller-uid";
constexpr const char kCompletionIndex[] = "batch.kubernetes.io/job-completion-index";

bool indexedJob(const json& job) { return strAt(job, {"spec", "completionMode"}) == "Indexed"; }

// The pod's completion index, or -1 when it has none (or a malformed one).
int64_t completionIndexOf(const json& pod) {
  std::string v = strAt(pod, {"metadata", "annotations", kCompletionIndex});
  if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), ::isdigit)) return -1;
  return std::stoll(v);
}

// When the pod stopped: the latest container finishedAt, else its creation time.
TimePoint finishTimeOf(const json& pod) {
  TimePoint best{};
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& cs = jsonAt(pod, {"status", list});
    if (!cs.is_array()) continue;
    for (const auto& c : cs) {
      TimePoint t;
      if (parseRfc3339(strAt(c, {"state", "terminated", "finishedAt"}), &t) && t > best) best = t;
    }
  }
  if (best == TimePoint{}) parseRfc3339(strAt(pod, {"metadata", "creationTimestamp"}), &best);
  return best;
}

bool conditionTrue(const json& obj, const std::string& type) {
  const json& conds = jsonAt(obj, {"status", "conditions"});
  if (!conds.is_array()) return false;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == type && c.value("status", "") == "True") return true;
  return false;
}

std::string conditionTime(const json& obj, const std::string& type) {
  const json& conds = jsonAt(obj, {"status", "conditions"});
  if (conds.is_array())
    for (const auto& c : conds)
      if (c.is_object() && c.value("type", "") == type) return c.value("lastTransitionTime", "");
  return "";
}

void setCondition(json& status, const std::string& type, const std::string& reason,
                  const std::string& message, TimePoint now) {
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  std::string ts = formatRfc3339(now);
  json c = {{"type", type},         {"status", "True"},  {"lastProbeTime", ts},
            {"lastTransitionTime", ts}, {"reason", reason}, {"message", message}};
  for (auto& have : conds)
    if (have.is_object() && have.value("type", "") == type) {
      have = std::move(c);
      return;
    }
  conds.push_back(std::move(c));
}

int64_t restartsOf(const json& pod) {
  int64_t n = 0;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& cs = jsonAt(pod, {"status", list});
    if (cs.is_array())
      for (const auto& c : cs)
        if (c.is_object()) n += c.value("restartCount", int64_t{0});
  }
  return n;
}

// Surplus pods go not-ready first, then newest first.
bool deleteFirst(const ObjectPtr& a, const ObjectPtr& b) {
  if (podReady(*a) != podReady(*b)) return !podReady(*a);
  std::string ta = strAt(*a, {"metadata", "creationTimestamp"});
  std::string tb = strAt(*b, {"metadata", "creationTimestamp"});
  if (ta != tb) return ta > tb;
  return nameOf(*a) > nameOf(*b);
}

}  // namespace

std::set<int64_t> parseCompletedIndexes(const std::string& s, int64_t limit) {
  std::set<int64_t> out;
  for (const auto& part : split(s, ',')) {
    if (part.empty()) continue;
    size_t dash = part.find('-');
    std::string a = part.substr(0, dash), b = dash == std::string::npos ? a : part.substr(dash + 1);
    if (a.empty() || b.empty() || a.size() > 9 || b.size() > 9 ||
        !std::all_of(a.begin(), a.end(), ::isdigit) || !std::all_of(b.begin(), b.end(), ::isdigit))
      continue;
    for (int64_t i = std::stoll(a), e = std::min<int64_t>(std::stoll(b), limit - 1); i <= e; ++i) out.insert(i);
  }
  return out;
}

std::string formatCompletedIndexes(const std::set<int64_t>& idx) {
  std::string out;
  for (auto it = idx.begin(); it != idx.end();) {
    int64_t first = *it, last = *it;
    for (++it; it != idx.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ",";
    out += std::to_string(first);
    if (last != first) out += "-" + std::to_string(last);
  }
  return out;
}

struct JobController::Counts {
  std::vector<ObjectPtr> active;
  int64_t succeeded = 0, failed = 0, ready = 0, terminating = 0, restarts = 0;
  // Indexed jobs: indexes with a succeeded pod, active pods by index (-1: no valid index).
  std::set<int64_t> succeeded_indexes;
  std::map<int64_t, std::vector<ObjectPtr>> active_by_index;
  TimePoint last_failure{}, last_success{};
};

JobController::JobController(client::Client* client, client::InformerFactory* informers,
                             Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      expectations_(clock_, config_.expectations_ttl) {
  controller_ = Controller::forConfig("job", config_, [this](const std::string& k) { return reconcile(k); });
  jobs_ = informers->informerFor(res::jobs());
  pods_ = informers->informerFor(podsResource());
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers jh = controller_->keyHandlers(false);
  jh.on_delete = [this](const ObjectPtr& o) { expectations_.forget(client::objectKey(*o)); };
  jobs_->addEventHandlers(std::move(jh));

  pods_->addEventHandlers(ownedPodHandlers("Job", "batch", jobs_, &expectations_, controller_.get()));
}

JobController::~JobController() { stop(); }

void JobController::start() { controller_->start({jobs_, pods_}); }
void JobController::stop() { controller_->stop(); }

JobController::Counts JobController::count(const json& job) const {
  Counts c;
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(job))) {
    const json* ref = controllerRefOfKind(*pod, "Job");
    if (!ref || ref->value("uid", "") != uidOf(job)) continue;
    std::string phase = strAt(*pod, {"status", "phase"});
    int64_t index = completionIndexOf(*pod);
    if (phase == "Succeeded") {
      ++c.succeeded;
      if (index >= 0) c.succeeded_indexes.insert(index);
      c.last_success = std::max(c.last_success, finishTimeOf(*pod));
    } else if (phase == "Failed") {
      ++c.failed;
      c.last_failure = std::max(c.last_failure, finishTimeOf(*pod));
    } else if (isDeleting(*pod)) {
      ++c.terminating;
    } else {
      c.active.push_back(pod);
      c.active_by_index[index].push_back(pod);
      c.ready += podReady(*pod);
      c.restarts += restartsOf(*pod);
    }
  }
  return c;
}

Status JobController::deletePods(const std::string& key, const json& job,
                                 const std::vector<ObjectPtr>& pods) {
  if (pods.empty()) return Status::ok();
  std::set<std::string> keys;
  for (const auto& p : pods) keys.insert(client::objectKey(*p));
  expectations_.expectDeletions(key, keys);
  Status first_err;
  for (const auto& p : pods) {
    auto r = client_->remove(podsResource(), namespaceOf(*p), nameOf(*p),
                             {{"preconditions", {{"uid", uidOf(*p)}}}});
    if (r.isOk()) recordEvent(config_.recorder, job, false, "SuccessfulDelete", "Deleted pod: " + nameOf(*p));
    if (!r.isOk()) {
      expectations_.deletionObserved(key, client::objectKey(*p));
      if (r.status().code() != Code::kNotFound && first_err.isOk()) first_err = r.status();
    }
  }
  BLOG(2, "deleted job pods").kv("job", key).kv("count", pods.size());
  return first_err.isOk() ? first_err : first_err.withContext("deleting pods of " + key);
}

// Indexed jobs: the pod of `index` is named "<job>-<index>-...", carries the index as
// annotation and label, gets hostname "<job>-<index>" and JOB_COMPLETION_INDEX in every
// container's environment, as upstream does.
void setCompletionIndex(json& pod, const std::string& job_name, int64_t index) {
  std::string idx = std::to_string(index);
  pod["metadata"]["generateName"] = job_name + "-" + idx + "-";
  pod["metadata"]["annotations"][kCompletionIndex] = idx;
  pod["metadata"]["labels"][kCompletionIndex] = idx;
  json& spec = pod["spec"];
  if (!spec.contains("hostname")) spec["hostname"] = job_name + "-" + idx;
  json env = {{"name", "JOB_COMPLETION_INDEX"},
              {"valueFrom",
               {{"fieldRef", {{"fieldPath", std::string("metadata.annotations['") + kCompletionIndex + "']"}}}}}};
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object()) continue;
      if (!c.contains("env") || !c["env"].is_array()) c["env"] = json::array();
      c["env"].push_back(env);
    }
  }
}

Status JobController::createPods(const std::string& key, const json& job, int64_t n,
                                 const std::vector<int64_t>& indexes) {
  const json& tmpl = jsonAt(job, {"spec", "template"});
  json m = json::object();
  m["generateName"] = nameOf(job) + "-";
  m["namespace"] = namespaceOf(job);
  m["labels"] = jsonAt(tmpl, {"metadata", "labels"}).is_object() ? tmpl["metadata"]["labels"]
                                                                  : json::object();
  m["labels"][kJobNameLabel] = nameOf(job);
  m["labels"][kControllerUidLabel] = uidOf(job);
  if (jsonAt(tmpl, {"metadata", "annotations"}).is_object())
    m["annotations"] = tmpl["metadata"]["annotations"];
  m["ownerReferences"] = json::array({controllerRefTo("batch/v1", "Job", job)});
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", m},
              {"spec", jsonAt(tmpl, {"spec"}).is_object() ? tmpl["spec"] : json::object()}};
  expectations_.expectCreations(key, static_cast<int>(n));
  Status first_err;
  for (int64_t i = 0; i < n; ++i) {
    json one = pod;
    if (i < static_cast<int64_t>(indexes.size())) setCompletionIndex(one, nameOf(job), indexes[i]);
    auto r = first_err.isOk() ? client_->create(podsResource(), namespaceOf(job), one)
                              : Result<json>(first_err);
    if (r.isOk()) recordEvent(config_.recorder, job, false, "SuccessfulCreate", "Created pod: " + nameOf(*r));
    else if (first_err.isOk())
      recordEvent(config_.recorder, job, true, "FailedCreate", "Error creating: " + r.status().message());
    if (!r.isOk()) {
      expectations_.creationObserved(key);
      if (first_err.isOk()) first_err = r.status();
    }
  }
  BLOG(2, "created job pods").kv("job", key).kv("count", n);
  return first_err.isOk() ? first_err : first_err.withContext("creating pods for " + key);
}

Status JobController::writeStatus(const std::string& key, const json& job, const json& status) {
  if (jsonAt(job, {"status"}) == status) return Status::ok();
  json copy = job;
  copy["status"] = status;
  auto r = client_->update(res::jobs(), namespaceOf(job), nameOf(job), copy, "status");
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    return r.status().withContext("updating status of " + key);
  return Status::ok();
}

ReconcileResult JobController::finished(const std::string& key, const json& job, TimePoint now) {
  Counts c = count(job);
  if (conditionTrue(job, "Failed") && expectations_.satisfied(key)) {
    Status st = deletePods(key, job, c.active);
    if (!st.isOk()) return ReconcileResult::fail(st);
  }
  const json& ttl = jsonAt(job, {"spec", "ttlSecondsAfterFinished"});
  if (!ttl.is_number_integer()) return ReconcileResult::ok();
  std::string at = strAt(job, {"status", "completionTime"});
  if (at.empty()) at = conditionTime(job, conditionTrue(job, "Failed") ? "Failed" : "Complete");
  TimePoint done;
  if (!parseRfc3339(at, &done)) done = now;
  TimePoint expiry = done + std::chrono::seconds(ttl.get<int64_t>());
  if (now < expiry)
    return ReconcileResult::after(
        std::chrono::duration_cast<std::chrono::milliseconds>(expiry - now) +
        std::chrono::milliseconds(100));
  auto r = client_->remove(res::jobs(), namespaceOf(job), nameOf(job),
                           {{"propagationPolicy", "Foreground"},
                            {"preconditions", {{"uid", uidOf(job)}}}});
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    return ReconcileResult::fail(r.status().withContext("deleting finished job " + key));
  BLOG(2, "deleted finished job after its TTL").kv("job", key);
  return ReconcileResult::ok();
}

ReconcileResult JobController::reconcile(const std::string& key) {
  ObjectPtr cached = jobs_->get(key);
  if (!cached) {
    expectations_.forget(key);
    return ReconcileResult::ok();
  }
  const json& job = *cached;
  if (isDeleting(job)) return ReconcileResult::ok();
  TimePoint now = clock_->now();
  if (conditionTrue(job, "Complete") || conditionTrue(job, "Failed")) return finished(key, job, now);

  Counts c = count(job);
  json next = jsonAt(job, {"status"}).is_object() ? job["status"] : json::object();
  const bool indexed = indexedJob(job);
  std::set<int64_t> done_indexes;
  if (indexed) {
    int64_t n = intAt(job, {"spec", "completions"}, 0);
    done_indexes = parseCompletedIndexes(strAt(job, {"status", "completedIndexes"}), n);
    for (int64_t i : c.succeeded_indexes)
      if (i < n) done_indexes.insert(i);
    c.succeeded = static_cast<int64_t>(done_indexes.size());
    next["completedIndexes"] = formatCompletedIndexes(done_indexes);
  }
  int64_t succeeded = indexed ? c.succeeded : std::max(intAt(job, {"status", "succeeded"}, 0), c.succeeded);
  int64_t failed = std::max(intAt(job, {"status", "failed"}, 0), c.failed);
  bool suspended = jsonAt(job, {"spec", "suspend"}) == true;
  if (!next.contains("startTime") && !suspended) next["startTime"] = formatRfc3339(now);
  bool on_failure = strAt(job, {"spec", "template", "spec", "restartPolicy"}) == "OnFailure";
  int64_t backoff_limit = intAt(job, {"spec", "backoffLimit"}, 6);
  const json& completions = jsonAt(job, {"spec", "completions"});
  int64_t parallelism = intAt(job, {"spec", "parallelism"}, 1);

  std::string fail_reason, fail_message;
  std::chrono::milliseconds deadline_in{0}, retry_in{0};
  TimePoint start;
  const json& ads = jsonAt(job, {"spec", "activeDeadlineSeconds"});
  if (failed + (on_failure ? c.restarts : 0) > backoff_limit) {
    fail_reason = "BackoffLimitExceeded";
    fail_message = "Job has reached the specified backoff limit";
  } else if (ads.is_number_integer() && next.contains("startTime") &&
             parseRfc3339(next["startTime"].get<std::string>(), &start)) {
    TimePoint deadline = start + std::chrono::seconds(ads.get<int64_t>());
    if (now >= deadline) {
      fail_reason = "DeadlineExceeded";
      fail_message = "Job was active longer than specified deadline";
    } else {
      deadline_in = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    }
  }
  bool complete = completions.is_number_integer() ? succeeded >= completions.get<int64_t>()
                                                  : succeeded > 0 && c.active.empty();
  int64_t active = static_cast<int64_t>(c.active.size());
  Status st;
  // The event of the job finishing, recorded once the status saying so is written: a sync on a
  // stale cache fails that write with a conflict instead of recording the event again.
  std::function<void()> finish_event;
  if (!fail_reason.empty() || complete) {
    // Finished: whatever still runs is no longer wanted.
    st = deletePods(key, job, c.active);
    c.terminating += active;
    active = 0;
    c.ready = 0;
    if (complete && fail_reason.empty()) {
      setCondition(next, "Complete", "CompletionsReached", "Reached expected number of succeeded pods",
                   now);
      next["completionTime"] = formatRfc3339(now);
      finish_event = [&] { recordEvent(config_.recorder, job, false, "Completed", "Job completed"); };
    } else {
      setCondition(next, "Failed", fail_reason, fail_message, now);
      finish_event = [&] { recordEvent(config_.recorder, job, true, fail_reason, fail_message); };
    }
    BLOG(2, "job finished").kv("job", key).kv("result", fail_reason.empty() ? "Complete" : fail_reason);
  } else if (expectations_.satisfied(key)) {
    int64_t want = suspended ? 0 : parallelism;
    if (completions.is_number_integer()) want = std::min(want, completions.get<int64_t>() - succeeded);
    else if (succeeded > 0) want = 0;
    want = std::max<int64_t>(want, 0);
    std::vector<ObjectPtr> surplus;
    std::vector<int64_t> missing;
    if (indexed) indexedPlan(job, c, done_indexes, &surplus, &missing);
    int64_t useful = active - static_cast<int64_t>(surplus.size());
    std::chrono::milliseconds backoff = failureBackoff(c, failed, now);
    if (!surplus.empty()) {
      st = deletePods(key, job, surplus);
    } else if (want > useful && backoff.count() > 0) {
      retry_in = backoff;  // a pod failed recently: the next one waits, as upstream's back-off
    } else if (want > useful) {
      int64_t n = want - useful;
      if (indexed) {
        if (static_cast<int64_t>(missing.size()) > n) missing.resize(static_cast<size_t>(n));
        n = static_cast<int64_t>(missing.size());
      }
      if (n > 0) st = createPods(key, job, n, missing);
    } else if (want < useful) {
      surplus = c.active;
      std::sort(surplus.begin(), surplus.end(), deleteFirst);
      surplus.resize(static_cast<size_t>(useful - want));
      st = deletePods(key, job, surplus);
    }
  }
  next["active"] = active;
  next["ready"] = c.ready;
  next["terminating"] = c.terminating;
  next["succeeded"] = succeeded;
  next["failed"] = failed;
  next["uncountedTerminatedPods"] = json::object();
  Status ws = writeStatus(key, job, next);
  if (!ws.isOk()) return ReconcileResult::fail(ws);
  if (finish_event) finish_event();
  if (!st.isOk()) return ReconcileResult::fail(st);
  if (retry_in.count() > 0 && (deadline_in.count() == 0 || retry_in < deadline_in))
    deadline_in = retry_in;
  if (deadline_in.count() > 0)
    return ReconcileResult::after(deadline_in + std::chrono::milliseconds(100));
  return ReconcileResult::ok();
}

void JobController::indexedPlan(const json& job, const Counts& c, const std::set<int64_t>& done,
                                std::vector<ObjectPtr>* surplus, std::vector<int64_t>* missing) const {
  int64_t n = intAt(job, {"spec", "completions"}, 0);
  for (const auto& [index, pods] : c.active_by_index) {
    if (index < 0 || index >= n || done.count(index)) {
      surplus->insert(surplus->end(), pods.begin(), pods.end());
      continue;
    }
    // One pod per index: keep the one deleteFirst ranks last.
    std::vector<ObjectPtr> dup = pods;
    std::sort(dup.begin(), dup.end(), deleteFirst);
    surplus->insert(surplus->end(), dup.begin(), dup.end() - 1);
  }
  for (int64_t i = 0; i < n; ++i)
    if (!done.count(i) && !c.active_by_index.count(i)) missing->push_back(i);
}

std::chrono::milliseconds JobController::failureBackoff(const Counts& c, int64_t failed,
                                                        TimePoint now) const {
  if (failed == 0 || c.last_failure == TimePoint{} || c.last_success > c.last_failure)
    return std::chrono::milliseconds(0);
  auto delay = config_.failure_backoff;
  for (int64_t i = 1; i < failed && delay < config_.max_failure_backoff; ++i) delay *= 2;
  delay = std::min(delay, config_.max_failure_backoff);
  TimePoint ready_at = c.last_failure + delay;
  if (now >= ready_at) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(ready_at - now);
}

}  // namespace berth::controllers
