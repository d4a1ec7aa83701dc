#include "kubelet-lite/pod_status.h"

#include "kubelet-lite/pod_status_util.h"

namespace berth::kubelet {
namespace {

bool completed(const ContainerView& c) {
  return c.current && c.current->state == ContainerState::kExited && c.current->exit_code == 0;
}
bool failed(const ContainerView& c) {
  return c.current && c.current->state == ContainerState::kExited && c.current->exit_code != 0;
}
bool running(const ContainerView& c) {
  return c.current && c.current->state == ContainerState::kRunning;
}

json terminated(const ContainerStatus& s, const std::string& runtime) {
  json t = {{"exitCode", s.exit_code},
            {"reason", s.reason.empty() ? (s.exit_code == 0 ? "Completed" : "Error") : s.reason},
            {"startedAt", formatRfc3339(s.started_at)},
            {"finishedAt", formatRfc3339(s.finished_at)},
            {"containerID", runtime + "://" + s.id}};
  if (!s.message.empty()) t["message"] = s.message;
  return {{"terminated", t}};
}

json containerStatusJson(const ContainerView& c, const std::string& runtime) {
  json st = {{"name", c.name},
             {"image", c.image},
             {"imageID", c.current ? c.current->image_id : ""},
             {"restartCount", c.restart_count},
             {"ready", c.ready},
             {"started", c.started},
             {"lastState", json::object()}};
  if (c.current) st["containerID"] = runtime + "://" + c.current->id;
  bool waiting = !c.waiting_reason.empty();
  if (waiting) {
    json w = {{"reason", c.waiting_reason}};
    if (!c.waiting_message.empty()) w["message"] = c.waiting_message;
    st["state"] = {{"waiting", w}};
    // Waiting to restart: the instance that ended is the last state.
    if (c.current && c.current->state == ContainerState::kExited)
      st["lastState"] = terminated(*c.current, runtime);
    else if (c.previous && c.previous->state == ContainerState::kExited)
      st["lastState"] = terminated(*c.previous, runtime);
    return st;
  }
  if (c.current && c.current->state == ContainerState::kRunning) {
    st["state"] = {{"running", {{"startedAt", formatRfc3339(c.current->started_at)}}}};
  } else if (c.current && c.current->state == ContainerState::kExited) {
    st["state"] = terminated(*c.current, runtime);
  } else {
    st["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
  }
  if (c.previous && c.previous->state == ContainerState::kExited)
    st["lastState"] = terminated(*c.previous, runtime);
  return st;
}

}  // namespace

std::string podPhase(const PodStatusInput& in) {
  bool never = in.restart_policy == "Never";
  for (const auto& c : in.init_containers) {
    if (completed(c)) continue;
    if (failed(c) && never) return "Failed";
    return "Pending";
  }
  int run = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const auto& c : in.containers) {
    if (running(c)) {
      ++run;
    } else if (c.current && c.current->state == ContainerState::kExited) {
      ++stopped;
      if (c.current->exit_code == 0) ++succeeded;
    } else {
      ++waiting;
    }
  }
  if (waiting > 0) return "Pending";
  if (run > 0) return "Running";
  if (stopped == 0) return "Pending";
  if (in.restart_policy == "Always") return "Running";  // restarting
  if (stopped == succeeded) return "Succeeded";
  if (never) return "Failed";
  return "Running";  // OnFailure: the failed ones restart
}

json computePodStatus(const json& pod, const PodStatusInput& in, TimePoint now) {
  const json old = pod.contains("status") && pod["status"].is_object() ? pod["status"] : json::object();
  const json old_conds = old.value("conditions", json::array());
  bool initialized = true;
  for (const auto& c : in.init_containers) initialized = initialized && completed(c);
  bool ready = !in.containers.empty();
  for (const auto& c : in.containers) ready = ready && c.ready;
  std::string phase = podPhase(in);
  // A finished pod is no longer ready, as upstream reports Succeeded/Failed pods.
  if (phase == "Succeeded" || phase == "Failed") ready = false;
  std::string not_ready_reason = ready ? "" : (phase == "Succeeded" || phase == "Failed" ? "PodCompleted" : "ContainersNotReady");
  json status = {
      {"phase", phase},
      {"conditions",
       json::array({podCondition("PodReadyToStartContainers", in.sandbox_ready, now, old_conds),
                    podCondition("Initialized", initialized, now, old_conds,
                                 initialized ? "" : "ContainersNotInitialized"),
                    podCondition("Ready", ready, now, old_conds, not_ready_reason),
                    podCondition("ContainersReady", ready, now, old_conds, not_ready_reason),
                    podCondition("PodScheduled", true, now, old_conds)})},
      {"hostIP", in.host_ip},
      {"hostIPs", json::array({{{"ip", in.host_ip}}})},
      {"startTime", old.contains("startTime") ? old["startTime"] : json(formatRfc3339(now))},
      {"qosClass", qosClass(pod)}};
  if (!in.pod_ip.empty()) {
    status["podIP"] = in.pod_ip;
    status["podIPs"] = json::array({{{"ip", in.pod_ip}}});
  }
  json cs = json::array();
  for (const auto& c : in.containers) cs.push_back(containerStatusJson(c, in.runtime_name));
  status["containerStatuses"] = std::move(cs);
  if (!in.init_containers.empty()) {
    json ics = json::array();
    for (const auto& c : in.init_containers) ics.push_back(containerStatusJson(c, in.runtime_name));
    status["initContainerStatuses"] = std::move(ics);
  }
  return status;
}

}  // namespace berth::kubelet
