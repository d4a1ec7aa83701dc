#include "controllers/scheduler/scheduler.h"

#include "common/log.h"
#include "common/time_util.h"

namespace berth::controllers::scheduler {

using client::ObjectPtr;

namespace {

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};

const client::Resource& podsResource() {
  static const client::Resource r{"", "v1", "pods", "Pod", true, kVerbs};
  return r;
}

const json& field(const json& obj, const char* a, const char* b = nullptr) {
  static const json kNull;
  if (!obj.is_object() || !obj.contains(a)) return kNull;
  const json& x = obj[a];
  if (!b) return x;
  if (!x.is_object() || !x.contains(b)) return kNull;
  return x[b];
}

bool assigned(const json& pod) {
  const json& n = field(pod, "spec", "nodeName");
  return n.is_string() && !n.get<std::string>().empty();
}

// What a pending pod's update must change to be worth another attempt: not its status (our own
// condition writes) nor its resourceVersion.
bool schedulingInputsChanged(const json& a, const json& b) {
  return field(a, "spec") != field(b, "spec") ||
         field(a, "metadata", "labels") != field(b, "metadata", "labels") ||
         field(a, "metadata", "annotations") != field(b, "metadata", "annotations");
}

const json* podScheduledCondition(const json& pod) {
  const json& conds = field(pod, "status", "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == "PodScheduled") return &c;
  return nullptr;
}

}  // namespace

const client::Resource& nodesResource() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, kVerbs};
  return r;
}

Scheduler::Scheduler(client::Client* client, client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      pods_(informers->informerFor(podsResource())),
      nodes_(informers->informerFor(nodesResource())),
      queue_(config_.queue),
      recorder_(client, kDefaultSchedulerName, "", config_.events) {
  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr& p) { onPodAdd(p); };
  ph.on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { onPodUpdate(o, p); };
  ph.on_delete = [this](const ObjectPtr& p) { onPodDelete(p); };
  pods_->addEventHandlers(ph);
  client::EventHandlers nh;
  nh.on_add = [this](const ObjectPtr& n) { onNodeChange(n); };
  nh.on_update = [this](const ObjectPtr&, const ObjectPtr& n) { onNodeChange(n); };
  nh.on_delete = [this](const ObjectPtr& n) {
    cache_.removeNode(field(*n, "metadata", "name").get<std::string>());
  };
  nodes_->addEventHandlers(nh);
}

Scheduler::~Scheduler() { stop(); }

// ---- informer handlers ----

void Scheduler::onPodAdd(const ObjectPtr& pod) {
  if (assigned(*pod)) {
    cache_.upsertPod(pod);
    return;
  }
  if (podNeedsScheduling(*pod)) queue_.add(client::objectKey(*pod));
}

void Scheduler::onPodUpdate(const ObjectPtr& old_pod, const ObjectPtr& pod) {
  std::string key = client::objectKey(*pod);
  if (assigned(*pod)) {
    if (old_pod == pod) return;  // resync
    bool freed = !podTerminated(*old_pod) && podTerminated(*pod);
    cache_.upsertPod(pod);
    queue_.remove(key);
    if (freed) queue_.moveAllToActive();
    return;
  }
  if (!podNeedsScheduling(*pod)) {
    queue_.remove(key);
    return;
  }
  if (old_pod == pod || !schedulingInputsChanged(*old_pod, *pod)) return;
  queue_.add(key);
}

void Scheduler::onPodDelete(const ObjectPtr& pod) {
  std::string key = client::objectKey(*pod);
  queue_.remove(key);
  if (cache_.removePod(key)) queue_.moveAllToActive();
}

void Scheduler::onNodeChange(const ObjectPtr& node) {
  if (cache_.upsertNode(node)) queue_.moveAllToActive();
}

// ---- scheduling ----

void Scheduler::start() {
  timers_ = std::make_unique<TimerQueue>();
  scheduleFlush();
  for (int i = 0; i < config_.bind_workers; ++i) workers_.emplace_back([this] { worker(); });
  scheduling_thread_ = std::thread([this] {
    for (auto* inf : {pods_, nodes_})
      while (!inf->waitForSync(std::chrono::milliseconds(200)))
        if (stop_.cancelled()) return;
    BLOG(2, "scheduler caches synced").kv("nodes", cache_.numNodes()).kv("pods", cache_.numPods());
    run();
  });
}

void Scheduler::stop() {
  stop_.cancel();
  queue_.shutDown();
  if (scheduling_thread_.joinable()) scheduling_thread_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
  if (timers_) timers_->stop();
  recorder_.stop();
}

void Scheduler::scheduleFlush() {
  timers_->scheduleAfter(config_.flush_interval, [this] {
    if (stop_.cancelled()) return;
    queue_.flushUnschedulable();
    scheduleFlush();
  });
}

void Scheduler::run() {
  std::string key;
  uint64_t move_seq = 0;
  while (queue_.pop(&key, &move_seq)) {
    try {
      scheduleOne(key, move_seq);
    } catch (const std::exception& e) {
      BLOG_ERROR("scheduling attempt threw").kv("pod", key).kv("error", e.what());
      queue_.backoff(key);
    }
    queue_.done(key);
  }
}

