// The priority classes every cluster has (scheduling.k8s.io/v1), as upstream's
// SystemPriorityClasses: created at bootstrap, never deletable, and the only classes whose
// names may start with "system-" or whose value may exceed the highest user-definable one.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace berth::apiserver::kinds {

inline constexpr int32_t kHighestUserDefinablePriority = 1000000000;
inline constexpr std::string_view kSystemPriorityClassPrefix = "system-";

struct SystemPriorityClass {
  std::string_view name;
  int32_t value;
  std::string_view description;
};

inline constexpr std::array<SystemPriorityClass, 2> kSystemPriorityClasses{{
    {"system-node-critical", 2 * kHighestUserDefinablePriority + 1000,
     "Used for system critical pods that must not be moved from their current node."},
    {"system-cluster-critical", 2 * kHighestUserDefinablePriority,
     "Used for system critical pods that must run in the cluster, but can be moved to another "
     "node if necessary."},
}};

inline const SystemPriorityClass* findSystemPriorityClass(std::string_view name) {
  for (const auto& c : kSystemPriorityClasses)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace berth::apiserver::kinds
