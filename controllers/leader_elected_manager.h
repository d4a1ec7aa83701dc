// LeaderElectedManager: runs the ControllerManager only while this process holds the
// controller-manager Lease (kube-system/berth-controller-manager), as kube-controller-manager
// does with --leader-elect. Several `berth server` processes sharing one store then run one
// active controller set; when the leader stops renewing, another takes over after the lease
// duration. Losing the lease stops the controllers (their informers and workers); winning it
// again starts a fresh set. Thread-safety: start()/stop() from one owner thread.
#pragma once

#include <memory>
#include <mutex>

#include "client/leader_election.h"
#include "controllers/controller_manager.h"

namespace berth::client {
class RestClient;
}

namespace berth::controllers {

class LeaderElectedManager {
 public:
  // Checks `opts` at once (so a bad --controllers fails the server's start, not a later
  // election) and starts campaigning. `election.lease_name` defaults to
  // berth-controller-manager.
  static Result<std::unique_ptr<LeaderElectedManager>> start(const ControllerManagerOptions& opts,
                                                             client::LeaderElectionConfig election);
  ~LeaderElectedManager();
  void stop();
  bool isLeader() const;

 private:
  LeaderElectedManager() = default;
  void startLeading();
  void stopLeading();

  ControllerManagerOptions opts_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<client::LeaderElector> elector_;
  std::mutex mu_;
  std::unique_ptr<ControllerManager> manager_;
};

}  // namespace berth::controllers
