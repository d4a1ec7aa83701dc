#include "nodegroups/controller/nodegroup_controller.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "apiserver/kinds/kind_util.h"
#include "client/rest_client.h"
#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/catalogue/catalogue.h"
#include "nodegroups/controller/drain.h"

namespace berth::nodegroups {

using client::json;
using client::ObjectPtr;
using controllers::ReconcileResult;
namespace k = apiserver::kinds;
using namespace std::chrono_literals;

const client::Resource& nodeGroupsResource() {
  static const client::Resource r{"berth.dev", "v1alpha1", "nodegroups", "NodeGroup", false, {}};
  return r;
}

namespace {

const client::Resource& nodes() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, {}};
  return r;
}
const client::Resource& pods() {
  static const client::Resource r{"", "v1", "pods", "Pod", true, {}};
  return r;
}

constexpr char kIndexNodeGroup[] = "nodegroups.group";
constexpr char kIndexNodeInstance[] = "nodegroups.instance";

// The instance id a node stands for: its name (InstanceIdNodeName) and the last part of its
// providerID ("local:///local-1a/i-...").
std::vector<std::string> nodeInstanceIndex(const json& node) {
  std::vector<std::string> out = {k::str(node, {"metadata", "name"})};
  std::string pid = k::str(node, {"spec", "providerID"});
  if (auto slash = pid.rfind('/'); slash != std::string::npos && slash + 1 < pid.size()) {
    if (pid.substr(slash + 1) != out[0]) out.push_back(pid.substr(slash + 1));
  }
  return out;
}

std::vector<std::string> nodeGroupIndex(const json& node) {
  std::string g = k::str(node, {"metadata", "labels", kLabelNodeGroup});
  if (g.empty()) return {};
  return {g};
}

bool nodeReady(const json& node) {
  if (const json* conds = k::find(node, {"status", "conditions"}); conds && conds->is_array()) {
    for (const json& c : *conds) {
      if (k::str(c, {"type"}) == "Ready") return k::str(c, {"status"}) == "True";
    }
  }
  return false;
}

bool isLive(const cloud::Instance& i) {
  return i.state == cloud::InstanceState::kPending || i.state == cloud::InstanceState::kRunning;
}

json condition(const std::string& type, bool ok, const std::string& reason,
               const std::string& message, const json& old_status, TimePoint now) {
  std::string status = ok ? "True" : "False";
  std::string since = formatRfc3339(now);
  if (const json* conds = k::find(old_status, {"conditions"}); conds && conds->is_array()) {
    for (const json& c : *conds) {
      if (k::str(c, {"type"}) == type && k::str(c, {"status"}) == status) {
        since = k::str(c, {"lastTransitionTime"});
      }
    }
  }
  return {{"type", type}, {"status", status}, {"reason", reason}, {"message", message},
          {"lastTransitionTime", since}};
}

}  // namespace

std::map<std::string, std::string> nodeLabels(const std::string& group, const Pool& pool,
                                              const std::string& region,
                                              const json& group_labels) {
  bool spot = pool.capacity_type == cloud::CapacityType::kSpot;
  std::map<std::string, std::string> l = {
      {kLabelNodeGroup, group},
      {"eks.amazonaws.com/capacityType", spot ? "SPOT" : "ON_DEMAND"},
      {"karpenter.sh/capacity-type", spot ? "spot" : "on-demand"},
      {"node.kubernetes.io/instance-type", pool.instance_type},
      {"topology.kubernetes.io/zone", pool.zone},
  };
  if (!region.empty()) l["topology.kubernetes.io/region"] = region;
  if (group_labels.is_object()) {
    for (const auto& [key, v] : group_labels.items()) {
      if (v.is_string()) l[key] = v.get<std::string>();
    }
  }
  return l;
}

// What one reconcile did: for status, events already written, and the requeue delay.
struct NodeGroupController::Outcome {
  std::string launch_error;   // the last launch failure (no capacity anywhere, ...)
  std::string drain_blocked;  // a pod whose eviction a PDB refused
  bool busy = false;          // something is in progress: look again soon
};