void Scheduler::scheduleOne(const std::string& key, uint64_t move_seq) {
  ObjectPtr pod = pods_->get(key);
  if (!pod || !podNeedsScheduling(*pod)) {
    queue_.remove(key);
    return;
  }
  if (cache_.isAssumedOrAssigned(key)) return;  // its binding is in flight
  PodInfo info = parsePod(pod);
  ScheduleResult res;
  auto started = std::chrono::steady_clock::now();
  {
    auto lock = cache_.lock();
    auto ctx = PodContext::build(std::move(info), cache_);
    if (!ctx.isOk()) {
      res.message = ctx.status().message();
    } else {
      res = selector_.select(*ctx, cache_);
      if (!res.node.empty()) cache_.assumeLocked(ctx->pod, res.node);
    }
  }
  if (res.node.empty()) {
    BLOG(2, "pod is unschedulable").kv("pod", key).kv("reason", res.message);
    // The condition is written before the next attempt can bind the pod, so it never lands
    // after the binding's PodScheduled=True.
    recordFailure(pod, res.message);
    queue_.markUnschedulable(key, move_seq);
    return;
  }
  BLOG(4, "pod scheduled").kv("pod", key).kv("node", res.node).kv("evaluated", res.evaluated)
      .kv("feasible", res.feasible);
  noteAttempt(std::chrono::steady_clock::now() - started);
  submit([this, pod, node = res.node] { bind(pod, node); });
}

void Scheduler::bind(const ObjectPtr& pod, const std::string& node) {
  const json& meta = (*pod)["metadata"];
  std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
  std::string key = ns + "/" + name;
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", name}, {"namespace", ns}, {"uid", meta.value("uid", "")}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  auto r = client_->request("POST", podsResource().path(ns, name, "binding"), binding.dump());
  if (r.isOk()) {
    recorder_.event(*pod, client::EventRecorder::Type::kNormal, "Scheduled",
                    "Successfully assigned " + key + " to " + node);
    return;
  }
  cache_.forget(key);
  Code code = r.status().code();
  BLOG(2, "binding failed").kv("pod", key).kv("node", node).kv("error", r.status().toString());
  if (code == Code::kNotFound || code == Code::kConflict) {
    // Deleted, or assigned by someone else: the informer will tell.
    queue_.remove(key);
    return;
  }
  recorder_.event(*pod, client::EventRecorder::Type::kWarning, "FailedScheduling",
                  "Binding rejected: " + r.status().message());
  queue_.backoff(key);
}

void Scheduler::recordFailure(const ObjectPtr& pod, const std::string& message) {
  recorder_.event(*pod, client::EventRecorder::Type::kWarning, "FailedScheduling", message);
  const json* cond = podScheduledCondition(*pod);
  if (cond && cond->value("status", "") == "False" && cond->value("reason", "") == "Unschedulable" &&
      cond->value("message", "") == message)
    return;
  std::string transition = cond && cond->value("status", "") == "False"
                               ? cond->value("lastTransitionTime", "")
                               : formatRfc3339(SystemClock::instance().now());
  json patch = {{"status",
                 {{"conditions",
                   {{{"type", "PodScheduled"},
                     {"status", "False"},
                     {"reason", "Unschedulable"},
                     {"message", message},
                     {"lastProbeTime", nullptr},
                     {"lastTransitionTime", transition}}}}}}};
  const json& meta = (*pod)["metadata"];
  auto r = client_->request("PATCH",
                            podsResource().path(meta.value("namespace", ""), meta.value("name", ""),
                                                "status"),
                            patch.dump(), client::contentType(client::PatchType::kStrategicMerge));
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    BLOG_WARN("could not set PodScheduled condition").kv("pod", client::objectKey(*pod))
        .kv("error", r.status().toString());
}

void Scheduler::noteAttempt(std::chrono::steady_clock::duration took) {
  constexpr int kEvery = 1000;
  algorithm_time_ += took;
  if (++scheduled_ % kEvery != 0) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(algorithm_time_).count();
  BLOG(2, "scheduler progress").kv("scheduled", scheduled_).kv("algorithm_us_per_pod", us / kEvery)
      .kv("nodes", cache_.numNodes());
  algorithm_time_ = {};
}

// ---- bind workers ----

void Scheduler::submit(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void Scheduler::worker() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;
    auto fn = std::move(tasks_.front());
    tasks_.pop_front();
    ++running_tasks_;
    l.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      BLOG_ERROR("scheduler task threw").kv("error", e.what());
    }
    l.lock();
    --running_tasks_;
    if (tasks_.empty() && running_tasks_ == 0) idle_cv_.notify_all();
  }
}

void Scheduler::waitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  idle_cv_.wait(l, [&] { return stopping_ || (tasks_.empty() && running_tasks_ == 0); });
}

}  // namespace berth::controllers::scheduler
