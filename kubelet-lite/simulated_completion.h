// When a pod on a simulated node finishes, as kwok's default "pod-complete" stage does for Job
// pods: a pod owned by a Job runs to completion with exit code 0 as soon as it runs. Any pod can
// say how it ends with annotations (Berth's own, read by simulated nodes only):
//   berth.dev/simulated-exit-code: "N"     the containers exit with N (the pod completes even
//                                           without a Job owner; 0 when only the duration is given)
//   berth.dev/simulated-duration: "30s"    how long the containers run first (Go duration)
// A non-zero exit ends a restartPolicy Never pod as Failed; restartPolicy Always or OnFailure
// restarts the containers (restartCount grows, lastState keeps the exit) with upstream's
// kubelet back-off (CrashBackoff: the first restart at once, then 10 s doubling to 5 min, in
// CrashLoopBackOff meanwhile), and each run lasts the same duration (at least 1 s). exit 0
// under Always restarts too, as upstream's kubelet does; Always pods only complete when annotated.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::kubelet {

inline constexpr const char* kSimulatedExitCodeAnnotation = "berth.dev/simulated-exit-code";
inline constexpr const char* kSimulatedDurationAnnotation = "berth.dev/simulated-duration";

struct SimulatedEnd {
  int exit_code = 0;
  std::chrono::milliseconds after{0};  // from the containers' (re)start
  std::string restart_policy;           // Always | OnFailure | Never
  // True when the pod's phase ends (Succeeded or Failed); false when the containers restart.
  bool final() const {
    return restart_policy == "Never" || (restart_policy == "OnFailure" && exit_code == 0);
  }
};

// How the pod ends, or nullopt when it runs until deleted. Bad annotation values are errors
// naming the annotation (the pod then runs on, and the agent reports the error in an event-less
// log line, as a kubelet would for an unusable pod field).
Result<std::optional<SimulatedEnd>> simulatedEnd(const nlohmann::json& pod);

// The status of a pod whose containers all exited with `exit_code` at `now` (phase Succeeded or
// Failed, containers terminated, Ready and ContainersReady False with reason PodCompleted).
nlohmann::json simulatedFinishedStatus(const nlohmann::json& pod, int exit_code, TimePoint now);

// Containers that exited and restart: waiting in CrashLoopBackOff, or running again.
struct RestartedContainers {
  int exit_code = 0;
  int restarts = 0;
  TimePoint last_started;  // the exited run's start
  TimePoint exited;
  bool waiting = false;
  std::chrono::seconds backoff{0};  // the back-off being waited, for the waiting message
};
// The containerStatuses of such containers at `now`: lastState terminated with the exit,
// restartCount, state waiting CrashLoopBackOff ("back-off 10s restarting failed container=...")
// or running since `now`.
nlohmann::json simulatedRestartedStatuses(const nlohmann::json& pod, const RestartedContainers& c, TimePoint now);

}  // namespace berth::kubelet
