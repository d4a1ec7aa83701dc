// Scoring and node selection, as upstream's default profile: each score plugin gives a feasible
// node 0..100, and the weighted sum picks the node (ties broken at random):
//   NodeResourcesFit LeastAllocated (cpu, memory)  weight 1
//   NodeResourcesBalancedAllocation                weight 1
//   TaintToleration (PreferNoSchedule taints)      weight 3
//   NodeAffinity (preferred terms)                 weight 2
//   PodTopologySpread (ScheduleAnyway constraints, and by default a controller's pods spread
//   over kubernetes.io/hostname and topology.kubernetes.io/zone)  weight 2
// Scores use the requests with upstream's non-zero defaults (100m cpu, 200Mi memory).
// selectNode() runs filters then scores over (a rotating window of) the nodes, finding at most
// upstream's percentageOfNodesToScore of feasible nodes in big clusters.
// Thread-safety: NodeSelector is used by one scheduling thread; call under the cache's lock.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "controllers/scheduler/filters.h"

namespace berth::controllers::scheduler {

// Weighted total score of each node in `nodes` (same order).
std::vector<int64_t> scoreNodes(const PodContext& ctx, const std::vector<const NodeInfo*>& nodes);

// Individual plugins, 0..100 per node (exposed for tests).
int64_t leastAllocatedScore(const PodInfo& pod, const NodeInfo& node);
int64_t balancedAllocationScore(const PodInfo& pod, const NodeInfo& node);
// Raw spread score: lower is better (weighted count of matching pods in the node's domains).
double spreadRawScore(const PodContext& ctx, const NodeInfo& node);

// How many feasible nodes to find before scoring, as upstream's adaptive percentage.
size_t numFeasibleNodesToFind(size_t num_nodes);

struct ScheduleResult {
  std::string node;     // empty: no node fits
  std::string message;  // the FitError message when no node fits
  size_t evaluated = 0;
  size_t feasible = 0;
};

class NodeSelector {
 public:
  explicit NodeSelector(uint64_t seed = std::random_device{}()) : rng_(seed) {}
  ScheduleResult select(const PodContext& ctx, const SchedulerCache& cache);

 private:
  size_t next_start_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace berth::controllers::scheduler
