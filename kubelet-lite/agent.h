// `berth agent`: the entry point cmd/main.cc dispatches to. Parses the flags, connects to the API
// server and runs the simulated fleet or the real node agent until SIGTERM/SIGINT.
#pragma once

#include <string>
#include <vector>

namespace berth::kubelet {

// Returns the process exit code (2 for bad flags, 1 when start-up fails).
int runAgent(const std::vector<std::string>& args);

}  // namespace berth::kubelet
