#include "nodegroups/controller/fargate_controller.h"

#include <algorithm>
#include <functional>

#include "apiserver/kinds/kind_util.h"
#include "client/rest_client.h"
#include "common/log.h"
#include "nodegroups/catalogue/catalogue.h"

namespace berth::nodegroups {

using client::json;
using client::ObjectPtr;
using controllers::ReconcileResult;
namespace k = apiserver::kinds;
using namespace std::chrono_literals;

namespace {

const client::Resource& podsR() {
  static const client::Resource r{"", "v1", "pods", "Pod", true, {}};
  return r;
}
const client::Resource& nodesR() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, {}};
  return r;
}
const client::Resource& profilesR() {
  static const client::Resource r{"berth.dev", "v1alpha1", "fargateprofiles", "FargateProfile", false, {}};
  return r;
}

bool isFargatePod(const json& pod) {
  return k::str(pod, {"spec", "schedulerName"}) == kFargateScheduler;
}

bool finished(const json& pod) {
  std::string phase = k::str(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

bool nodeReady(const json& node) {
  if (const json* conds = k::find(node, {"status", "conditions"}); conds && conds->is_array()) {
    for (const json& c : *conds) {
      if (k::str(c, {"type"}) == "Ready") return k::str(c, {"status"}) == "True";
    }
  }
  return false;
}

// "250m" / "1" / "2Gi" / "512Mi" / "1G": enough of the quantity syntax for pod requests.
double quantity(const std::string& q, bool cpu) {
  if (q.empty()) return 0;
  size_t i = 0;
  while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.')) ++i;
  double v = std::atof(q.substr(0, i).c_str());
  std::string unit = q.substr(i);
  if (cpu) return unit == "m" ? v : v * 1000;  // millicores
  static const std::map<std::string, double> kMiB = {
      {"Ki", 1.0 / 1024}, {"Mi", 1}, {"Gi", 1024}, {"Ti", 1024 * 1024},
      {"k", 1000.0 / 1048576}, {"M", 1e6 / 1048576}, {"G", 1e9 / 1048576}, {"", 1.0 / 1048576}};
  auto it = kMiB.find(unit);
  return it == kMiB.end() ? 0 : v * it->second;
}

}  // namespace

std::string fargateInstanceType(const json& pod) {
  double cpu = 0, mem = 0;
  if (const json* cs = k::find(pod, {"spec", "containers"}); cs && cs->is_array()) {
    for (const json& c : *cs) {
      cpu += quantity(k::str(c, {"resources", "requests", "cpu"}), true);
      mem += quantity(k::str(c, {"resources", "requests", "memory"}), false);
    }
  }
  std::vector<InstanceTypeInfo> types = instanceTypeCatalogue();
  std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) {
    return a.on_demand_price < b.on_demand_price;
  });
  for (const InstanceTypeInfo& t : types) {
    if (t.vcpu * 1000 >= cpu && t.memory_mib >= mem + 256) return t.name;  // room for the agent
  }
  return types.back().name;
}

FargateController::FargateController(client::Client* client, client::InformerFactory* informers,
                                     client::EventRecorder* recorder, Config config)
    : client_(client), recorder_(recorder), config_(std::move(config)) {
  pods_ = informers->informerFor(podsR());
  nodes_ = informers->informerFor(nodesR());
  profiles_ = informers->informerFor(profilesR());
  controllers::Controller::Options o;
  o.name = "fargate";
  o.workers = config_.workers;
  controller_ = std::make_unique<controllers::Controller>(
      o, [this](const std::string& key) { return reconcile(key); });
  auto podEvent = [this](const ObjectPtr& p) {
    if (isFargatePod(*p)) controller_->enqueue(client::objectKey(*p));
  };
  pods_->addEventHandlers({podEvent, [podEvent](const ObjectPtr&, const ObjectPtr& n) { podEvent(n); },
                           podEvent});
  auto profileEvent = [this](const ObjectPtr& p) { controller_->enqueue(client::objectKey(*p)); };
  profiles_->addEventHandlers(
      {profileEvent, [profileEvent](const ObjectPtr&, const ObjectPtr& n) { profileEvent(n); }, nullptr});
}

FargateController::~FargateController() { stop(); }
void FargateController::start() { controller_->start({pods_, nodes_, profiles_}); }
void FargateController::stop() { controller_->stop(); }

ReconcileResult FargateController::reconcile(const std::string& key) {
  if (key.find('/') == std::string::npos) return reconcileProfile(key);
  return reconcilePod(key);
}