NodeGroupController::NodeGroupController(client::Client* client,
                                         client::InformerFactory* informers,
                                         client::EventRecorder* recorder, Config config)
    : client_(client),
      recorder_(recorder),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      pools_(clock_, config_.pool_ttl) {
  groups_ = informers->informerFor(nodeGroupsResource());
  nodes_ = informers->informerFor(nodes());
  pods_ = informers->informerFor(pods());
  nodes_->addIndexer(kIndexNodeGroup, nodeGroupIndex);
  nodes_->addIndexer(kIndexNodeInstance, nodeInstanceIndex);
  pods_->addIndexer(kIndexPodNode, podNodeIndex);
  controllers::Controller::Options o;
  o.name = "nodegroup";
  o.workers = config_.workers;
  o.queue = config_.queue;
  controller_ = std::make_unique<controllers::Controller>(
      o, [this](const std::string& key) { return reconcile(key); });
  groups_->addEventHandlers(
      {[this](const ObjectPtr& o) { controller_->enqueue(client::objectKey(*o)); },
       [this](const ObjectPtr&, const ObjectPtr& n) { controller_->enqueue(client::objectKey(*n)); },
       [this](const ObjectPtr& o) { controller_->enqueue(client::objectKey(*o)); }});
  nodes_->addEventHandlers(
      {[this](const ObjectPtr& o) { enqueueForNode(*o); },
       [this](const ObjectPtr& old, const ObjectPtr& n) {
         // Heartbeats change only timestamps; readiness, taints and labels matter.
         if (nodeReady(*old) != nodeReady(*n) || k::find(*old, {"spec"}) != k::find(*n, {"spec"}) ||
             k::find(*old, {"metadata", "labels"}) != k::find(*n, {"metadata", "labels"}) ||
             (*old)["status"].value("conditions", json()) != (*n)["status"].value("conditions", json())) {
           enqueueForNode(*n);
         }
       },
       [this](const ObjectPtr& o) { enqueueForNode(*o); }});
  auto podGone = [this](const ObjectPtr& p) {
    std::string node = k::str(*p, {"spec", "nodeName"});
    if (node.empty()) return;
    if (ObjectPtr n = nodes_->get(node)) enqueueForNode(*n);
  };
  pods_->addEventHandlers({nullptr,
                           [podGone](const ObjectPtr&, const ObjectPtr& n) {
                             if (k::find(*n, {"metadata", "deletionTimestamp"})) podGone(n);
                           },
                           podGone});
}

NodeGroupController::~NodeGroupController() { stop(); }

void NodeGroupController::start() { controller_->start({groups_, nodes_, pods_}); }
void NodeGroupController::stop() { controller_->stop(); }

void NodeGroupController::enqueueForNode(const json& node) {
  std::string g = k::str(node, {"metadata", "labels", kLabelNodeGroup});
  // Fargate nodes carry no group label; a node without one belongs to no group.
  if (!g.empty()) controller_->enqueue(g);
}

void NodeGroupController::event(const json& ng, bool warning, const std::string& reason,
                                const std::string& message) {
  BLOG(2, "nodegroup event").kv("group", k::str(ng, {"metadata", "name"})).kv("reason", reason).kv("message", message);
  if (recorder_) {
    recorder_->event(ng, warning ? client::EventRecorder::Type::kWarning
                                 : client::EventRecorder::Type::kNormal,
                     reason, message);
  }
}

ReconcileResult NodeGroupController::reconcile(const std::string& name) {
  ObjectPtr ng = groups_->get(name);
  if (!ng) return ReconcileResult::ok();
  bool managed = k::str(*ng, {"spec", "type"}) != "self-managed";
  if (!managed || !config_.cloud) return countOnly(*ng);
  return reconcileManaged(*ng);
}

