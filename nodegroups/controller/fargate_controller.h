// FargateController: one micro-node per Fargate pod, as EKS Fargate does. A pod that the API
// server's admission matched to a FargateProfile (schedulerName "fargate-scheduler", label
// eks.amazonaws.com/fargate-profile) and that is not bound gets an on-demand instance of its
// own (client token "fargate-<pod uid>", so a retry never doubles; Name tag
// fargate-<namespace>-<pod>; a private subnet; node labels eks.amazonaws.com/compute-type=fargate
// and the profile; taint eks.amazonaws.com/compute-type=fargate:NoSchedule, which keeps
// DaemonSets and every other pod off). Once the node is Ready the controller makes sure the
// taint and labels are on it and binds the pod there (pods/binding). When the pod is gone or
// finished, its instance is terminated and its Node deleted. FargateProfiles get
// status.phase ACTIVE.
// Keys: "ns/name" for pods, "name" for profiles. Thread-safety: workers reconcile different keys
// at once; start/stop from one thread.
#pragma once

#include <memory>
#include <string>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/controller_manager.h"
#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/controller/nodegroup_controller.h"

namespace berth::nodegroups {

inline constexpr char kFargateScheduler[] = "fargate-scheduler";
inline constexpr char kLabelComputeType[] = "eks.amazonaws.com/compute-type";
inline constexpr char kLabelFargateProfile[] = "eks.amazonaws.com/fargate-profile";
inline constexpr char kTagFargatePod[] = "berth.dev/fargate-pod";
inline constexpr char kTagFargatePodUid[] = "berth.dev/fargate-pod-uid";
inline constexpr char kTagFargateNode[] = "berth.dev/fargate-node";  // the Node's name

// The Node name of a Fargate pod's instance, as EKS names them "fargate-...": from the pod's
// namespace and name (cut to fit) and its uid, so a pod recreated under the same name gets a
// node of its own.
std::string fargateNodeName(const std::string& ns, const std::string& name, const std::string& uid);

// The cheapest catalogue type whose vCPUs and memory hold the pod's requests (Fargate sizes a
// micro-node by the pod's requests).
std::string fargateInstanceType(const client::json& pod);

class FargateController : public controllers::ManagedController {
 public:
  struct Config {
    std::string cluster_name;
    cloud::CloudDriver* cloud = nullptr;  // required
    std::shared_ptr<cloud::CloudDriver> cloud_owner;
    UserDataFn user_data;
    std::function<UserDataFn(client::Client*)> user_data_factory;
    int workers = 2;
  };
  FargateController(client::Client* client, client::InformerFactory* informers,
                    client::EventRecorder* recorder, Config config);
  ~FargateController() override;
  void start() override;
  void stop() override;
  controllers::ReconcileResult reconcile(const std::string& key);

 private:
  controllers::ReconcileResult reconcilePod(const std::string& key);
  controllers::ReconcileResult reconcileProfile(const std::string& name);
  Status release(const std::vector<cloud::Instance>& instances);
  Result<std::string> zoneFor(const std::string& uid);
  Status prepareNode(const client::json& node, const std::string& profile);

  client::Client* client_;
  client::EventRecorder* recorder_;
  Config config_;
  client::Informer* pods_;
  client::Informer* nodes_;
  client::Informer* profiles_;
  std::unique_ptr<controllers::Controller> controller_;
};

// The ExtraController factory `berth server` wires ("fargate"); no cloud: a controller that
// only marks profiles ACTIVE is not useful, so the factory fails with a clear message.
controllers::ControllerFactory fargateControllerFactory(FargateController::Config config);

}  // namespace berth::nodegroups
