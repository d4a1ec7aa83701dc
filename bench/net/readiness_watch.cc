#include "bench/net/readiness_watch.h"

namespace berth::bench::net {

namespace {

using json = nlohmann::json;

const client::Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}};
const client::Resource kPods{"", "v1", "pods", "Pod", true, {}};

std::map<std::string, bool> sliceReadiness(const json& slice) {
  std::map<std::string, bool> out;
  for (const auto& ep : slice.value("endpoints", json::array())) {
    const json cond = ep.value("conditions", json::object());
    bool ready = !cond.contains("ready") || !cond["ready"].is_boolean() || cond["ready"].get<bool>();
    for (const auto& a : ep.value("addresses", json::array()))
      if (a.is_string()) out[a.get<std::string>()] = ready;
  }
  return out;
}

bool podReady(const json& pod) {
  for (const auto& c : pod.value("status", json::object()).value("conditions", json::array()))
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

}  // namespace

void ReadinessWatch::start() {
  threads_.emplace_back([this] { watchLoop(View::kSlice); });
  threads_.emplace_back([this] { watchLoop(View::kPod); });
}

void ReadinessWatch::stop() {
  cancel_.cancel();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void ReadinessWatch::watchLoop(View view) {
  while (!cancel_.cancelled()) {
    client::WatchOptions wo;
    wo.resource_version = "0";
    wo.timeout_seconds = 600;
    if (view == View::kSlice) wo.label_selector = "kubernetes.io/service-name=" + service_;
    std::map<std::string, std::string> pod_ips;  // pod name -> IP (pods)
    std::map<std::string, bool> pods_ready;      // ip -> ready
    auto st = client_->watch(view == View::kSlice ? kSlices : kPods, ns_, wo, [&](const json& ev) {
      auto at = Clock::now();
      const json& o = ev.value("object", json::object());
      std::string type = ev.value("type", "");
      std::string name = o.value("metadata", json::object()).value("name", "");
      if (type == "BOOKMARK" || name.empty()) return !cancel_.cancelled();
      if (view == View::kSlice) {
        std::lock_guard<std::mutex> l(mu_);
        if (type == "DELETED") slices_.erase(name);
        else slices_[name] = sliceReadiness(o);
        std::map<std::string, bool> merged;
        for (const auto& [_, ips] : slices_)
          for (const auto& [ip, ready] : ips) merged[ip] = merged[ip] || ready;
        record(view, merged, at);
      } else {
        std::string ip = o.value("status", json::object()).value("podIP", "");
        if (type == "DELETED" || ip.empty()) {
          if (pod_ips.count(name)) pods_ready.erase(pod_ips[name]);
          pod_ips.erase(name);
        } else {
          pod_ips[name] = ip;
          pods_ready[ip] = podReady(o);
        }
        std::lock_guard<std::mutex> l(mu_);
        record(view, pods_ready, at);
      }
      return !cancel_.cancelled();
    }, &cancel_);
    if (!st.isOk() && !cancel_.cancelled()) cancel_.waitFor(std::chrono::milliseconds(200));
  }
}

// Called with mu_ held: appends a change for each IP whose readiness differs from before
// (an IP that disappears counts as not ready).
void ReadinessWatch::record(View view, const std::map<std::string, bool>& now, Clock::time_point at) {
  auto& state = view == View::kSlice ? slice_state_ : pod_state_;
  auto& changes = view == View::kSlice ? slice_changes_ : pod_changes_;
  for (const auto& [ip, ready] : now) {
    auto it = state.find(ip);
    if (it == state.end() || it->second != ready) changes[ip].push_back({at, ready});
    state[ip] = ready;
  }
  for (auto it = state.begin(); it != state.end();) {
    if (now.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second) changes[it->first].push_back({at, false});
    it = state.erase(it);
  }
  cv_.notify_all();
}

std::optional<ReadinessWatch::Clock::time_point> ReadinessWatch::waitFor(
    View view, const std::string& ip, bool ready, Clock::time_point after, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  std::optional<Clock::time_point> found;
  cv_.wait_for(l, timeout, [&] {
    auto& changes = view == View::kSlice ? slice_changes_ : pod_changes_;
    for (const auto& c : changes[ip])
      if (c.at > after && c.ready == ready) {
        found = c.at;
        return true;
      }
    return false;
  });
  return found;
}

}  // namespace berth::bench::net
