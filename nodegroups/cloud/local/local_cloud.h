// The local cloud of one cluster (cloud::CloudDriver, provider "local"): instances from
// LocalInstanceDriver, the network from networking::LocalNetwork, both keeping their state in
// the cluster's cloud state dir. `berth server --cloud-provider local` opens it with
// openLocalCloud; `berth cluster create` writes <state_dir>/cloud.json (region, zones, node
// runtime) before it starts the server.
// Thread-safety: as its drivers (every method from any thread).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::cloud::local {

// Opens the local cloud of `cluster` whose state lives in `state_dir`
// (<state root>/<cluster>/cloud).
Result<std::unique_ptr<CloudDriver>> openLocalCloud(const std::string& cluster,
                                                    const std::string& state_dir);

}  // namespace berth::cloud::local
