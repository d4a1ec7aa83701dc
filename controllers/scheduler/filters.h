// Filters: whether a node can take a pod, as upstream's default filter plugins, in their order
// (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
// PodTopologySpread, InterPodAffinity). A node stops at the first plugin that rejects it; the
// resources plugin reports every insufficient resource. Reasons use upstream's texts so the
// FailedScheduling message reads as upstream's: "0/3 nodes are available: 3 Insufficient cpu.".
//
// PodContext is the per-pod state computed once per scheduling attempt over the whole cache
// (upstream's PreFilter): topology spread counts per domain and the domains inter-pod affinity
// terms allow or forbid. Build it and run filters while holding the cache's lock.
// Thread-safety: pure functions over their arguments.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "apiserver/patch/selectors.h"
#include "common/status.h"
#include "controllers/scheduler/cache.h"

namespace berth::controllers::scheduler {

using apiserver::patch::LabelSelector;

// Upstream's reason texts.
inline constexpr char kReasonUnschedulable[] = "node(s) were unschedulable";
inline constexpr char kReasonNodeAffinity[] = "node(s) didn't match Pod's node affinity/selector";
inline constexpr char kReasonPorts[] = "node(s) didn't have free ports for the requested pod ports";
inline constexpr char kReasonTooManyPods[] = "Too many pods";
inline constexpr char kReasonSpread[] = "node(s) didn't match pod topology spread constraints";
inline constexpr char kReasonSpreadLabel[] =
    "node(s) didn't match pod topology spread constraints (missing required label)";
inline constexpr char kReasonAffinity[] = "node(s) didn't match pod affinity rules";
inline constexpr char kReasonAntiAffinity[] = "node(s) didn't match pod anti-affinity rules";
inline constexpr char kReasonExistingAntiAffinity[] =
    "node(s) didn't satisfy existing pods anti-affinity rules";

struct SpreadConstraint {
  std::string key;
  int max_skew = 1;
  bool hard = false;  // DoNotSchedule
  int min_domains = 1;
  bool honor_node_affinity = true;  // nodeAffinityPolicy Honor (the default)
  bool honor_taints = false;        // nodeTaintsPolicy Ignore (the default)
  // Pods counted: those matching `selector` in the pod's namespace, or (the default
  // constraints) those with the same controller `owner_uid`.
  std::optional<LabelSelector> selector;
  std::string owner_uid;

  // Computed by PodContext::build.
  std::unordered_map<std::string, int> counts;  // domain value -> matching pods (absent: 0)
  size_t num_domains = 0;                       // eligible domains, with or without pods
  int min_count = 0;
  bool self_match = false;  // the pod matches its own selector (counts as +1 where it lands)
};

struct AffinityTerm {
  std::string key;
  LabelSelector selector;
  std::set<std::string> namespaces;  // empty: every namespace
  bool all_namespaces = false;
  std::set<std::string> domains;      // topology values holding a matching pod
  bool matchesPod(const PodInfo& p) const;
};

// A pod's nodeSelector and required node affinity, looked up once per attempt.
struct NodeConstraints {
  const json* node_selector = nullptr;       // object or null
  const json* required_terms = nullptr;      // nodeSelectorTerms when required affinity is set
  bool has_required = false;
  bool any() const { return node_selector || has_required; }
  static NodeConstraints of(const json& pod_spec);
  bool matches(const NodeInfo& node) const;
};

struct PodContext {
  PodInfo pod;
  NodeConstraints node_constraints;
  std::vector<SpreadConstraint> spread;
  std::vector<AffinityTerm> affinity, anti_affinity;
  bool affinity_bootstrap = false;  // no pod matches the affinity terms yet but the pod itself does
  // (topology key, value) pairs existing pods' required anti-affinity forbids.
  std::set<std::pair<std::string, std::string>> forbidden_by_existing;

  // Under the cache's lock. Errors (kInvalid) for selectors that cannot be parsed.
  static Result<PodContext> build(PodInfo pod, const SchedulerCache& cache);
};

// nodeSelector and required node affinity (matchExpressions and matchFields metadata.name).
bool matchesNodeSelectorAndAffinity(const json& pod_spec, const NodeInfo& node);
// One NodeSelectorTerm (AND of its requirements); an empty term matches nothing.
bool matchesNodeSelectorTerm(const json& term, const NodeInfo& node);
// The first NoSchedule/NoExecute taint (or the not-ready condition) the pod does not tolerate.
std::optional<Taint> untoleratedTaint(const PodInfo& pod, const NodeInfo& node);

// Appends the reasons `node` cannot take the pod (none: it fits).
void runFilters(const PodContext& ctx, const NodeInfo& node, std::vector<std::string>* reasons);

// "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu." (reasons
// "N text" sorted as strings, as upstream's FitError).
std::string fitErrorMessage(size_t num_nodes, const std::map<std::string, int>& reasons);

}  // namespace berth::controllers::scheduler