ReconcileResult FargateController::reconcileProfile(const std::string& name) {
  ObjectPtr p = profiles_->get(name);
  if (!p || k::find(*p, {"metadata", "deletionTimestamp"})) return ReconcileResult::ok();
  if (k::str(*p, {"status", "phase"}) == "ACTIVE" &&
      k::num(*p, {"status", "observedGeneration"}) == k::num(*p, {"metadata", "generation"})) {
    return ReconcileResult::ok();
  }
  json obj = *p;
  obj["status"]["phase"] = "ACTIVE";
  obj["status"]["observedGeneration"] = k::num(*p, {"metadata", "generation"});
  Result<json> r = client_->update(profilesR(), "", name, obj, "status");
  if (!r.isOk() && r.status().code() != Code::kNotFound) return ReconcileResult::fail(r.status());
  return ReconcileResult::ok();
}

std::string fargateNodeName(const std::string& ns, const std::string& name, const std::string& uid) {
  std::string base = "fargate-" + ns + "-" + name;
  std::string suffix = "-" + uid.substr(0, 8);
  constexpr size_t kMax = 253;  // a DNS subdomain
  if (base.size() + suffix.size() > kMax) base.resize(kMax - suffix.size());
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  return base + suffix;
}

namespace {

// The Node an instance joined as (instances launched before nodes were named by pod: its id).
std::string nodeNameOf(const cloud::Instance& i) {
  auto t = i.tags.find(kTagFargateNode);
  return t != i.tags.end() && !t->second.empty() ? t->second : i.id;
}

}  // namespace

Status FargateController::release(const std::vector<cloud::Instance>& instances) {
  for (const cloud::Instance& i : instances) {
    Status s = config_.cloud->instances().terminateInstance(i.id);
    if (!s.isOk() && s.code() != Code::kNotFound) return s;
    BLOG(2, "fargate: released").kv("instance", i.id).kv("pod", i.tags.count(kTagFargatePod) ? i.tags.at(kTagFargatePod) : "");
    Result<json> r = client_->remove(nodesR(), "", nodeNameOf(i));
    if (!r.isOk() && r.status().code() != Code::kNotFound) return r.status();
  }
  return Status::ok();
}

Result<std::string> FargateController::zoneFor(const std::string& uid) {
  BERTH_ASSIGN_OR_RETURN(cloud::Vpc vpc, config_.cloud->network().describeNetwork());
  std::vector<std::string> zones;
  for (const cloud::Subnet& s : vpc.subnets) {
    if (!s.is_public && std::find(zones.begin(), zones.end(), s.zone) == zones.end()) zones.push_back(s.zone);
  }
  if (zones.empty()) return invalid("the cluster network has no private subnet for Fargate pods");
  std::sort(zones.begin(), zones.end());
  return zones[std::hash<std::string>()(uid) % zones.size()];
}

Status FargateController::prepareNode(const json& node, const std::string& profile) {
  json taints = json::array();
  bool have = false;
  if (const json* t = k::find(node, {"spec", "taints"}); t && t->is_array()) {
    for (const json& x : *t) {
      if (k::str(x, {"key"}) == kLabelComputeType) have = true;
      taints.push_back(x);
    }
  }
  bool labelled = k::str(node, {"metadata", "labels", kLabelComputeType}) == "fargate" &&
                  k::str(node, {"metadata", "labels", kLabelFargateProfile}) == profile;
  if (have && labelled) return Status::ok();
  if (!have) taints.push_back({{"key", kLabelComputeType}, {"value", "fargate"}, {"effect", "NoSchedule"}});
  json patch = {{"metadata", {{"labels", {{kLabelComputeType, "fargate"}, {kLabelFargateProfile, profile}}}}},
                {"spec", {{"taints", taints}}}};
  return client_->patch(nodesR(), "", k::str(node, {"metadata", "name"}), client::PatchType::kMerge, patch)
      .status();
}

