// JobController: runs a Job's pods to completion, as upstream's pkg/controller/job, in both
// completion modes. Indexed: each pod carries a completion index 0..completions-1 (annotation
// and label batch.kubernetes.io/job-completion-index, hostname <job>-<index>, env
// JOB_COMPLETION_INDEX); missing indexes are started lowest first, duplicates and pods of
// finished indexes are deleted, status.completedIndexes lists the done ones ("0-2,5"), and the
// job completes once every index succeeded.
//
// Handlers only enqueue "ns/name" of Jobs: a pod maps to its controlling Job. reconcile(key)
// reads the cache and counts the Job's pods: active (neither terminal nor deleting),
// succeeded, failed. The counters are derived from the pods that exist, never lower than the
// counters already in status, so a restart of the controller recounts the same numbers without
// pod finalizers (a finished pod deleted by a user still counts once recorded). Then:
//  - failed (plus container restarts under restartPolicy OnFailure) above spec.backoffLimit:
//    condition Failed, reason BackoffLimitExceeded; running longer than activeDeadlineSeconds:
//    Failed, reason DeadlineExceeded; either way the active pods are deleted;
//  - succeeded reaching spec.completions (or, without completions, a success and nothing
//    active): condition Complete and completionTime, surplus active pods deleted;
//  - otherwise keeps min(parallelism, completions - succeeded) pods active (0 while suspended),
//    creating pods (generateName "<job>-", the template's labels plus batch.kubernetes.io/
//    job-name and controller-uid, a controlling ownerReference) or deleting surplus ones, only
//    when expectations are met; after a pod failure the next pod waits an exponential back-off
//    (failure_backoff x 2^(failed-1), capped at max_failure_backoff; upstream 10 s and 6 min)
//    measured from the latest failure, unless a pod succeeded since.
// Status (active, ready, terminating, succeeded, failed, startTime, completionTime, conditions,
// uncountedTerminatedPods {}) goes through PUT /status when it changes. A finished Job with
// ttlSecondsAfterFinished is deleted (background propagation) once that time has passed.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

// "0-2,5" <-> {0,1,2,5} (status.completedIndexes); indexes >= limit are dropped.
std::set<int64_t> parseCompletedIndexes(const std::string& s, int64_t limit);
std::string formatCompletedIndexes(const std::set<int64_t>& indexes);

class JobController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    std::chrono::seconds expectations_ttl{300};
    std::chrono::milliseconds failure_backoff{10000};
    std::chrono::milliseconds max_failure_backoff{360000};
    const Clock* clock = nullptr;  // default SystemClock
    client::EventRecorder* recorder = nullptr;  // SuccessfulCreate/Delete, FailedCreate...
  };
  // Registers informers (jobs, pods) and handlers (before informers->start()).
  JobController(client::Client* client, client::InformerFactory* informers, Config config);
  ~JobController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }
  Expectations& expectations() { return expectations_; }

 private:
  struct Counts;
  Counts count(const json& job) const;
  Status deletePods(const std::string& key, const json& job,
                    const std::vector<client::ObjectPtr>& pods);
  // With `indexes`, pod i gets completion index indexes[i].
  Status createPods(const std::string& key, const json& job, int64_t n,
                    const std::vector<int64_t>& indexes);
  void indexedPlan(const json& job, const Counts& c, const std::set<int64_t>& done,
                   std::vector<client::ObjectPtr>* surplus, std::vector<int64_t>* missing) const;
  std::chrono::milliseconds failureBackoff(const Counts& c, int64_t failed, TimePoint now) const;
  ReconcileResult finished(const std::string& key, const json& job, TimePoint now);
  Status writeStatus(const std::string& key, const json& job, const json& status);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* jobs_;
  client::Informer* pods_;
  Expectations expectations_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
