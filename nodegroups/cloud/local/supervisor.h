// The supervisor of one local instance: `berth cloud instance-run --state DIR` (hidden; started
// detached by the local instance driver). It plays the VM: it enters the instance's network
// namespace, serves the instance metadata endpoint on 169.254.169.254:80 and runs
// `berth agent --user-data ...` with the instance's identity, restarting nothing. When the
// agent dies the instance has failed (terminated, Server.InternalError) as a crashed VM would;
// SIGTERM (the driver terminating it) stops the agent (SIGTERM, then SIGKILL) and ends it with
// Client.UserInitiatedShutdown; when a spot notice's time comes it ends with
// Server.SpotInstanceTermination. It reports through DIR/status.json (see local_state.h).
// Thread-safety: a process entry point.
#pragma once

#include <string>
#include <vector>

#include "nodegroups/cloud/local/local_state.h"

namespace berth::cloud::local {

// The `berth agent` command line of an instance (argv[0] is `berth_binary`).
std::vector<std::string> agentCommand(const std::string& berth_binary, const InstanceRecord& rec,
                                      const std::string& instance_dir);

// Runs the supervisor until the instance ends; returns the process exit code.
int runInstanceSupervisor(const std::string& instance_dir);

}  // namespace berth::cloud::local
