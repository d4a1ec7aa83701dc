// `berth cluster create|delete|get`: eksctl-style clusters on this machine through the local
// cloud (network, `berth server --cloud-provider local`, node groups, Fargate profiles).
#pragma once

#include <string>
#include <vector>

namespace berth::cmd {

// Returns the process exit code.
int runCluster(const std::vector<std::string>& args);

}  // namespace berth::cmd
