// The decisions of one NodeGroup reconcile, as a pure function of the group, its live
// instances and their nodes: which instances to terminate now, which nodes to start draining
// (cordon + taint + evictions, then terminate), how many instances to launch. The controller
// (nodegroup_controller.h) carries them out; this file owns the rules:
//   - unhealthy (no Ready node within launch_timeout of the launch, or NotReady for longer than
//     not_ready_timeout): terminated at once and replaced;
//   - spot-interrupted (node condition SpotInterruption=True, or the cloud's notice on the
//     instance): no longer counted, so a replacement launches at once; its node is drained;
//   - a node tainted karpenter.sh/disrupted by us is being drained: it does not count;
//   - steady: launch up to desired, or scale in with pickToTerminate (drain Ready nodes,
//     terminate the others);
//   - rolling update (instances whose template hash differs): launch new ones up to
//     desired + maxUnavailable (surge), and drain old ones only while Ready nodes stay at
//     desired and at most maxUnavailable drains run at once;
//   - deleting: drain every Ready node, terminate the rest.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/controller/mix.h"

namespace berth::nodegroups {

inline constexpr char kTagTemplateHash[] = "berth.dev/template-hash";
inline constexpr char kDisruptedTaint[] = "karpenter.sh/disrupted";
inline constexpr char kSpotInterruptionCondition[] = "SpotInterruption";
inline constexpr char kLabelNodeGroup[] = "eks.amazonaws.com/nodegroup";

struct PlanConfig {
  std::chrono::milliseconds launch_timeout = std::chrono::minutes(5);
  std::chrono::milliseconds not_ready_timeout = std::chrono::minutes(5);
};

// A live (pending or running) instance and what its node says.
struct GroupInstance {
  cloud::Instance instance;
  nlohmann::json node;  // null when no node registered for it
  bool ready = false;
  bool outdated = false;
  bool draining = false;     // its node carries our disrupted taint
  bool interrupted = false;  // spot interruption notice
  std::string unhealthy;     // non-empty: why it must be replaced
};

GroupInstance classify(const cloud::Instance& inst, const nlohmann::json* node,
                       const std::string& template_hash, TimePoint now, const PlanConfig& cfg);

// The hash of what a rolling update replaces instances for: instance types, labels, taints,
// version, amiFamily, preBootstrapCommands, userData. 16 hex digits.
std::string templateHash(const nlohmann::json& spec);

// maxUnavailable resolved against desired (a percentage rounds down, at least 1).
int64_t maxUnavailable(const nlohmann::json& spec, int64_t desired);

struct GroupInput {
  int64_t desired = 0;
  int64_t max_unavailable = 1;
  bool deleting = false;
  Distribution distribution;
  std::vector<GroupInstance> instances;
};

struct Plan {
  int64_t launch = 0;
  std::map<std::string, std::string> terminate;  // instance id -> why
  std::map<std::string, std::string> drain;      // instance id -> why (start draining)
  std::vector<std::string> draining;             // drains in progress (continue)
  std::vector<Member> active;                    // what the launch arithmetic counts
  bool rolling = false;          // active instances of an older template remain
  int64_t draining_outdated = 0;  // drains of older-template instances still running
  int64_t ready = 0;    // Ready nodes not being drained
  int64_t updated = 0;  // active instances of the current template
};

Plan planGroup(const GroupInput& in);

}  // namespace berth::nodegroups
