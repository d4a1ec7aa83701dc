#include "controllers/scheduler/cache.h"

#include <algorithm>

namespace berth::controllers::scheduler {

bool SchedulerCache::upsertNode(std::shared_ptr<const json> node) {
  NodeInfo parsed = parseNode(std::move(node));
  std::lock_guard<std::mutex> l(mu_);
  auto it = nodes_.find(parsed.name);
  bool changed = true, order_changed = true;
  if (it == nodes_.end()) {
    std::string name = parsed.name;
    nodes_[name] = std::make_unique<NodeInfo>(std::move(parsed));
  } else {
    NodeInfo& n = *it->second;
    order_changed = !n.node;  // a placeholder for pods that came first becomes a node
    changed = !n.node || !n.schedulingPropertiesEqual(parsed);
    n.node = parsed.node;
    n.labels_json = parsed.labels_json;
    n.hostname_label = parsed.hostname_label;
    n.zone_label = parsed.zone_label;
    n.allocatable = parsed.allocatable;
    n.taints = parsed.taints;
    n.unschedulable = parsed.unschedulable;
    n.ready = parsed.ready;
  }
  if (order_changed) rebuildOrderLocked();
  if (changed) num_domains_.clear();
  return changed;
}

void SchedulerCache::removeNode(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  if (it->second->num_pods == 0) nodes_.erase(it);
  else it->second->node.reset();  // its pods keep their usage until they go
  rebuildOrderLocked();
}

size_t SchedulerCache::numDomainsLocked(const std::string& key) const {
  auto it = num_domains_.find(key);
  if (it != num_domains_.end()) return it->second;
  std::set<std::string> values;
  for (const NodeInfo* n : order_)
    if (const std::string* v = n->label(key)) values.insert(*v);
  return num_domains_[key] = values.size();
}

void SchedulerCache::rebuildOrderLocked() {
  num_domains_.clear();
  order_.clear();
  for (const auto& [name, n] : nodes_)
    if (n->node) order_.push_back(n.get());
  std::sort(order_.begin(), order_.end(),
            [](const NodeInfo* a, const NodeInfo* b) { return a->name < b->name; });
}

NodeInfo& SchedulerCache::usageLocked(const std::string& node) {
  auto& slot = nodes_[node];
  if (!slot) {
    slot = std::make_unique<NodeInfo>();
    slot->name = node;
  }
  return *slot;
}

void SchedulerCache::addPodLocked(PodInfo info, bool assumed) {
  NodeInfo& n = usageLocked(info.node_name);
  n.requested.add(info.requests);
  n.non_zero_requested.add(info.non_zero_requests);
  n.used_ports.insert(n.used_ports.end(), info.host_ports.begin(), info.host_ports.end());
  ++n.num_pods;
  pods_by_ns_[info.ns].insert(info.key);
  if (!info.owner_uid.empty()) ++owner_counts_[info.owner_uid][info.node_name];
  if (info.has_required_anti_affinity) anti_affinity_pods_.insert(info.key);
  std::string key = info.key;
  pods_[key] = Entry{std::move(info), assumed};
}

void SchedulerCache::removePodLocked(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  const PodInfo& info = it->second.info;
  auto nit = nodes_.find(info.node_name);
  if (nit != nodes_.end()) {
    NodeInfo& n = *nit->second;
    n.requested.sub(info.requests);
    n.non_zero_requested.sub(info.non_zero_requests);
    for (const auto& hp : info.host_ports) {
      auto p = std::find_if(n.used_ports.begin(), n.used_ports.end(), [&](const HostPort& u) {
        return u.ip == hp.ip && u.protocol == hp.protocol && u.port == hp.port;
      });
      if (p != n.used_ports.end()) n.used_ports.erase(p);
    }
    --n.num_pods;
    if (n.num_pods == 0 && !n.node) nodes_.erase(nit);
  }
  if (auto ns = pods_by_ns_.find(info.ns); ns != pods_by_ns_.end()) {
    ns->second.erase(key);
    if (ns->second.empty()) pods_by_ns_.erase(ns);
  }
  if (!info.owner_uid.empty()) {
    auto oc = owner_counts_.find(info.owner_uid);
    if (oc != owner_counts_.end()) {
      if (--oc->second[info.node_name] <= 0) oc->second.erase(info.node_name);
      if (oc->second.empty()) owner_counts_.erase(oc);
    }
  }
  anti_affinity_pods_.erase(key);
  pods_.erase(it);
}

void SchedulerCache::upsertPod(std::shared_ptr<const json> pod) {
  PodInfo info = parsePod(std::move(pod));
  std::lock_guard<std::mutex> l(mu_);
  auto it = pods_.find(info.key);
  // An update written before the binding (a status patch) must not undo the assumption.
  if (it != pods_.end() && it->second.assumed && info.node_name.empty() &&
      !podTerminated(*info.pod))
    return;
  removePodLocked(info.key);
  if (info.node_name.empty() || podTerminated(*info.pod)) return;
  addPodLocked(std::move(info), false);
}

bool SchedulerCache::removePod(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  bool had = pods_.count(key) > 0;
  removePodLocked(key);
  return had;
}

void SchedulerCache::assume(const PodInfo& pod, const std::string& node) {
  std::lock_guard<std::mutex> l(mu_);
  assumeLocked(pod, node);
}

void SchedulerCache::assumeLocked(const PodInfo& pod, const std::string& node) {
  PodInfo info = pod;
  info.node_name = node;
  removePodLocked(info.key);
  addPodLocked(std::move(info), true);
}

void SchedulerCache::forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.assumed) removePodLocked(key);
}

bool SchedulerCache::isAssumedOrAssigned(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  return pods_.count(key) > 0;
}

const NodeInfo* SchedulerCache::nodeLocked(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() || !it->second->node ? nullptr : it->second.get();
}

const std::set<std::string>* SchedulerCache::podsInNamespaceLocked(const std::string& ns) const {
  auto it = pods_by_ns_.find(ns);
  return it == pods_by_ns_.end() ? nullptr : &it->second;
}

const PodInfo* SchedulerCache::podLocked(const std::string& key) const {
  auto it = pods_.find(key);
  return it == pods_.end() ? nullptr : &it->second.info;
}

const std::unordered_map<std::string, int>* SchedulerCache::ownerCountsLocked(
    const std::string& owner_uid) const {
  auto it = owner_counts_.find(owner_uid);
  return it == owner_counts_.end() ? nullptr : &it->second;
}

size_t SchedulerCache::numNodes() const {
  std::lock_guard<std::mutex> l(mu_);
  return order_.size();
}

size_t SchedulerCache::numPods() const {
  std::lock_guard<std::mutex> l(mu_);
  return pods_.size();
}

}  // namespace berth::controllers::scheduler
