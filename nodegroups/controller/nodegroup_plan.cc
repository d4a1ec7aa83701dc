#include "nodegroups/controller/nodegroup_plan.h"

#include <algorithm>
#include <cstdio>

#include "apiserver/kinds/kind_util.h"

namespace berth::nodegroups {

using nlohmann::json;
namespace k = apiserver::kinds;

namespace {

const json* condition(const json& node, const std::string& type) {
  const json* conds = k::find(node, {"status", "conditions"});
  if (!conds || !conds->is_array()) return nullptr;
  for (const json& c : *conds) {
    if (k::str(c, {"type"}) == type) return &c;
  }
  return nullptr;
}

bool hasTaint(const json& node, const std::string& key) {
  const json* taints = k::find(node, {"spec", "taints"});
  if (!taints || !taints->is_array()) return false;
  return std::any_of(taints->begin(), taints->end(),
                     [&](const json& t) { return k::str(t, {"key"}) == key; });
}

std::string minutes(std::chrono::milliseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return s % 60 == 0 ? std::to_string(s / 60) + "m" : std::to_string(s) + "s";
}

Member toMember(const GroupInstance& gi) {
  Member m;
  m.id = gi.instance.id;
  m.pool = {gi.instance.instance_type, gi.instance.zone, gi.instance.capacity_type};
  m.launch_time = gi.instance.launch_time;
  m.outdated = gi.outdated;
  m.healthy = gi.ready;
  return m;
}

}  // namespace

GroupInstance classify(const cloud::Instance& inst, const json* node,
                       const std::string& template_hash, TimePoint now, const PlanConfig& cfg) {
  GroupInstance gi;
  gi.instance = inst;
  auto tag = inst.tags.find(kTagTemplateHash);
  gi.outdated = tag == inst.tags.end() || tag->second != template_hash;
  gi.interrupted = inst.interruption_time.has_value();
  if (!node) {
    if (now - inst.launch_time > cfg.launch_timeout) {
      gi.unhealthy = "its node did not register within " + minutes(cfg.launch_timeout);
    }
    return gi;
  }
  gi.node = *node;
  const json* ready = condition(*node, "Ready");
  gi.ready = ready && k::str(*ready, {"status"}) == "True";
  gi.draining = hasTaint(*node, kDisruptedTaint);
  if (const json* si = condition(*node, kSpotInterruptionCondition)) {
    if (k::str(*si, {"status"}) == "True") gi.interrupted = true;
  }
  if (!gi.ready) {
    TimePoint since = inst.launch_time;
    bool wasReady = false;
    if (ready) {
      TimePoint t;
      if (parseRfc3339(k::str(*ready, {"lastTransitionTime"}), &t) && t > since) {
        since = t;
        wasReady = true;
      }
    }
    auto limit = wasReady ? cfg.not_ready_timeout : cfg.launch_timeout;
    if (now - since > limit) {
      gi.unhealthy = wasReady ? "its node has been NotReady for more than " + minutes(limit)
                              : "its node did not become Ready within " + minutes(limit);
    }
  }
  return gi;
}

std::string templateHash(const json& spec) {
  json t = json::object();
  for (const char* f : {"instanceTypes", "labels", "taints", "version", "amiFamily",
                        "preBootstrapCommands", "userData"}) {
    if (const json* v = k::find(spec, {f})) t[f] = *v;
  }
  if (const json* v = k::find(spec, {"instancesDistribution", "instanceTypes"})) {
    t["distributionTypes"] = *v;
  }
  // FNV-1a over the canonical (sorted-key) JSON.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : t.dump()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

int64_t maxUnavailable(const json& spec, int64_t desired) {
  const json* mu = k::find(spec, {"updateConfig", "maxUnavailable"});
  if (k::isInt(mu)) return std::max<int64_t>(1, mu->get<int64_t>());
  const json* pct = k::find(spec, {"updateConfig", "maxUnavailablePercentage"});
  if (k::isInt(pct)) return std::max<int64_t>(1, desired * pct->get<int64_t>() / 100);
  return 1;
}

Plan planGroup(const GroupInput& in) {
  Plan p;
  std::vector<GroupInstance> active;
  for (const GroupInstance& gi : in.instances) {
    const std::string& id = gi.instance.id;
    if (gi.draining) {
      p.draining.push_back(id);
      if (gi.outdated) p.draining_outdated++;
    } else if (!gi.unhealthy.empty()) {
      p.terminate[id] = "unhealthy: " + gi.unhealthy;
    } else if (in.deleting) {
      if (gi.ready) {
        p.drain[id] = "the node group is being deleted";
      } else {
        p.terminate[id] = "the node group is being deleted";
      }
    } else if (gi.interrupted) {
      p.drain[id] = "spot interruption notice";
    } else {
      active.push_back(gi);
    }
  }
  if (in.deleting) return p;

  const int64_t D = in.desired;
  const int64_t M = in.max_unavailable;
  std::vector<Member> current, outdated;
  for (const GroupInstance& gi : active) {
    p.active.push_back(toMember(gi));
    (gi.outdated ? outdated : current).push_back(p.active.back());
    if (gi.ready) p.ready++;
  }
  p.updated = current.size();
  p.rolling = !outdated.empty();
  auto removeVictims = [&](const std::vector<Member>& from, int64_t desired_after, int64_t count,
                           const std::string& why) {
    for (const std::string& id : pickToTerminate(in.distribution, from, desired_after, count)) {
      auto it = std::find_if(active.begin(), active.end(),
                             [&](const GroupInstance& gi) { return gi.instance.id == id; });
      if (it->ready) {
        p.drain[id] = why;
      } else {
        p.terminate[id] = why;
      }
    }
  };
  const int64_t n = active.size();
  if (!p.rolling) {
    if (n < D) p.launch = D - n;
    if (n > D) removeVictims(p.active, D, n - D, "scale-in to " + std::to_string(D));
    return p;
  }
  // Rolling update: surge first, then replace old instances as new ones are Ready.
  p.launch = std::max<int64_t>(0, std::min<int64_t>(D - (int64_t)current.size(), D + M - n));
  if (n > D + M) {
    removeVictims(p.active, D, n - (D + M), "scale-in to " + std::to_string(D));
    return p;
  }
  int64_t budget = std::min<int64_t>(M - (int64_t)p.draining.size(), p.ready - D);
  std::vector<Member> pendingOld, readyOld;
  for (const Member& m : outdated) (m.healthy ? readyOld : pendingOld).push_back(m);
  for (const Member& m : pendingOld) p.terminate[m.id] = "rolling update: replaced before it was Ready";
  if (budget > 0 && !readyOld.empty()) {
    removeVictims(readyOld, 0, std::min<int64_t>(budget, readyOld.size()),
                  "rolling update: replaced by an instance of the new template");
  }
  return p;
}

}  // namespace berth::nodegroups
