// NodeGroupController: makes each NodeGroup's instances match its spec through a cloud driver,
// as EKS managed node groups (an Auto Scaling group plus EKS's update and repair logic) do.
//
// reconcile(name) reads the group and the nodes from the informers, describes the group's
// instances by tag (berth.dev/cluster + berth.dev/nodegroup), plans (nodegroup_plan.h) and acts:
// launches with a client token per launch (so a retried call never doubles), the template hash
// tag and user-data rendered per launch (labels match the instance's type, zone and capacity
// type); terminates unhealthy or drained instances; drains nodes by evictions (a PDB's 429
// waits); deletes the Node of an instance that is gone; remembers pools that had no capacity
// (mix.h UnavailablePools) and launches elsewhere. The launches one reconcile wants are planned
// first (zone and capacity balance) and then run at once, at most launch_concurrency at a time. Status: replicas, readyReplicas,
// updatedReplicas, phase (Creating, Active, Updating, Degraded, Deleting), conditions,
// unavailablePools with until-times, instances. Events: Launched, Terminated,
// InsufficientCapacity, SpotInterrupted, RollingUpdate, Draining, InstanceFailed.
// A finalizer (berth.dev/nodegroup-instances) keeps a deleted group until its instances are
// drained and terminated.
// Self-managed groups, and every group when there is no cloud, only count the nodes labelled
// eks.amazonaws.com/nodegroup=<name>; nothing is ever terminated that Berth did not launch.
// Thread-safety: workers reconcile different keys at once; start/stop from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/controller_manager.h"
#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/controller/mix.h"
#include "nodegroups/controller/nodegroup_plan.h"

namespace berth::nodegroups {

inline constexpr char kNodeGroupFinalizer[] = "berth.dev/nodegroup-instances";

const client::Resource& nodeGroupsResource();

// What one launch's user-data must make the node: its labels and taints.
struct LaunchSpec {
  std::string group;
  Pool pool;
  std::string region;
  std::map<std::string, std::string> labels;
  nlohmann::json taints = nlohmann::json::array();  // [{key, value, effect}]
  int32_t max_pods = 0;
  std::vector<std::string> pre_bootstrap_commands;  // spec.preBootstrapCommands: shell parts
  std::string user_data;                            // spec.userData: its parts go first
  std::string node_name;                            // empty: the instance's host name (its id)
};
using UserDataFn = std::function<Result<std::string>(const LaunchSpec&)>;

// The labels a node of `group` launched into `pool` carries (EKS's and Karpenter's, the
// zone/region/instance type ones, then the group's own labels).
std::map<std::string, std::string> nodeLabels(const std::string& group, const Pool& pool,
                                              const std::string& region,
                                              const nlohmann::json& group_labels);

class NodeGroupController : public controllers::ManagedController {
 public:
  struct Config {
    std::string cluster_name;
    cloud::CloudDriver* cloud = nullptr;  // null: count joined nodes only
    UserDataFn user_data;                 // required with a cloud
    // Builds user_data from the manager's client when user_data is empty (the server's).
    std::function<UserDataFn(client::Client*)> user_data_factory;
    std::shared_ptr<cloud::CloudDriver> cloud_owner;  // keeps `cloud` alive, when shared
    PlanConfig plan;
    std::chrono::milliseconds pool_ttl = std::chrono::minutes(3);
    int workers = 2;
    // Launches of one reconcile run at once, at most this many (the cloud's API is slow per
    // call; EC2 RunInstances takes seconds).
    int launch_concurrency = 8;
    client::WorkQueue::Options queue;
    const Clock* clock = nullptr;  // default SystemClock
  };
  NodeGroupController(client::Client* client, client::InformerFactory* informers,
                      client::EventRecorder* recorder, Config config);
  ~NodeGroupController() override;

  void start() override;
  void stop() override;
  controllers::ReconcileResult reconcile(const std::string& name);
  UnavailablePools& pools() { return pools_; }

 private:
  struct Outcome;  // what one reconcile did, for status and the requeue delay
  controllers::ReconcileResult countOnly(const client::json& ng);
  controllers::ReconcileResult reconcileManaged(const client::json& ng);
  Status ensureFinalizer(const client::json& ng, bool present);
  Result<std::vector<std::string>> zonesFor(const client::json& spec);
  std::string subnetFor(const client::json& spec, const std::string& zone);
  void noteGone(const client::json& ng, const std::vector<cloud::Instance>& all);
  void terminate(const client::json& ng, const GroupInstance& gi, const std::string& why,
                 Outcome& out);
  void drainStep(const client::json& ng, const GroupInstance& gi, Outcome& out);
  Result<cloud::RunInstanceRequest> launchRequest(const client::json& ng, const Pool& pool,
                                                  const std::string& hash, int64_t seq);
  // Runs the requests at most launch_concurrency at once; answers in request order.
  std::vector<Result<cloud::Instance>> runInstances(const std::vector<cloud::RunInstanceRequest>& reqs);
  void launch(const client::json& ng, const Distribution& dist,
              const std::vector<std::string>& zones, int64_t count, int64_t desired,
              std::vector<Member> members, Outcome& out);
  Status writeStatus(const client::json& ng, const Plan& plan, const Outcome& out,
                     const std::vector<GroupInstance>& live, const Distribution& dist,
                     const std::vector<std::string>& zones);
  void event(const client::json& ng, bool warning, const std::string& reason,
             const std::string& message);
  void enqueueForNode(const client::json& node);

  client::Client* client_;
  client::EventRecorder* recorder_;
  Config config_;
  const Clock* clock_;
  client::Informer* groups_;
  client::Informer* nodes_;
  client::Informer* pods_;
  UnavailablePools pools_;
  std::unique_ptr<controllers::Controller> controller_;

  std::mutex mu_;
  std::map<std::string, int64_t> launch_seq_;  // group uid -> next launch number
  std::set<std::string> reported_gone_;        // instance ids whose end was reported
  std::map<std::string, cloud::Vpc> vpc_;      // "" -> the cluster's network, once described
};

// The ExtraController factory `berth server` wires ("nodegroup").
controllers::ControllerFactory nodeGroupControllerFactory(NodeGroupController::Config config);

}  // namespace berth::nodegroups