ReconcileResult NodeGroupController::countOnly(const json& ng) {
  std::string name = k::str(ng, {"metadata", "name"});
  bool deleting = k::find(ng, {"metadata", "deletionTimestamp"}) != nullptr;
  if (deleting || !k::find(ng, {"metadata", "finalizers"})) {
    // A group that never had instances of ours needs no finalizer; drop ours if it is there.
    Status s = ensureFinalizer(ng, false);
    if (!s.isOk()) return ReconcileResult::fail(s);
    if (deleting) return ReconcileResult::ok();
  }
  int64_t replicas = 0, ready = 0;
  for (const ObjectPtr& n : nodes_->byIndex(kIndexNodeGroup, name)) {
    replicas++;
    if (nodeReady(*n)) ready++;
  }
  int64_t desired = k::num(ng, {"spec", "scaling", "desiredSize"});
  const json old = k::find(ng, {"status"}) ? ng["status"] : json::object();
  json st = old;
  st["observedGeneration"] = k::num(ng, {"metadata", "generation"});
  st["replicas"] = replicas;
  st["readyReplicas"] = ready;
  st["phase"] = ready > 0 || desired == 0 ? "Active" : "Creating";
  TimePoint now = clock_->now();
  std::string why = k::str(ng, {"spec", "type"}) == "self-managed"
                        ? "self-managed: nodes join with `berth nodegroup user-data`"
                        : "no cloud provider: counting nodes that join by themselves";
  st["conditions"] = json::array(
      {condition("Ready", ready >= desired, ready >= desired ? "NodesReady" : "WaitingForNodes",
                 std::to_string(ready) + " of " + std::to_string(desired) + " nodes Ready; " + why,
                 old, now)});
  if (st == old) return ReconcileResult::ok();
  json obj = ng;
  obj["status"] = st;
  Result<json> r = client_->update(nodeGroupsResource(), "", name, obj, "status");
  if (!r.isOk() && r.status().code() != Code::kNotFound) return ReconcileResult::fail(r.status());
  return ReconcileResult::ok();
}

Status NodeGroupController::ensureFinalizer(const json& ng, bool present) {
  json fins = json::array();
  bool have = false;
  if (const json* f = k::find(ng, {"metadata", "finalizers"}); f && f->is_array()) {
    for (const json& x : *f) {
      if (x == kNodeGroupFinalizer) {
        have = true;
      } else {
        fins.push_back(x);
      }
    }
  }
  if (have == present) return Status::ok();
  if (present) fins.push_back(kNodeGroupFinalizer);
  json patch = {{"metadata",
                 {{"finalizers", fins},
                  {"resourceVersion", k::str(ng, {"metadata", "resourceVersion"})}}}};
  Result<json> r = client_->patch(nodeGroupsResource(), "", k::str(ng, {"metadata", "name"}),
                                  client::PatchType::kMerge, patch);
  if (!r.isOk() && r.status().code() == Code::kNotFound) return Status::ok();
  return r.status();
}

Result<std::vector<std::string>> NodeGroupController::zonesFor(const json& spec) {
  std::vector<std::string> zones;
  for (const char* f : {"availabilityZones", "zones"}) {
    if (const json* z = k::find(spec, {f}); z && z->is_array()) {
      for (const json& x : *z) {
        if (x.is_string()) zones.push_back(x.get<std::string>());
      }
      if (!zones.empty()) return zones;
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!vpc_.count("")) {
    Result<cloud::Vpc> vpc = config_.cloud->network().describeNetwork();
    if (!vpc.isOk()) {
      return vpc.status().withContext("no zones: the group names none and the cluster network");
    }
    vpc_[""] = *vpc;
  }
  for (const cloud::Subnet& s : vpc_[""].subnets) {
    if (std::find(zones.begin(), zones.end(), s.zone) == zones.end()) zones.push_back(s.zone);
  }
  std::sort(zones.begin(), zones.end());
  if (zones.empty()) return invalid("no zones: the group names none and the network has no subnets");
  return zones;
}

std::string NodeGroupController::subnetFor(const json& spec, const std::string& zone) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = vpc_.find("");
  if (it == vpc_.end()) {
    Result<cloud::Vpc> vpc = config_.cloud->network().describeNetwork();
    if (!vpc.isOk()) return "";
    it = vpc_.emplace("", *vpc).first;
  }
  bool wantPrivate = !k::find(spec, {"privateNetworking"}) || k::flag(spec, {"privateNetworking"});
  std::string any;
  for (const cloud::Subnet& s : it->second.subnets) {
    if (s.zone != zone) continue;
    if (s.is_public != wantPrivate) return s.id;
    if (any.empty()) any = s.id;
  }
  return any;
}

