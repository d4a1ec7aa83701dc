// CronJobController: creates Jobs from each CronJob on its schedule, as upstream's
// pkg/controller/cronjob (the v2 controller).
//
// Handlers only enqueue "ns/name" of CronJobs (a Job maps to its controlling CronJob).
// reconcile(key) reads the cache, then:
//  - status.active: adds running child Jobs that are missing, drops finished or vanished ones
//    (a Complete Job moves status.lastSuccessfulTime to its completionTime);
//  - unless suspended or being deleted, finds the most recent scheduled time in
//    (lastScheduleTime or creationTimestamp, now] of spec.schedule read in spec.timeZone (UTC
//    when unset; common/cron.h); with startingDeadlineSeconds a time older than that is missed
//    (event MissSchedule). For that time it creates the Job "<cronjob>-<minutes since epoch>"
//    (the jobTemplate's labels, annotations plus batch.kubernetes.io/cronjob-scheduled-timestamp,
//    a controlling ownerReference, its spec) and sets status.lastScheduleTime, honouring
//    concurrencyPolicy: Allow runs alongside active Jobs, Forbid skips the run while one is
//    active, Replace deletes the active Jobs first (background propagation);
//  - deletes the oldest finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit;
//  - requeues itself for the next scheduled time.
// An unparseable schedule or unknown time zone records a Warning event and waits for an update.
// Time comes from Config::clock so tests drive the schedule with a fake clock.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "common/cron.h"
#include "controllers/controller.h"

namespace berth::client {
class EventRecorder;
}  // namespace berth::client

namespace berth::controllers {

extern const char kCronJobScheduledTimestampAnnotation[];  // batch.kubernetes.io/cronjob-scheduled-timestamp

class CronJobController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    const Clock* clock = nullptr;               // default SystemClock
    client::EventRecorder* recorder = nullptr;  // SuccessfulCreate, SawCompletedJob, ...
    std::string zoneinfo_dir = "/usr/share/zoneinfo";
  };
  // Registers informers (cronjobs, jobs) and handlers (before informers->start()).
  CronJobController(client::Client* client, client::InformerFactory* informers, Config config);
  ~CronJobController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

  // The latest scheduled time in (earliest, now], and how many were missed before it.
  struct Due {
    std::optional<TimePoint> at;
    int64_t missed = 0;
  };
  static Due mostRecentSchedule(const CronSchedule& schedule, const TimeZone& tz,
                                TimePoint earliest, TimePoint now);
  // "<cronjob>-<minutes since the epoch of `scheduled`>".
  static std::string jobName(const std::string& cronjob, TimePoint scheduled);

 private:
  struct Children;
  std::string cronJobKeyFor(const json& job) const;
  Children children(const json& cj) const;
  Status createJob(const std::string& key, const json& cj, TimePoint scheduled, const TimeZone& tz,
                   json* status);
  Status replaceActive(const json& cj, json* status);
  Status cleanupHistory(const json& cj, const Children& c);
  ReconcileResult writeStatus(const std::string& key, const json& cj, const json& status);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* cronjobs_;
  client::Informer* jobs_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
