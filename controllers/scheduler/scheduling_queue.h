// SchedulingQueue: pending pods waiting for a scheduling attempt, as upstream's
// PriorityQueue without priorities: an active queue (a WorkQueue: a key is handed out once,
// never to two workers), a backoff (delayed adds: 1 s doubling to 10 s per failed attempt) and
// the unschedulable pods, which wait for a cluster event that may make them fit (node added or
// changed, pod deleted: moveAllToActive) or, at the latest, for `unschedulable_timeout`
// (flushUnschedulable, called periodically). No polling: a pod that failed is not looked at
// again until something changed.
// A move that happens while a pod is being scheduled would be missed if the pod then went to
// the unschedulable set, so pop() returns the move sequence number and markUnschedulable()
// sends the pod to backoff instead when a move happened since.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "client/workqueue.h"

namespace berth::controllers::scheduler {

class SchedulingQueue {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{10000};
    std::chrono::milliseconds unschedulable_timeout{5 * 60 * 1000};
    std::function<Clock::time_point()> now;  // default steady_clock
  };
  explicit SchedulingQueue(Options opts);
  SchedulingQueue() : SchedulingQueue(Options()) {}

  // A pod to schedule now (new, or changed): leaves the unschedulable set.
  void add(const std::string& key);
  // Blocks for the next pod; false once shut down. Call done() after the attempt.
  bool pop(std::string* key, uint64_t* move_seq);
  void done(const std::string& key);
  // The attempt found no node: wait for a cluster event (or backoff if one came meanwhile).
  void markUnschedulable(const std::string& key, uint64_t move_seq);
  // The attempt failed for another reason (bind error): retry after the pod's backoff.
  void backoff(const std::string& key);
  // Forgets the pod (bound or deleted).
  void remove(const std::string& key);
  // A cluster event: every unschedulable pod goes back (through its backoff).
  void moveAllToActive();
  // Moves pods unschedulable for longer than unschedulable_timeout.
  void flushUnschedulable();
  void shutDown();

  size_t numUnschedulable() const;
  size_t numActive() const { return queue_.len(); }
  bool isUnschedulable(const std::string& key) const;

 private:
  struct PodState {
    int attempts = 0;
    Clock::time_point last_failure;
  };
  std::chrono::milliseconds backoffLeftLocked(const std::string& key, Clock::time_point now) const;
  void activateLocked(const std::string& key, Clock::time_point now);

  Options opts_;
  client::WorkQueue queue_;
  mutable std::mutex mu_;
  std::map<std::string, PodState> state_;
  std::map<std::string, Clock::time_point> unschedulable_;  // key -> since
  uint64_t move_seq_ = 0;
};

}  // namespace berth::controllers::scheduler
