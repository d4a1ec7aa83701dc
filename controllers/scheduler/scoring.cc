#include "controllers/scheduler/scoring.h"

#include <algorithm>
#include <cmath>

namespace berth::controllers::scheduler {

namespace {

constexpr int64_t kMaxScore = 100;
constexpr int64_t kWeightFit = 1, kWeightBalanced = 1, kWeightTaint = 3, kWeightAffinity = 2,
                  kWeightSpread = 2;

const json& get(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

double fraction(int64_t requested, int64_t allocatable) {
  if (allocatable <= 0) return 1;
  return std::min(1.0, static_cast<double>(requested) / static_cast<double>(allocatable));
}

int64_t preferNoScheduleCount(const PodInfo& pod, const NodeInfo& node) {
  int64_t n = 0;
  for (const auto& t : node.taints) {
    if (t.effect != "PreferNoSchedule") continue;
    bool tolerated = std::any_of(pod.tolerations.begin(), pod.tolerations.end(), [&](const auto& tol) {
      return (tol.effect.empty() || tol.effect == "PreferNoSchedule") && tol.tolerates(t);
    });
    if (!tolerated) ++n;
  }
  return n;
}

const json& preferredTerms(const PodInfo& pod) {
  return get(get(get(pod.spec(), "affinity"), "nodeAffinity"),
             "preferredDuringSchedulingIgnoredDuringExecution");
}

int64_t preferredAffinityWeight(const json& prefs, const NodeInfo& node) {
  if (!prefs.is_array()) return 0;
  int64_t sum = 0;
  for (const auto& p : prefs) {
    const json& w = get(p, "weight");
    if (w.is_number_integer() && matchesNodeSelectorTerm(get(p, "preference"), node))
      sum += w.get<int64_t>();
  }
  return sum;
}

// Scales raw values to 0..100 with the largest getting 100 (reverse: the smallest).
void normalize(std::vector<int64_t>* v, bool reverse) {
  int64_t max = 0;
  for (int64_t x : *v) max = std::max(max, x);
  for (int64_t& x : *v) {
    int64_t s = max == 0 ? 0 : x * kMaxScore / max;
    x = reverse ? kMaxScore - s : s;
  }
}

}  // namespace

int64_t leastAllocatedScore(const PodInfo& pod, const NodeInfo& node) {
  auto one = [](int64_t requested, int64_t allocatable) -> int64_t {
    if (allocatable <= 0 || requested > allocatable) return 0;
    return (allocatable - requested) * kMaxScore / allocatable;
  };
  const Resources& used = node.non_zero_requested;
  const Resources& req = pod.non_zero_requests;
  return (one(used.milli_cpu + req.milli_cpu, node.allocatable.milli_cpu) +
          one(used.memory + req.memory, node.allocatable.memory)) / 2;
}

int64_t balancedAllocationScore(const PodInfo& pod, const NodeInfo& node) {
  const Resources& used = node.non_zero_requested;
  const Resources& req = pod.non_zero_requests;
  double cpu = fraction(used.milli_cpu + req.milli_cpu, node.allocatable.milli_cpu);
  double mem = fraction(used.memory + req.memory, node.allocatable.memory);
  double std_dev = std::abs(cpu - mem) / 2;
  return static_cast<int64_t>((1 - std_dev) * kMaxScore);
}

double spreadRawScore(const PodContext& ctx, const NodeInfo& node) {
  double raw = 0;
  for (const auto& s : ctx.spread) {
    if (s.hard) continue;
    const std::string* v = node.label(s.key);
    if (!v) return -1;  // lacks a topology key: scored last
    auto it = s.counts.find(*v);
    double weight = std::log(static_cast<double>(s.num_domains) + 2);
    raw += weight * (it == s.counts.end() ? 0 : it->second);
  }
  return raw;
}

std::vector<int64_t> scoreNodes(const PodContext& ctx, const std::vector<const NodeInfo*>& nodes) {
  const PodInfo& pod = ctx.pod;
  size_t n = nodes.size();
  std::vector<int64_t> taint(n), affinity(n), spread(n, kMaxScore), total(n);
  std::vector<double> raw(n);
  double raw_min = 0, raw_max = 0;
  bool any_raw = false;
  const json& prefs = preferredTerms(pod);
  for (size_t i = 0; i < n; ++i) {
    taint[i] = preferNoScheduleCount(pod, *nodes[i]);
    affinity[i] = preferredAffinityWeight(prefs, *nodes[i]);
    raw[i] = spreadRawScore(ctx, *nodes[i]);
    if (raw[i] < 0) continue;
    raw_min = any_raw ? std::min(raw_min, raw[i]) : raw[i];
    raw_max = any_raw ? std::max(raw_max, raw[i]) : raw[i];
    any_raw = true;
  }
  normalize(&taint, true);
  normalize(&affinity, false);
  for (size_t i = 0; i < n; ++i) {
    if (raw[i] < 0) spread[i] = 0;
    else if (raw_max > raw_min)
      spread[i] = static_cast<int64_t>(kMaxScore * (raw_max - raw[i]) / (raw_max - raw_min));
    total[i] = kWeightFit * leastAllocatedScore(pod, *nodes[i]) +
               kWeightBalanced * balancedAllocationScore(pod, *nodes[i]) +
               kWeightTaint * taint[i] + kWeightAffinity * affinity[i] + kWeightSpread * spread[i];
  }
  return total;
}

size_t numFeasibleNodesToFind(size_t num_nodes) {
  constexpr size_t kMinFeasible = 100;
  if (num_nodes < kMinFeasible) return num_nodes;
  long pct = 50 - static_cast<long>(num_nodes) / 125;
  pct = std::max(5L, pct);
  return std::max(kMinFeasible, num_nodes * static_cast<size_t>(pct) / 100);
}

ScheduleResult NodeSelector::select(const PodContext& ctx, const SchedulerCache& cache) {
  ScheduleResult res;
  const auto& nodes = cache.nodesLocked();
  size_t n = nodes.size();
  if (n == 0) {
    res.message = fitErrorMessage(0, {});
    return res;
  }
  size_t want = numFeasibleNodesToFind(n);
  size_t start = next_start_ % n;
  std::vector<const NodeInfo*> feasible;
  std::map<std::string, int> reasons;
  std::vector<std::string> why;
  for (size_t i = 0; i < n && feasible.size() < want; ++i) {
    const NodeInfo* node = nodes[(start + i) % n];
    ++res.evaluated;
    why.clear();
    runFilters(ctx, *node, &why);
    if (why.empty()) feasible.push_back(node);
    for (const auto& r : why) ++reasons[r];
  }
  next_start_ = (start + res.evaluated) % n;
  res.feasible = feasible.size();
  if (feasible.empty()) {
    res.message = fitErrorMessage(n, reasons);
    return res;
  }
  if (feasible.size() == 1) {
    res.node = feasible[0]->name;
    return res;
  }
  std::vector<int64_t> scores = scoreNodes(ctx, feasible);
  int64_t best = -1;
  size_t ties = 0;
  for (size_t i = 0; i < feasible.size(); ++i) {
    if (scores[i] < best) continue;
    if (scores[i] > best) {
      best = scores[i];
      ties = 0;
    }
    // Reservoir sampling: each of the tied best nodes is equally likely.
    if (std::uniform_int_distribution<size_t>(0, ties++)(rng_) == 0) res.node = feasible[i]->name;
  }
  return res;
}

}  // namespace berth::controllers::scheduler
