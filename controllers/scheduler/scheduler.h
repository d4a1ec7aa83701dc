// Scheduler: assigns pending pods to nodes, as kube-scheduler's default profile (see filters.h
// and scoring.h for what decides), run in-process by `berth server` as controller "scheduler".
//
// Pods it takes: no spec.nodeName, schedulerName empty or "default-scheduler", not being
// deleted, not terminated. One scheduling thread pops a pod from the SchedulingQueue, filters
// and scores the nodes of the SchedulerCache under its lock, assumes the pod onto the chosen
// node (so the next pod sees the resources taken) and hands the binding to a pool of bind
// workers, which POST pods/NAME/binding and record the `Scheduled` event; a failed bind forgets
// the assumption and backs the pod off. A pod no node fits gets a `FailedScheduling` Warning
// event with upstream's message ("0/3 nodes are available: 3 Insufficient cpu.") and the
// condition PodScheduled=False reason Unschedulable, then waits in the queue's unschedulable
// set until a node is added or changes, or an assigned pod goes away (or 5 minutes pass).
// Thread-safety: start()/stop() from the owner; informer handlers run on informer threads and
// only touch the cache and the queue, which lock themselves.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "common/timer_queue.h"
#include "controllers/scheduler/cache.h"
#include "controllers/scheduler/scheduling_queue.h"
#include "controllers/scheduler/scoring.h"

namespace berth::controllers::scheduler {

const client::Resource& nodesResource();

class Scheduler {
 public:
  struct Config {
    int bind_workers = 16;
    std::chrono::milliseconds flush_interval{30000};
    SchedulingQueue::Options queue;
    client::EventRecorder::Options events;
  };
  // Registers pod and node informers and handlers with `informers` (before it starts).
  Scheduler(client::Client* client, client::InformerFactory* informers, Config config);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the scheduling thread (once the informers have synced) and the bind workers.
  void start();
  void stop();

  // One scheduling attempt for the pod `key` as the scheduling thread makes it (tests).
  void scheduleOne(const std::string& key, uint64_t move_seq);
  // Waits until no binding is queued or running (tests).
  void waitIdle();

  SchedulerCache& cache() { return cache_; }
  SchedulingQueue& queue() { return queue_; }
  client::EventRecorder& recorder() { return recorder_; }

 private:
  void onPodAdd(const client::ObjectPtr& pod);
  void onPodUpdate(const client::ObjectPtr& old_pod, const client::ObjectPtr& pod);
  void onPodDelete(const client::ObjectPtr& pod);
  void onNodeChange(const client::ObjectPtr& node);

  void run();
  void bind(const client::ObjectPtr& pod, const std::string& node);
  void recordFailure(const client::ObjectPtr& pod, const std::string& message);
  // Runs `fn` on a bind worker.
  void submit(std::function<void()> fn);
  void worker();
  void scheduleFlush();
  // Scheduling-thread statistics, logged every 1000 pods placed.
  void noteAttempt(std::chrono::steady_clock::duration took);

  client::Client* client_;
  Config config_;
  client::Informer* pods_;
  client::Informer* nodes_;
  SchedulerCache cache_;
  SchedulingQueue queue_;
  NodeSelector selector_;
  client::EventRecorder recorder_;

  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> tasks_;
  int running_tasks_ = 0;
  bool stopping_ = false;
  client::CancelToken stop_;
  std::thread scheduling_thread_;
  std::vector<std::thread> workers_;
  std::unique_ptr<TimerQueue> timers_;
  uint64_t scheduled_ = 0;  // scheduling thread only
  std::chrono::steady_clock::duration algorithm_time_{};
};

}  // namespace berth::controllers::scheduler
