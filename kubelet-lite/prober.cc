#include "kubelet-lite/prober.h"

#include <set>

#include "common/log.h"

namespace berth::kubelet {

struct ProbeManager::Worker {
  PodRef pod;
  std::string container;
  ProbeKind kind = ProbeKind::kReadiness;
  ProbeSpec spec;
  ProbeTarget target;
  TimePoint started_at{};
  TimePoint next{};
  ProbeResult result = ProbeResult::kUnknown;  // what the verdict reports
  ProbeResult last = ProbeResult::kUnknown;    // the latest attempt's result
  int run = 0;                                 // attempts in a row with `last`
  bool on_hold = false;
  bool in_flight = false;
  bool removed = false;
};

namespace {

ProbeResult initialResult(ProbeKind k) {
  switch (k) {
    case ProbeKind::kLiveness: return ProbeResult::kSuccess;
    case ProbeKind::kReadiness: return ProbeResult::kFailure;
    case ProbeKind::kStartup: break;
  }
  return ProbeResult::kUnknown;
}

}  // namespace

ProbeManager::ProbeManager(ContainerRuntime* runtime, const Clock* clock, Options opts, Hooks hooks)
    : rt_(runtime), clock_(clock), opts_(opts), hooks_(std::move(hooks)) {}

ProbeManager::~ProbeManager() { stop(); }

void ProbeManager::start() {
  if (opts_.threads <= 0 || !threads_.empty()) return;
  threads_.emplace_back([this] { schedulerLoop(); });
  for (int i = 0; i < opts_.threads; ++i) threads_.emplace_back([this] { poolLoop(); });
}

void ProbeManager::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  sched_cv_.notify_all();
  pool_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::string ProbeManager::key(const std::string& uid, const std::string& name, ProbeKind kind) {
  return uid + "/" + name + "/" + std::to_string(static_cast<int>(kind));
}

void ProbeManager::scheduleLocked(const WorkerPtr& w, TimePoint at) {
  w->next = at;
  due_.push({at, w});
  sched_cv_.notify_one();
}

void ProbeManager::syncPod(const PodRef& pod, const std::vector<Container>& running) {
  std::lock_guard<std::mutex> l(mu_);
  TimePoint now = clock_->now();
  std::set<std::string> keep;
  for (const Container& c : running) {
    for (auto [kind, spec] : {std::pair{ProbeKind::kLiveness, &c.liveness},
                              std::pair{ProbeKind::kReadiness, &c.readiness},
                              std::pair{ProbeKind::kStartup, &c.startup}}) {
      if (!*spec) continue;
      std::string k = key(pod.uid, c.name, kind);
      keep.insert(k);
      auto it = workers_.find(k);
      if (it != workers_.end() && it->second->target.container_id == c.target.container_id) {
        it->second->target = c.target;
        continue;
      }
      if (it != workers_.end()) it->second->removed = true;
      auto w = std::make_shared<Worker>();
      w->pod = pod;
      w->container = c.name;
      w->kind = kind;
      w->spec = **spec;
      w->target = c.target;
      w->started_at = c.started_at;
      w->result = initialResult(kind);
      workers_[k] = w;
      scheduleLocked(w, std::max(now, c.started_at + w->spec.initial_delay));
    }
  }
  std::string prefix = pod.uid + "/";
  for (auto it = workers_.lower_bound(prefix);
       it != workers_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    it->second->removed = true;
    it = workers_.erase(it);
  }
}

void ProbeManager::removePod(const std::string& uid) { syncPod(PodRef{uid, "", ""}, {}); }

ProbeManager::Verdict ProbeManager::verdict(const std::string& uid, const std::string& name,
                                            const std::string& container_id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto get = [&](ProbeKind kind) -> const Worker* {
    auto it = workers_.find(key(uid, name, kind));
    if (it == workers_.end() || it->second->target.container_id != container_id) return nullptr;
    return it->second.get();
  };
  Verdict v;
  if (const Worker* s = get(ProbeKind::kStartup)) {
    v.started = s->result == ProbeResult::kSuccess;
    if (s->result == ProbeResult::kFailure) v.kill = ProbeKind::kStartup;
  }
  if (const Worker* r = get(ProbeKind::kReadiness)) v.ready = r->result == ProbeResult::kSuccess;
  v.ready = v.ready && v.started;
  if (const Worker* lv = get(ProbeKind::kLiveness); lv && lv->result == ProbeResult::kFailure)
    v.kill = ProbeKind::kLiveness;
  return v;
}

size_t ProbeManager::probeCount() const {
  std::lock_guard<std::mutex> l(mu_);
  return workers_.size();
}

bool ProbeManager::skipLocked(const Worker& w, TimePoint now) const {
  if (w.on_hold) return true;
  if (now < w.started_at + w.spec.initial_delay) return true;
  if (w.kind == ProbeKind::kStartup) return w.result == ProbeResult::kSuccess;
  // Liveness and readiness wait for the startup probe.
  auto it = workers_.find(key(w.pod.uid, w.container, ProbeKind::kStartup));
  return it != workers_.end() && it->second->target.container_id == w.target.container_id &&
         it->second->result != ProbeResult::kSuccess;
}

void ProbeManager::runOne(const WorkerPtr& w) {
  TimePoint began;
  ProbeSpec spec;
  ProbeTarget target;
  {
    std::lock_guard<std::mutex> l(mu_);
    began = clock_->now();
    if (w->removed || stopping_) {
      w->in_flight = false;
      return;
    }
    if (skipLocked(*w, began)) {
      w->in_flight = false;
      scheduleLocked(w, began + w->spec.period);
      return;
    }
    spec = w->spec;
    target = w->target;
  }
  ProbeOutcome out = runProbe(rt_, target, spec);
  bool changed = false;
  std::string event;
  {
    std::lock_guard<std::mutex> l(mu_);
    w->in_flight = false;
    if (w->removed) return;
    std::string kind = probeKindName(w->kind);
    if (out.result == ProbeResult::kUnknown) {
      event = kind + " probe errored: " + out.message;
    } else {
      if (out.result == ProbeResult::kFailure) event = kind + " probe failed: " + out.message;
      if (out.result == w->last) {
        ++w->run;
      } else {
        w->last = out.result;
        w->run = 1;
      }
      int needed = out.result == ProbeResult::kFailure ? spec.failure_threshold : spec.success_threshold;
      if (w->run >= needed) {
        changed = w->result != out.result;
        w->result = out.result;
        if (out.result == ProbeResult::kFailure && w->kind != ProbeKind::kReadiness) {
          w->on_hold = true;  // the container is about to be killed
          w->run = 0;
        }
      }
    }
    scheduleLocked(w, std::max(began + spec.period, clock_->now()));
  }
  if (!event.empty()) {
    BLOG(2, "probe failed").kv("pod", w->pod.ns + "/" + w->pod.name).kv("container", w->container)
        .kv("msg", event);
    if (hooks_.event) hooks_.event(w->pod, containerFieldPath(w->container), true, "Unhealthy", event);
  }
  if (changed && hooks_.changed) hooks_.changed(w->pod.uid);
}

void ProbeManager::runDue() {
  std::vector<WorkerPtr> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    TimePoint now = clock_->now();
    while (!due_.empty() && due_.top().at <= now) {
      Due d = due_.top();
      due_.pop();
      if (d.worker->removed || d.worker->in_flight || d.worker->next != d.at) continue;
      d.worker->in_flight = true;
      batch.push_back(d.worker);
    }
  }
  for (const auto& w : batch) runOne(w);
}

void ProbeManager::schedulerLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      sched_cv_.wait(l);
      continue;
    }
    TimePoint now = clock_->now();
    Due d = due_.top();
    if (d.at > now) {
      sched_cv_.wait_for(l, std::min<std::chrono::nanoseconds>(d.at - now, std::chrono::seconds(1)));
      continue;
    }
    due_.pop();
    if (d.worker->removed || d.worker->in_flight || d.worker->next != d.at) continue;
    d.worker->in_flight = true;
    ready_.push_back(d.worker);
    pool_cv_.notify_one();
  }
}

void ProbeManager::poolLoop() {
  while (true) {
    WorkerPtr w;
    {
      std::unique_lock<std::mutex> l(mu_);
      pool_cv_.wait(l, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      w = ready_.front();
      ready_.pop_front();
    }
    runOne(w);
  }
}

}  // namespace berth::kubelet