ReconcileResult FargateController::reconcilePod(const std::string& key) {
  ObjectPtr pod = pods_->get(key);
  Result<std::vector<cloud::Instance>> all = config_.cloud->instances().describeInstances(
      {{cloud::kTagCluster, config_.cluster_name}, {kTagFargatePod, key}});
  if (!all.isOk()) return ReconcileResult::fail(all.status());
  std::vector<cloud::Instance> live, stale;
  std::string uid = pod ? k::str(*pod, {"metadata", "uid"}) : "";
  bool wanted = pod && !finished(*pod) && !k::find(*pod, {"metadata", "deletionTimestamp"});
  for (const cloud::Instance& i : *all) {
    if (i.state != cloud::InstanceState::kPending && i.state != cloud::InstanceState::kRunning) continue;
    auto t = i.tags.find(kTagFargatePodUid);
    (wanted && t != i.tags.end() && t->second == uid ? live : stale).push_back(i);
  }
  if (Status s = release(stale); !s.isOk()) return ReconcileResult::fail(s);
  if (!wanted || !isFargatePod(*pod)) return ReconcileResult::ok();
  if (!k::str(*pod, {"spec", "nodeName"}).empty()) return ReconcileResult::ok();
  std::string ns = k::str(*pod, {"metadata", "namespace"});
  std::string name = k::str(*pod, {"metadata", "name"});
  std::string profile = k::str(*pod, {"metadata", "labels", kLabelFargateProfile});
  if (live.empty()) {
    Result<std::string> zone = zoneFor(uid);
    if (!zone.isOk()) return ReconcileResult::fail(zone.status());
    Pool pool{fargateInstanceType(*pod), *zone, cloud::CapacityType::kOnDemand};
    LaunchSpec ls;
    ls.group = "fargate-" + profile;
    ls.pool = pool;
    ls.region = config_.cloud->region();
    ls.labels = {{kLabelComputeType, "fargate"}, {kLabelFargateProfile, profile},
                 {"topology.kubernetes.io/zone", pool.zone}, {"topology.kubernetes.io/region", ls.region}};
    ls.taints = json::array({{{"key", kLabelComputeType}, {"value", "fargate"}, {"effect", "NoSchedule"}}});
    ls.max_pods = 1;
    ls.node_name = fargateNodeName(ns, name, uid);
    Result<std::string> ud = config_.user_data ? config_.user_data(ls) : Result<std::string>("");
    if (!ud.isOk()) return ReconcileResult::fail(ud.status());
    std::string subnet;
    if (Result<cloud::Vpc> vpc = config_.cloud->network().describeNetwork(); vpc.isOk()) {
      for (const cloud::Subnet& s : vpc->subnets) {
        if (!s.is_public && s.zone == pool.zone) subnet = s.id;
      }
    }
    cloud::RunInstanceRequest req;
    req.client_token = "fargate-" + uid;
    req.instance_type = pool.instance_type;
    req.zone = pool.zone;
    req.subnet_id = subnet;
    req.capacity_type = cloud::CapacityType::kOnDemand;
    req.user_data = std::move(*ud);
    req.tags = {{cloud::kTagCluster, config_.cluster_name},
                {kTagFargatePod, key},
                {kTagFargatePodUid, uid},
                {kTagFargateNode, ls.node_name},
                {cloud::kTagName, "fargate-" + ns + "-" + name}};
    Result<cloud::Instance> inst = config_.cloud->instances().runInstance(req);
    if (!inst.isOk()) return ReconcileResult::fail(inst.status().withContext("fargate launch for " + key));
    if (recorder_) {
      recorder_->event(*pod, client::EventRecorder::Type::kNormal, "LaunchingFargateNode",
                       "launching instance " + inst->id + " (" + pool.instance_type + ", " +
                           pool.zone + ") for this pod (fargate profile " + profile + ")");
    }
    return ReconcileResult::after(1s);
  }
  const cloud::Instance& inst = live.front();
  std::string node_name = nodeNameOf(inst);
  ObjectPtr node = nodes_->get(node_name);
  if (!node || !nodeReady(*node)) return ReconcileResult::after(1s);
  if (Status s = prepareNode(*node, profile); !s.isOk()) return ReconcileResult::fail(s);
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node_name}}}};
  Result<json> r = client_->request("POST", "/api/v1/namespaces/" + ns + "/pods/" + name + "/binding",
                                    binding.dump());
  if (!r.isOk() && r.status().code() != Code::kConflict) return ReconcileResult::fail(r.status());
  if (recorder_ && r.isOk()) {
    recorder_->event(*pod, client::EventRecorder::Type::kNormal, "Scheduled",
                     "Successfully assigned " + key + " to " + node_name + " (instance " + inst.id + ", fargate profile " + profile + ")");
  }
  return ReconcileResult::ok();
}

controllers::ControllerFactory fargateControllerFactory(FargateController::Config config) {
  return [config](controllers::ControllerContext& ctx)
             -> Result<std::unique_ptr<controllers::ManagedController>> {
    FargateController::Config c = config;
    if (!c.cloud) return invalid("the fargate controller needs a cloud provider (--cloud-provider)");
    c.workers = ctx.workers;
    if (!c.user_data && c.user_data_factory) c.user_data = c.user_data_factory(ctx.client);
    return std::unique_ptr<controllers::ManagedController>(std::make_unique<FargateController>(
        ctx.client, ctx.informers, ctx.recorder("fargate-scheduler"), c));
  };
}

}  // namespace berth::nodegroups