void NodeGroupController::noteGone(const json& ng, const std::vector<cloud::Instance>& all) {
  for (const cloud::Instance& i : all) {
    if (isLive(i)) continue;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!reported_gone_.insert(i.id).second) continue;
    }
    if (i.state_reason != "Client.UserInitiatedShutdown" && !i.state_reason.empty()) {
      event(ng, true, "InstanceFailed",
            "instance " + i.id + " (" + i.instance_type + ", " + i.zone + ") stopped: " +
                i.state_reason + "; launching a replacement");
    }
    // The node of an instance that is gone goes too (the cloud node controller's job).
    for (const ObjectPtr& n : nodes_->byIndex(kIndexNodeInstance, i.id)) {
      Result<json> r = client_->remove(nodes(), "", k::str(*n, {"metadata", "name"}));
      if (!r.isOk() && r.status().code() != Code::kNotFound) {
        BLOG(2, "deleting node of a terminated instance").kv("instance", i.id).kv("err", r.status().toString());
      }
    }
  }
}

void NodeGroupController::terminate(const json& ng, const GroupInstance& gi,
                                    const std::string& why, Outcome& out) {
  Status s = config_.cloud->instances().terminateInstance(gi.instance.id);
  if (!s.isOk() && s.code() != Code::kNotFound) {
    out.busy = true;
    BLOG(1, "terminate failed").kv("instance", gi.instance.id).kv("err", s.toString());
    return;
  }
  out.busy = true;
  event(ng, !gi.unhealthy.empty(), "Terminated",
        "terminated instance " + gi.instance.id + " (" + gi.instance.instance_type + ", " +
            gi.instance.zone + "): " + why);
}

void NodeGroupController::drainStep(const json& ng, const GroupInstance& gi, Outcome& out) {
  out.busy = true;
  std::string node = k::str(gi.node, {"metadata", "name"});
  Result<DrainProgress> p = evictPods(*client_, *pods_, node);
  if (!p.isOk()) {
    BLOG(1, "drain failed").kv("node", node).kv("err", p.status().toString());
    return;
  }
  if (p->blocked > 0) out.drain_blocked = p->blocked_by;
  if (p->remaining > 0) return;
  terminate(ng, gi, "node " + node + " drained", out);
}

Result<cloud::RunInstanceRequest> NodeGroupController::launchRequest(const json& ng,
                                                                    const Pool& pool,
                                                                    const std::string& hash,
                                                                    int64_t seq) {
  const json& spec = ng["spec"];
  std::string name = k::str(ng, {"metadata", "name"});
  std::string uid = k::str(ng, {"metadata", "uid"});
  LaunchSpec ls;
  ls.group = name;
  ls.pool = pool;
  ls.region = config_.cloud->region();
  ls.labels = nodeLabels(name, pool, ls.region, k::find(spec, {"labels"}) ? spec["labels"] : json());
  if (const json* t = k::find(spec, {"taints"}); t && t->is_array()) ls.taints = *t;
  if (const InstanceTypeInfo* info = findInstanceType(pool.instance_type)) {
    ls.max_pods = info->maxPods();
  }
  if (const json* c = k::find(spec, {"preBootstrapCommands"}); c && c->is_array()) {
    for (const json& cmd : *c) {
      if (cmd.is_string()) ls.pre_bootstrap_commands.push_back(cmd);
    }
  }
  ls.user_data = k::str(spec, {"userData"});
  Result<std::string> ud = config_.user_data ? config_.user_data(ls) : Result<std::string>("");
  if (!ud.isOk()) return Status(ud.status().code(), "rendering user-data: " + ud.status().message());
  cloud::RunInstanceRequest req;
  req.client_token = uid.substr(0, 8) + "-" + name + "-" + std::to_string(seq);
  req.instance_type = pool.instance_type;
  req.zone = pool.zone;
  req.subnet_id = subnetFor(spec, pool.zone);
  req.capacity_type = pool.capacity_type;
  req.user_data = std::move(*ud);
  req.tags = {{cloud::kTagCluster, config_.cluster_name},
              {cloud::kTagNodeGroup, name},
              {cloud::kTagName, config_.cluster_name + "-" + name + "-Node"},
              {kTagTemplateHash, hash}};
  return req;
}

