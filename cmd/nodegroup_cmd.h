// `berth nodegroup ...`: node-group commands that talk to the API server. `user-data NAME`
// creates a bootstrap token for the group and prints the user-data a self-managed node joins
// with (`berth agent --user-data FILE`).
#pragma once

#include <string>
#include <vector>

namespace berth::cmd {

int runNodegroup(const std::vector<std::string>& args);

}  // namespace berth::cmd
