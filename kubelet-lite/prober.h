// ProbeManager: runs the liveness, readiness and startup probes of every running container of
// a node, as upstream's kubelet prober workers do, on one scheduler thread and a small pool of
// probe threads (never a thread per probe). The pod worker tells it, at each sync, which
// containers run with which probes (syncPod) and asks it for their verdicts (started, ready,
// or "kill: the liveness/startup probe failed").
//
// Semantics (upstream's prober worker): a new container instance starts with readiness
// Failure, liveness Success and startup Unknown. A probe first runs once initialDelaySeconds
// have passed since the container started, then every periodSeconds. A result only takes
// effect after successThreshold successes / failureThreshold failures in a row. Liveness and
// readiness are not run until the startup probe (if any) succeeded; the startup probe stops
// once it has. A failed liveness or startup probe puts the instance on hold (no more probing)
// until the pod worker replaces it. Every failed attempt is reported as an "Unhealthy" warning
// ("Liveness probe failed: <output>"); an attempt that could not run at all ("errored") counts
// neither way. When a verdict changes, `changed(pod uid)` asks the agent to re-sync that pod.
//
// Time comes from the Clock; with Options::threads == 0 nothing runs by itself and tests call
// runDue() after moving a fake clock.
// Thread-safety: every method is safe from any thread; hooks are called from probe threads
// (or runDue's caller) without the manager's lock held.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "common/time_util.h"
#include "kubelet-lite/probe.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

struct PodRef {
  std::string uid;
  std::string name;
  std::string ns;
};

// Records an event about one container of a pod; `field_path` is the involvedObject's fieldPath,
// "spec.containers{<name>}" or "spec.initContainers{<name>}" (containerFieldPath()).
using ContainerEventSink =
    std::function<void(const PodRef& pod, const std::string& field_path, bool warning,
                       const std::string& reason, const std::string& message)>;
inline std::string containerFieldPath(const std::string& container, bool init = false) {
  return std::string(init ? "spec.initContainers{" : "spec.containers{") + container + "}";
}

class ProbeManager {
 public:
  struct Options {
    int threads = 4;  // probe threads; 0: nothing runs until runDue()
  };
  struct Hooks {
    std::function<void(const std::string& pod_uid)> changed;
    ContainerEventSink event;
  };
  // A running container and its probes (absent ones are not run).
  struct Container {
    std::string name;
    ProbeTarget target;
    TimePoint started_at{};
    std::optional<ProbeSpec> liveness, readiness, startup;
  };
  struct Verdict {
    bool started = true;
    bool ready = true;
    std::optional<ProbeKind> kill;  // kLiveness or kStartup failed: restart the container
  };

  ProbeManager(ContainerRuntime* runtime, const Clock* clock, Options opts, Hooks hooks);
  ~ProbeManager();
  ProbeManager(const ProbeManager&) = delete;
  ProbeManager& operator=(const ProbeManager&) = delete;

  void start();
  void stop();

  // Makes the pod's probes those of `running`: probes of container instances no longer listed
  // stop; a new instance (another container id) starts over.
  void syncPod(const PodRef& pod, const std::vector<Container>& running);
  void removePod(const std::string& uid);
  // The verdict for container `name` of pod `uid` running as `container_id`; a container
  // without probes is started and ready.
  Verdict verdict(const std::string& uid, const std::string& name,
                  const std::string& container_id) const;

  // Runs every probe due at the clock's now on the calling thread (tests, threads == 0).
  void runDue();
  // Probes currently scheduled (tests, logs).
  size_t probeCount() const;

 private:
  struct Worker;
  using WorkerPtr = std::shared_ptr<Worker>;
  struct Due {
    TimePoint at;
    WorkerPtr worker;
    bool operator>(const Due& o) const { return at > o.at; }
  };

  void schedulerLoop();
  void poolLoop();
  // Runs one attempt of `w` (no lock held) and applies its result.
  void runOne(const WorkerPtr& w);
  // Skips the attempt (initial delay, startup gating, hold)? Called with mu_ held.
  bool skipLocked(const Worker& w, TimePoint now) const;
  void scheduleLocked(const WorkerPtr& w, TimePoint at);
  static std::string key(const std::string& uid, const std::string& name, ProbeKind kind);

  ContainerRuntime* rt_;
  const Clock* clock_;
  Options opts_;
  Hooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable sched_cv_, pool_cv_;
  std::map<std::string, WorkerPtr> workers_;  // key(uid, container, kind)
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  std::deque<WorkerPtr> ready_;  // due, waiting for a probe thread
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace berth::kubelet