std::vector<Result<cloud::Instance>> NodeGroupController::runInstances(
    const std::vector<cloud::RunInstanceRequest>& reqs) {
  std::vector<Result<cloud::Instance>> out(reqs.size(), Result<cloud::Instance>(internalError("not run")));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < reqs.size(); i = next++) {
      out[i] = config_.cloud->instances().runInstance(reqs[i]);
    }
  };
  size_t threads = std::min<size_t>(reqs.size(), std::max(1, config_.launch_concurrency));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

void NodeGroupController::launch(const json& ng, const Distribution& dist,
                                 const std::vector<std::string>& zones, int64_t count,
                                 int64_t desired, std::vector<Member> members, Outcome& out) {
  std::string uid = k::str(ng, {"metadata", "uid"});
  std::string hash = templateHash(ng["spec"]);
  int64_t seq;
  {
    std::lock_guard<std::mutex> l(mu_);
    seq = std::max(launch_seq_[uid], k::num(ng, {"status", "launchSequence"}));
  }
  auto unavailable = [this](const Pool& p) { return pools_.isUnavailable(p); };
  // Rounds: plan the pools of every launch still wanted (each planned launch counts for the
  // next pick, so zones stay balanced), run them at once, then take the answers in order. A
  // pool without capacity is remembered and the next round plans around it.
  while (count > 0 && out.launch_error.empty()) {
    std::vector<Pool> planned;
    std::vector<cloud::RunInstanceRequest> reqs;
    std::vector<Member> with_planned = members;
    for (int64_t i = 0; i < count; ++i) {
      Result<Pool> pool = nextLaunch(dist, zones, with_planned, desired, unavailable);
      if (!pool.isOk()) {
        if (planned.empty()) out.launch_error = pool.status().message();
        break;
      }
      Result<cloud::RunInstanceRequest> req =
          launchRequest(ng, *pool, hash, seq + static_cast<int64_t>(reqs.size()));
      if (!req.isOk()) {
        out.launch_error = req.status().message();
        break;
      }
      Member m;
      m.pool = *pool;
      with_planned.push_back(m);
      planned.push_back(*pool);
      reqs.push_back(std::move(*req));
    }
    if (reqs.empty()) break;
    std::vector<Result<cloud::Instance>> results = runInstances(reqs);
    out.busy = true;
    // A token is spent when its call had an answer; from the first call without one (a
    // timeout, a broken connection) the next try reuses the tokens, and the cloud returns
    // any instance that exists for them.
    bool unanswered = false;
    std::set<std::string> reported_pools;
    for (size_t i = 0; i < results.size(); ++i) {
      const Result<cloud::Instance>& inst = results[i];
      const Pool& pool = planned[i];
      bool answered = inst.isOk() || cloud::isInsufficientCapacity(inst.status()) ||
                      inst.status().code() == Code::kInvalid;
      if (!answered) unanswered = true;
      if (!unanswered) seq++;
      if (cloud::isInsufficientCapacity(inst.status())) {
        pools_.markUnavailable(pool, inst.status().message());
        if (reported_pools.insert(pool.toString()).second) {
          event(ng, true, "InsufficientCapacity",
                "pool " + pool.toString() + " has no capacity; skipping it for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(pools_.ttl()).count()) +
                    "s and launching from another instance type or zone");
        }
        continue;
      }
      if (!inst.isOk()) {
        out.launch_error = "launching into " + pool.toString() + ": " + inst.status().message();
        continue;
      }
      Member m;
      m.id = inst->id;
      m.pool = pool;
      m.launch_time = inst->launch_time;
      members.push_back(m);
      count--;
      event(ng, false, "Launched",
            "launched instance " + inst->id + " (" + pool.instance_type + ", " + pool.zone + ", " +
                cloud::toString(pool.capacity_type) + ")");
    }
    if (unanswered) break;
  }
  std::lock_guard<std::mutex> l(mu_);
  launch_seq_[uid] = seq;
}

