// SchedulerCache: the scheduler's picture of the cluster, as upstream's internal cache: nodes
// with the running totals of what the pods on them request, and every assigned pod that is not
// terminated. A pod the scheduler has chosen a node for is *assumed* onto that node at once, so
// the next pod sees its resources taken before the bind is written and the informer catches up;
// the informer's copy confirms it, a failed bind forgets it.
// Pods may arrive before their node: their usage is kept under the node's name and counted when
// the node appears.
// Thread-safety: every method takes the cache's mutex, except the read accessors marked
// "under lock()", which a caller uses while holding the lock() guard (the scheduling algorithm
// reads a consistent picture that way).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "controllers/scheduler/types.h"

namespace berth::controllers::scheduler {

class SchedulerCache {
 public:
  std::unique_lock<std::mutex> lock() const { return std::unique_lock<std::mutex>(mu_); }

  // Adds or replaces a node. Returns true when pending pods should be retried: the node is new
  // or changed in a way that can matter to scheduling (not a heartbeat).
  bool upsertNode(std::shared_ptr<const json> node);
  void removeNode(const std::string& name);
  // Adds or replaces an assigned pod (a terminated pod is removed instead). Confirms an
  // assumed pod of the same key.
  void upsertPod(std::shared_ptr<const json> pod);
  // Returns true if the pod was in the cache (its resources are now free).
  bool removePod(const std::string& key);
  // Counts `pod` on `node` before the binding is written.
  void assume(const PodInfo& pod, const std::string& node);
  void assumeLocked(const PodInfo& pod, const std::string& node);
  // Undoes assume() after a failed bind (no-op if the informer confirmed the pod meanwhile).
  void forget(const std::string& key);
  bool isAssumedOrAssigned(const std::string& key) const;

  // ---- under lock() ----
  const std::vector<const NodeInfo*>& nodesLocked() const { return order_; }
  const NodeInfo* nodeLocked(const std::string& name) const;
  // Assigned pods of a namespace (keys into podLocked).
  const std::set<std::string>* podsInNamespaceLocked(const std::string& ns) const;
  const PodInfo* podLocked(const std::string& key) const;
  const std::unordered_map<std::string, std::set<std::string>>& podsByNamespaceLocked() const {
    return pods_by_ns_;
  }
  // node name -> pods there controlled by `owner_uid`.
  const std::unordered_map<std::string, int>* ownerCountsLocked(const std::string& owner_uid) const;
  // How many distinct values nodes have for the label `key` (memoised until nodes change).
  size_t numDomainsLocked(const std::string& key) const;
  // Assigned pods with required pod anti-affinity terms.
  const std::set<std::string>& antiAffinityPodsLocked() const { return anti_affinity_pods_; }

  size_t numNodes() const;
  size_t numPods() const;

 private:
  struct Entry {
    PodInfo info;
    bool assumed = false;
  };
  void addPodLocked(PodInfo info, bool assumed);
  void removePodLocked(const std::string& key);
  NodeInfo& usageLocked(const std::string& node);
  void rebuildOrderLocked();

  mutable std::mutex mu_;
  // Every node name with a node object or with pods; `node` is null for the latter.
  std::unordered_map<std::string, std::unique_ptr<NodeInfo>> nodes_;
  std::vector<const NodeInfo*> order_;  // nodes with an object, by name
  std::unordered_map<std::string, Entry> pods_;
  std::unordered_map<std::string, std::set<std::string>> pods_by_ns_;
  std::unordered_map<std::string, std::unordered_map<std::string, int>> owner_counts_;
  std::set<std::string> anti_affinity_pods_;
  mutable std::unordered_map<std::string, size_t> num_domains_;
};

}  // namespace berth::controllers::scheduler
