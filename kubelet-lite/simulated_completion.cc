#include "kubelet-lite/simulated_completion.h"

#include <charconv>

#include "kubelet-lite/pod_status_util.h"

namespace berth::kubelet {

namespace {

using json = nlohmann::json;

const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : ""; }

bool ownedByJob(const json& pod) {
  const json& refs = field(field(pod, "metadata"), "ownerReferences");
  if (!refs.is_array()) return false;
  for (const json& r : refs)
    if (field(r, "kind") == "Job" && field(r, "controller") == true) return true;
  return false;
}

// The containers of `list` with every status but the state and readiness taken from the pod's
// current statuses (the simulated agent reports them all alike).
json containerStatuses(const json& pod, const char* list, const json& state, bool running, int restarts,
                       const json& last_state) {
  json out = json::array();
  const json& cs = field(field(pod, "spec"), list);
  if (!cs.is_array()) return out;
  std::string uid = text(field(field(pod, "metadata"), "uid"));
  for (const json& c : cs) {
    std::string name = c.value("name", "");
    out.push_back({{"name", name},
                   {"image", c.value("image", "")},
                   {"imageID", ""},
                   {"containerID", "simulated://" + uid + "-" + name},
                   {"restartCount", restarts},
                   {"ready", running},
                   {"started", running},
                   {"state", state},
                   {"lastState", last_state}});
  }
  return out;
}

json terminated(int exit_code, const std::string& started, TimePoint now) {
  return {{"exitCode", exit_code},
          {"reason", exit_code == 0 ? "Completed" : "Error"},
          {"startedAt", started},
          {"finishedAt", formatRfc3339(now)}};
}

std::string startTime(const json& pod, TimePoint now) {
  const json& t = field(field(pod, "status"), "startTime");
  return t.is_string() ? t.get<std::string>() : formatRfc3339(now);
}

}  // namespace

Result<std::optional<SimulatedEnd>> simulatedEnd(const json& pod) {
  const json& anns = field(field(pod, "metadata"), "annotations");
  const json& code = field(anns, kSimulatedExitCodeAnnotation);
  const json& duration = field(anns, kSimulatedDurationAnnotation);
  if (!ownedByJob(pod) && code.is_null() && duration.is_null()) return std::optional<SimulatedEnd>();
  SimulatedEnd end;
  const json& policy = field(field(pod, "spec"), "restartPolicy");
  end.restart_policy = policy.is_string() ? policy.get<std::string>() : "Always";
  if (!code.is_null()) {
    std::string s = code.is_string() ? code.get<std::string>() : code.dump();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), end.exit_code);
    if (ec != std::errc() || p != s.data() + s.size() || end.exit_code < 0 || end.exit_code > 255)
      return invalid(std::string("metadata.annotations[") + kSimulatedExitCodeAnnotation + "]: Invalid value: \"" +
                     s + "\": must be an exit code from 0 to 255");
  }
  if (!duration.is_null()) {
    std::chrono::nanoseconds d{};
    std::string s = duration.is_string() ? duration.get<std::string>() : duration.dump();
    if (!parseDuration(s, &d) || d.count() < 0)
      return invalid(std::string("metadata.annotations[") + kSimulatedDurationAnnotation + "]: Invalid value: \"" +
                     s + "\": must be a duration such as 30s or 2m");
    end.after = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  }
  return std::optional<SimulatedEnd>(end);
}

json simulatedFinishedStatus(const json& pod, int exit_code, TimePoint now) {
  const json& old = field(pod, "status");
  const json& old_conds = field(old, "conditions");
  std::string started = startTime(pod, now);
  json state = {{"terminated", terminated(exit_code, started, now)}};
  json status = old.is_object() ? old : json::object();
  status["phase"] = exit_code == 0 ? "Succeeded" : "Failed";
  status["conditions"] = json::array({podCondition("PodReadyToStartContainers", false, now, old_conds),
                                      podCondition("Initialized", true, now, old_conds, "PodCompleted"),
                                      podCondition("Ready", false, now, old_conds, "PodCompleted"),
                                      podCondition("ContainersReady", false, now, old_conds, "PodCompleted"),
                                      podCondition("PodScheduled", true, now, old_conds)});
  status["containerStatuses"] = containerStatuses(pod, "containers", state, false, 0, json::object());
  return status;
}

json simulatedRestartedStatuses(const json& pod, const RestartedContainers& c, TimePoint now) {
  json last = {{"terminated", terminated(c.exit_code, formatRfc3339(c.last_started), c.exited)}};
  json state = c.waiting ? json{{"waiting", {{"reason", "CrashLoopBackOff"}}}}
                         : json{{"running", {{"startedAt", formatRfc3339(now)}}}};
  json statuses = containerStatuses(pod, "containers", state, !c.waiting, c.restarts, last);
  if (!c.waiting) return statuses;
  const json& md = field(pod, "metadata");
  std::string pod_ref =
      text(field(md, "name")) + "_" + text(field(md, "namespace")) + "(" + text(field(md, "uid")) + ")";
  for (json& s : statuses)
    s["state"]["waiting"]["message"] = "back-off " + humanDuration(c.backoff) +
                                       " restarting failed container=" + text(s["name"]) +
                                       " pod=" + pod_ref;
  return statuses;
}

}  // namespace berth::kubelet