ReconcileResult NodeGroupController::reconcileManaged(const json& ng) {
  std::string name = k::str(ng, {"metadata", "name"});
  const json& spec = ng["spec"];
  bool deleting = k::find(ng, {"metadata", "deletionTimestamp"}) != nullptr;
  if (!deleting) {
    Status s = ensureFinalizer(ng, true);
    if (!s.isOk()) return ReconcileResult::fail(s);
  }
  Outcome out;
  Result<Distribution> dist = distributionFromSpec(spec);
  Result<std::vector<std::string>> zones =
      dist.isOk() ? zonesFor(spec) : Result<std::vector<std::string>>(dist.status());
  Result<std::vector<cloud::Instance>> all = config_.cloud->instances().describeInstances(
      {{cloud::kTagCluster, config_.cluster_name}, {cloud::kTagNodeGroup, name}});
  if (!all.isOk()) return ReconcileResult::fail(all.status().withContext("describing instances"));
  noteGone(ng, *all);

  TimePoint now = clock_->now();
  std::string hash = templateHash(spec);
  GroupInput in;
  in.deleting = deleting;
  in.desired = k::num(spec, {"scaling", "desiredSize"});
  in.max_unavailable = maxUnavailable(spec, in.desired);
  if (dist.isOk()) in.distribution = *dist;
  std::map<std::string, GroupInstance> byId;
  for (const cloud::Instance& i : *all) {
    if (!isLive(i)) continue;
    std::vector<ObjectPtr> ns = nodes_->byIndex(kIndexNodeInstance, i.id);
    GroupInstance gi = classify(i, ns.empty() ? nullptr : ns.front().get(), hash, now, config_.plan);
    byId[i.id] = gi;
    in.instances.push_back(std::move(gi));
  }
  if (!dist.isOk() && !deleting) in.instances.clear();  // a broken spec: touch nothing
  Plan plan = planGroup(in);

  for (const auto& [id, why] : plan.terminate) terminate(ng, byId[id], why, out);
  for (const auto& [id, why] : plan.drain) {
    const GroupInstance& gi = byId[id];
    Status s = cordonAndTaint(*client_, gi.node);
    if (!s.isOk()) {
      BLOG(1, "cordon failed").kv("instance", id).kv("err", s.toString());
      continue;
    }
    std::string reason = gi.interrupted && !deleting ? "SpotInterrupted"
                         : startsWith(why, "rolling") ? "RollingUpdate"
                                                      : "Draining";
    event(ng, gi.interrupted, reason,
          "draining node " + k::str(gi.node, {"metadata", "name"}) + " (instance " + id + "): " + why);
    drainStep(ng, gi, out);
  }
  for (const std::string& id : plan.draining) drainStep(ng, byId[id], out);
  if (dist.isOk() && zones.isOk() && plan.launch > 0) {
    launch(ng, *dist, *zones, plan.launch, in.desired, plan.active, out);
  } else if (!dist.isOk()) {
    out.launch_error = dist.status().message();
  } else if (!zones.isOk()) {
    out.launch_error = zones.status().message();
  }

  Status st = writeStatus(ng, plan, out, in.instances, in.distribution,
                          zones.isOk() ? *zones : std::vector<std::string>{});
  if (!st.isOk() && st.code() != Code::kNotFound && st.code() != Code::kConflict) {
    return ReconcileResult::fail(st);
  }
  if (deleting && in.instances.empty()) {
    Status s = ensureFinalizer(ng, false);
    if (!s.isOk()) return ReconcileResult::fail(s);
    return ReconcileResult::ok();
  }
  bool waiting = out.busy || !out.launch_error.empty() || plan.rolling ||
                 plan.ready < (int64_t)in.instances.size() || st.code() == Code::kConflict;
  // Health timeouts are checked again at least every 15 s even when nothing happens.
  return ReconcileResult::after(waiting ? 1s : 15s);
}

