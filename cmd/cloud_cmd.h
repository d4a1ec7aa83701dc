// `berth cloud ...`: the local cloud's own commands. `inject` (fault injection in the spirit of
// AWS FIS: spot-interruption, insufficient-capacity, instance-crash, clear), `instances` (what
// the cloud runs for a cluster) and the hidden `instance-run` (an instance's supervisor).
#pragma once

#include <string>
#include <vector>

namespace berth::cmd {

// Returns the process exit code.
int runCloud(const std::vector<std::string>& args);

}  // namespace berth::cmd
