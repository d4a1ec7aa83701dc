#include "kubelet-lite/pod_status_util.h"

namespace berth::kubelet {
namespace {

const json& field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace

std::string qosClass(const json& pod) {
  bool any = false;
  bool guaranteed = true;
  for (const char* list : {"initContainers", "containers"}) {
    const json& cs = field(field(pod, "spec"), list);
    if (!cs.is_array()) continue;
    for (const json& c : cs) {
      const json& res = field(c, "resources");
      const json& req = field(res, "requests");
      const json& lim = field(res, "limits");
      if ((req.is_object() && !req.empty()) || (lim.is_object() && !lim.empty())) any = true;
      for (const char* r : {"cpu", "memory"}) {
        if (!lim.is_object() || !lim.contains(r)) {
          guaranteed = false;
          continue;
        }
        // Requests default to limits; a different request makes the pod Burstable.
        if (req.is_object() && req.contains(r) && req[r] != lim[r]) guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

json podCondition(const std::string& type, bool status, TimePoint now, const json& old_conditions,
                  const std::string& reason) {
  std::string s = status ? "True" : "False";
  std::string since = formatRfc3339(now);
  if (old_conditions.is_array()) {
    for (const json& c : old_conditions) {
      if (c.value("type", "") == type && c.value("status", "") == s &&
          c.contains("lastTransitionTime") && c["lastTransitionTime"].is_string())
        since = c["lastTransitionTime"].get<std::string>();
    }
  }
  json out = {{"type", type}, {"status", s}, {"lastProbeTime", nullptr},
              {"lastTransitionTime", since}};
  if (!reason.empty()) out["reason"] = reason;
  return out;
}

json simulatedRunningStatus(const json& pod, const std::string& pod_ip, const std::string& host_ip,
                            TimePoint now) {
  const json& old = field(pod, "status");
  const json& old_conds = field(old, "conditions");
  std::string start = old.is_object() && old.contains("startTime") && old["startTime"].is_string()
                          ? old["startTime"].get<std::string>()
                          : formatRfc3339(now);
  const json& spec = field(pod, "spec");
  std::string uid = field(field(pod, "metadata"), "uid").is_string()
                        ? field(field(pod, "metadata"), "uid").get<std::string>() : "";
  auto statuses = [&](const char* list, bool init) {
    json out = json::array();
    const json& cs = field(spec, list);
    if (!cs.is_array()) return out;
    for (const json& c : cs) {
      std::string name = c.value("name", "");
      json st = {{"name", name},
                 {"image", c.value("image", "")},
                 {"imageID", ""},
                 {"containerID", "simulated://" + uid + "-" + name},
                 {"restartCount", 0},
                 {"ready", !init},
                 {"started", !init},
                 {"lastState", json::object()}};
      if (init)
        st["state"] = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"},
                                       {"startedAt", start}, {"finishedAt", start}}}};
      else
        st["state"] = {{"running", {{"startedAt", start}}}};
      out.push_back(std::move(st));
    }
    return out;
  };
  json status = {{"phase", "Running"},
                 {"conditions",
                  json::array({podCondition("PodReadyToStartContainers", true, now, old_conds),
                               podCondition("Initialized", true, now, old_conds),
                               podCondition("Ready", true, now, old_conds),
                               podCondition("ContainersReady", true, now, old_conds),
                               podCondition("PodScheduled", true, now, old_conds)})},
                 {"hostIP", host_ip},
                 {"hostIPs", json::array({{{"ip", host_ip}}})},
                 {"podIP", pod_ip},
                 {"podIPs", json::array({{{"ip", pod_ip}}})},
                 {"startTime", start},
                 {"qosClass", qosClass(pod)},
                 {"containerStatuses", statuses("containers", false)}};
  json init = statuses("initContainers", true);
  if (!init.empty()) status["initContainerStatuses"] = std::move(init);
  return status;
}

}  // namespace berth::kubelet
