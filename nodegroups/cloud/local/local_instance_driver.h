// LocalInstanceDriver: the local cloud's instances (cloud::InstanceDriver). An instance is a
// network namespace in its subnet (networking::LocalNetwork::attachInstance) running a
// supervisor process (`berth cloud instance-run`, see supervisor.h) that serves the metadata
// endpoint and runs `berth agent --user-data` as the instance's "OS". State lives in files
// under the cluster's cloud state dir (local_state.h), so describeInstances works across
// server restarts and the supervisors outlive the server.
//
// runInstance is idempotent per client token; it refuses instance types the catalogue
// (nodegroups/catalogue) does not have and unknown zones (kInvalid), and pools with an injected capacity shortage or in a zone with an injected outage
// (cloud::insufficientCapacity).
// terminateInstance stops the supervisor (the agent gets SIGTERM), then removes the namespace;
// an instance whose agent died, or whose spot notice came due, is seen terminated by the next
// describe, which also removes its namespace. Terminated instances stay visible for an hour.
// Thread-safety: every method may be called from any thread (one mutex; terminate waits for
// the supervisor outside it).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/time_util.h"
#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/cloud/local/local_state.h"

namespace berth::networking {
class LocalNetwork;
}

namespace berth::cloud::local {

// Every instance of a cloud state dir as it is now, read-only (for `berth cloud instances`
// and `berth cluster get`; the driver in the server is the one that records changes).
std::vector<Instance> peekInstances(const std::string& cloud_dir);

// Fault injection from outside the server: the instance `id` fails as a crashed machine does
// (its agent is killed, or its supervisor when the agent has not started; the supervisor tears
// down its containers and the driver's next describe sees it terminated, Server.InternalError).
// kNotFound for an unknown id, kConflict when it is terminated or its processes are
// already gone.
Status crashInstance(const std::string& cloud_dir, const std::string& id);

// What the driver needs of the network: LocalNetwork's instance half (an interface so tests
// can run without root).
class InstanceNetwork {
 public:
  virtual ~InstanceNetwork() = default;
  virtual Result<std::string> attachInstance(const std::string& instance_id,
                                             const std::string& subnet_id, std::string* netns) = 0;
  virtual Status detachInstance(const std::string& instance_id) = 0;
};

class LocalInstanceDriver : public InstanceDriver {
 public:
  struct Options {
    std::string cloud_dir;  // <state root>/<cluster>/cloud
    LocalCloudConfig config;
    std::string berth_binary;  // default: this executable
    const Clock* clock = &SystemClock::instance();
    std::chrono::seconds terminated_retention{3600};
  };
  LocalInstanceDriver(Options opts, InstanceNetwork* network);

  Result<Instance> runInstance(const RunInstanceRequest& req) override;
  Status terminateInstance(const std::string& id) override;
  Result<std::vector<Instance>> describeInstances(
      const std::map<std::string, std::string>& tags) override;

 private:
  Result<Instance> launch(const RunInstanceRequest& req);
  // Records a terminated instance as such and removes its namespace. Caller holds mu_.
  void settle(InstanceRecord* rec, const Instance& now_view);
  Status save(const InstanceRecord& rec) const;
  std::string dirOf(const std::string& id) const { return instanceDir(opts_.cloud_dir, id); }

  Options opts_;
  InstanceNetwork* network_;
  std::mutex mu_;
};

}  // namespace berth::cloud::local