Status NodeGroupController::writeStatus(const json& ng, const Plan& plan, const Outcome& out,
                                        const std::vector<GroupInstance>& live,
                                        const Distribution& dist,
                                        const std::vector<std::string>& zones) {
  const json old = k::find(ng, {"status"}) ? ng["status"] : json::object();
  TimePoint now = clock_->now();
  int64_t desired = k::num(ng, {"spec", "scaling", "desiredSize"});
  bool deleting = k::find(ng, {"metadata", "deletionTimestamp"}) != nullptr;
  json st = old;
  st["observedGeneration"] = k::num(ng, {"metadata", "generation"});
  st["replicas"] = live.size();
  st["readyReplicas"] = plan.ready;
  st["updatedReplicas"] = plan.updated;
  {
    std::lock_guard<std::mutex> l(mu_);
    st["launchSequence"] = launch_seq_[k::str(ng, {"metadata", "uid"})];
  }
  json pools = json::array();
  std::vector<std::string> poolNames;
  for (const UnavailablePools::Entry& e : pools_.list()) {
    bool ours = std::find(dist.instance_types.begin(), dist.instance_types.end(),
                          e.pool.instance_type) != dist.instance_types.end() &&
                (zones.empty() || std::find(zones.begin(), zones.end(), e.pool.zone) != zones.end());
    if (!ours) continue;
    pools.push_back({{"instanceType", e.pool.instance_type},
                     {"zone", e.pool.zone},
                     {"capacityType", e.pool.capacity_type == cloud::CapacityType::kSpot ? "SPOT" : "ON_DEMAND"},
                     {"until", formatRfc3339(e.until)}});
    poolNames.push_back(e.pool.toString());
  }
  st["unavailablePools"] = pools;
  json insts = json::array();
  for (const GroupInstance& gi : live) {
    json i = {{"id", gi.instance.id},
              {"instanceType", gi.instance.instance_type},
              {"zone", gi.instance.zone},
              {"subnet", gi.instance.subnet_id},
              {"capacityType", gi.instance.capacity_type == cloud::CapacityType::kSpot ? "SPOT" : "ON_DEMAND"},
              {"state", cloud::toString(gi.instance.state)},
              {"launchTime", formatRfc3339(gi.instance.launch_time)}};
    if (!gi.node.is_null()) i["nodeName"] = k::str(gi.node, {"metadata", "name"});
    insts.push_back(std::move(i));
  }
  st["instances"] = insts;
  std::string prev = k::str(old, {"phase"});
  std::string phase;
  if (deleting) phase = "Deleting";
  else if (!out.launch_error.empty()) phase = "Degraded";
  else if (plan.rolling || plan.draining_outdated > 0) phase = "Updating";
  else if (plan.ready >= desired) phase = "Active";
  else phase = prev.empty() || prev == "Creating" ? "Creating" : prev == "Degraded" ? "Degraded" : "Active";
  st["phase"] = phase;
  bool readyOk = plan.ready >= desired;
  json conds = json::array();
  conds.push_back(condition("Ready", readyOk, readyOk ? "NodesReady" : "WaitingForNodes",
                            std::to_string(plan.ready) + " of " + std::to_string(desired) +
                                " nodes Ready",
                            old, now));
  conds.push_back(condition(
      "CapacityAvailable", poolNames.empty() && out.launch_error.empty(),
      !out.launch_error.empty() ? "LaunchFailed" : poolNames.empty() ? "AllPoolsAvailable" : "PoolsUnavailable",
      !out.launch_error.empty() ? out.launch_error
      : poolNames.empty()       ? "every pool of the group can launch"
                                : "no capacity recently in " + join(poolNames, ", "),
      old, now));
  bool updating = plan.rolling || plan.draining_outdated > 0;
  conds.push_back(condition("Updating", updating, updating ? "RollingUpdate" : "UpToDate",
                            std::to_string(plan.updated) + " of " + std::to_string(desired) +
                                " instances on the current template" +
                                (out.drain_blocked.empty()
                                     ? std::string()
                                     : "; eviction of " + out.drain_blocked +
                                           " refused by a PodDisruptionBudget, retrying"),
                            old, now));
  st["conditions"] = conds;
  if (st == old) return Status::ok();
  json obj = ng;
  obj["status"] = st;
  return client_->update(nodeGroupsResource(), "", k::str(ng, {"metadata", "name"}), obj, "status")
      .status();
}

controllers::ControllerFactory nodeGroupControllerFactory(NodeGroupController::Config config) {
  return [config](controllers::ControllerContext& ctx)
             -> Result<std::unique_ptr<controllers::ManagedController>> {
    NodeGroupController::Config c = config;
    c.workers = ctx.workers;
    if (!c.user_data && c.user_data_factory) c.user_data = c.user_data_factory(ctx.client);
    return std::unique_ptr<controllers::ManagedController>(std::make_unique<NodeGroupController>(
        ctx.client, ctx.informers, ctx.recorder("nodegroup-controller"), c));
  };
}

}  // namespace berth::nodegroups
