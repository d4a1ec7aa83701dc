#include "kubelet-lite/node_agent.h"

#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include "common/log.h"
#include "kubelet-lite/api_resources.h"
#include "kubelet-lite/runtime/process_runtime.h"
#include "kubelet-lite/runtime/runc_runtime.h"

namespace berth::kubelet {
namespace {

std::string selfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "berth";
}

client::WorkQueue::Options queueOptions() {
  client::WorkQueue::Options o;
  o.name = "pods";
  o.limiter.base_delay = std::chrono::milliseconds(200);
  o.limiter.max_delay = std::chrono::milliseconds(30000);
  o.limiter.qps = 0;
  o.max_retries = INT_MAX;  // the server coming back is worth waiting for
  return o;
}

std::string readHostResolvConf() {
  std::ifstream in("/etc/resolv.conf");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace

Result<std::unique_ptr<ContainerRuntime>> makeRuntime(const AgentOptions& opts,
                                                      const HostFacts& host) {
  std::string node = opts.node_name.empty() ? host.hostname : opts.node_name;
  if (opts.runtime == "process")
    return std::unique_ptr<ContainerRuntime>(
        new ProcessRuntime(opts.root_dir + "/" + node + "/process", selfExe(), host.internal_ip));
  if (opts.runtime == "runc") {
    RuncRuntime::Options ro;
    ro.root = opts.root_dir + "/" + node + "/runc";
    ro.shim_binary = selfExe();
    ro.insecure_registries = opts.insecure_registries;
    ro.registry_mirrors = opts.registry_mirrors;
    BERTH_ASSIGN_OR_RETURN(auto rt, RuncRuntime::create(ro));
    return std::unique_ptr<ContainerRuntime>(std::move(rt));
  }
  return badRequest("unknown runtime " + opts.runtime);
}

NodeAgent::NodeAgent(client::Client* client, AgentOptions opts, HostFacts host,
                     std::unique_ptr<ContainerRuntime> runtime)
    : client_(client), opts_(std::move(opts)), host_(std::move(host)), runtime_(std::move(runtime)),
      queue_(queueOptions()) {
  id_.name = opts_.node_name.empty() ? host_.hostname : opts_.node_name;
  id_.zone = opts_.zone;
  id_.region = opts_.region;
  id_.instance_type = opts_.instance_type;
  id_.provider_id = opts_.provider_id;
  id_.extra_conditions = opts_.extra_node_conditions;
  id_.extra_labels = opts_.labels;
  for (const auto& t : opts_.taints) {
    json taint = {{"key", t.key}, {"effect", t.effect}};
    if (!t.value.empty()) taint["value"] = t.value;
    id_.taints.push_back(taint);
  }
  id_.internal_ip = host_.internal_ip;
  id_.cpu_millis = opts_.cpu_millis > 0 ? opts_.cpu_millis : host_.cpus * 1000;
  id_.memory_bytes = opts_.memory_bytes > 0 ? opts_.memory_bytes : host_.memory_bytes;
  id_.ephemeral_storage_bytes = host_.ephemeral_storage_bytes;
  id_.max_pods = opts_.max_pods;
  id_.kubelet_port = opts_.kubelet_port;
  id_.runtime_version = runtime_->name() + "://" + runtime_->version();
  id_.host = host_;
}

NodeAgent::~NodeAgent() { stop(); }

Status NodeAgent::registerNode() {
  ready_since_ = std::chrono::system_clock::now();
  auto existing = client_->get(nodesResource(), "", id_.name);
  std::string uid;
  if (existing.isOk()) {
    id_.pod_cidr = at(at(*existing, "spec"), "podCIDR").is_string()
                       ? (*existing)["spec"]["podCIDR"].get<std::string>() : "";
    uid = (*existing)["metadata"].value("uid", "");
  } else if (existing.status().code() != Code::kNotFound) {
    return existing.status().withContext("reading node " + id_.name);
  }
  if (id_.pod_cidr.empty()) {
    // Claim the lowest /24 no other node holds (a race between two registering nodes is
    // settled by whoever the operator restarts; ranges are informational for process pods).
    BERTH_ASSIGN_OR_RETURN(json nodes, client_->list(nodesResource(), ""));
    std::vector<std::string> used;
    for (const auto& n : nodes.value("items", json::array()))
      if (at(at(n, "spec"), "podCIDR").is_string()) used.push_back(n["spec"]["podCIDR"]);
    id_.pod_cidr = podCidrForIndex(firstFreePodCidrIndex(used));
  }
  json node = buildNode(id_, ready_since_);
  if (uid.empty()) {
    auto created = client_->create(nodesResource(), "", node);
    if (!created.isOk()) return created.status().withContext("registering node " + id_.name);
    uid = (*created)["metadata"].value("uid", "");
  } else {
    json patch = {{"metadata", {{"labels", node["metadata"]["labels"]}}}, {"spec", node["spec"]}};
    // As the kubelet: taints are registered once, at creation; later they belong to the cluster.
    patch["spec"].erase("taints");
    auto p = client_->patch(nodesResource(), "", id_.name, client::PatchType::kMerge, patch);
    if (!p.isOk()) return p.status().withContext("updating node " + id_.name);
  }
  auto r = client_->request("PATCH", nodesResource().path("", id_.name, "status"),
                            nodeStatusPatch(id_, ready_since_, ready_since_).dump(),
                            client::contentType(client::PatchType::kMerge));
  if (!r.isOk()) return r.status().withContext("posting status of node " + id_.name);
  heartbeat_->addNode(id_.name, uid);
  BLOG(0, "node registered").kv("node", id_.name).kv("podCIDR", id_.pod_cidr)
      .kv("runtime", id_.runtime_version);
  return Status::ok();
}

Status NodeAgent::start() {
  Heartbeat::Options ho;
  ho.status_period = std::chrono::seconds(20);
  heartbeat_ = std::make_unique<Heartbeat>(client_, ho, [this](const std::string&) {
    return nodeStatusPatch(id_, std::chrono::system_clock::now(), ready_since_);
  });
  BERTH_RETURN_IF_ERROR(heartbeat_->ensureLeaseNamespace());
  // The endpoint the API server proxies logs, exec and port-forward to; its port goes into
  // the Node's daemonEndpoints, so it starts before the node registers.
  BERTH_ASSIGN_OR_RETURN(server_, KubeletServer::create(
      nodeServerOptions(opts_.root_dir, id_.name, id_.internal_ip, opts_.kubelet_port,
                        opts_.cluster_ca_pem), runtime_.get()));
  BERTH_RETURN_IF_ERROR(server_->start());
  id_.kubelet_port = server_->port();
  BERTH_RETURN_IF_ERROR(registerNode());
  heartbeat_->start();
  net::NodeNetworking::Options no;
  no.node_name = id_.name;
  no.pod_cidr = id_.pod_cidr;
  no.state_dir = opts_.root_dir + "/" + id_.name + "/network";
  no.pod_network = runtime_->name() == "runc";
  no.proxy = opts_.proxy_mode == "nftables";
  no.cluster_dns = net::resolveClusterDns(client_, opts_.cluster_dns);
  no.cluster_domain = opts_.cluster_domain;
  BERTH_ASSIGN_OR_RETURN(network_, net::NodeNetworking::start(client_, runtime_.get(), no));

  PodConfigResolver resolver([this](const std::string& kind, const std::string& ns,
                                    const std::string& name) -> Result<json> {
    return client_->get(kind == "secrets" ? secretsResource() : configMapsResource(), ns, name);
  });
  recorder_ = std::make_unique<client::EventRecorder>(client_, "kubelet", id_.name);
  ContainerEventSink sink = [this](const PodRef& pod, const std::string& field_path, bool warning,
                                   const std::string& reason, const std::string& message) {
    json ref = {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", pod.name}, {"namespace", pod.ns},
                {"uid", pod.uid}, {"fieldPath", field_path}};
    recorder_->event(ref, warning ? client::EventRecorder::Type::kWarning
                                  : client::EventRecorder::Type::kNormal, reason, message);
  };
  ProbeManager::Hooks hooks;
  hooks.changed = [this](const std::string& uid) { requeueUid(uid); };
  hooks.event = sink;
  prober_ = std::make_unique<ProbeManager>(runtime_.get(), &SystemClock::instance(),
                                           ProbeManager::Options(), std::move(hooks));
  prober_->start();
  PodWorker::Options wo;
  wo.root_dir = opts_.root_dir;
  wo.node_name = id_.name;
  wo.host_ip = id_.internal_ip;
  wo.prober = prober_.get();
  wo.event = sink;
  if (!no.cluster_dns.empty()) wo.cluster_dns = {no.cluster_dns};
  wo.cluster_domain = opts_.cluster_domain;
  wo.host_resolv_conf = readHostResolvConf();
  pods_worker_ = std::make_unique<PodWorker>(runtime_.get(), &SystemClock::instance(),
                                             std::move(resolver), wo);
  runtime_->setEventHandler([this](const ContainerEvent& ev) { requeueUid(ev.pod_uid); });

  client::Informer::Options io;
  io.field_selector = "spec.nodeName=" + id_.name;
  pods_ = std::make_unique<client::Informer>(client_, podsResource(), io);
  client::EventHandlers h;
  auto track = [this](const client::ObjectPtr& p) {
    std::string key = client::objectKey(*p);
    std::string uid = at(at(*p, "metadata"), "uid").is_string() ? (*p)["metadata"]["uid"].get<std::string>() : "";
    {
      std::lock_guard<std::mutex> l(mu_);
      key_by_uid_[uid] = key;
      uid_by_key_[key] = uid;
    }
    queue_.add(key);
  };
  h.on_add = track;
  h.on_update = [track](const client::ObjectPtr&, const client::ObjectPtr& p) { track(p); };
  h.on_delete = [this](const client::ObjectPtr& p) { queue_.add(client::objectKey(*p)); };
  pods_->addEventHandlers(std::move(h));
  pods_->start();
  // Containers of pods deleted while the agent was away are cleaned up once the cache is in.
  if (pods_->waitForSync(std::chrono::seconds(30))) {
    auto listed = runtime_->listContainers();
    if (listed.isOk()) {
      std::set<std::string> known;
      for (const auto& p : pods_->list()) known.insert((*p)["metadata"].value("uid", ""));
      std::set<std::string> orphans;
      for (const auto& c : *listed) {
        auto it = c.labels.find(kLabelPodUid);
        if (it != c.labels.end() && !known.count(it->second)) orphans.insert(it->second);
      }
      for (const auto& uid : orphans) {
        Status st = pods_worker_->cleanup(uid);
        if (!st.isOk()) BLOG(0, "cleaning up orphaned pod failed").kv("uid", uid).kv("err", st.toString());
      }
    }
  }
  int n = std::max(2, opts_.sync_workers);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { worker(); });
  return Status::ok();
}

void NodeAgent::requeueUid(const std::string& uid) {
  std::string key;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = key_by_uid_.find(uid);
    if (it != key_by_uid_.end()) key = it->second;
  }
  if (!key.empty()) queue_.add(key);
}

void NodeAgent::stop() {
  queue_.shutDown();
  for (auto& t : workers_) t.join();
  workers_.clear();
  if (prober_) prober_->stop();
  if (recorder_) recorder_->stop();
  if (pods_) pods_->stop();
  if (heartbeat_) heartbeat_->stop();
  if (server_) server_->stop();
  if (network_) network_->stop();
}

void NodeAgent::worker() {
  std::string key;
  while (queue_.get(&key)) {
    Status st = syncKey(key);
    if (!st.isOk()) {
      BLOG(2, "pod sync failed").kv("pod", key).kv("err", st.toString());
      queue_.addRateLimited(key);
    } else {
      queue_.forget(key);
    }
    queue_.done(key);
  }
}

Status NodeAgent::syncKey(const std::string& key) {
  client::ObjectPtr pod = pods_->get(key);
  if (!pod) {
    std::string uid;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = uid_by_key_.find(key);
      if (it == uid_by_key_.end()) return Status::ok();
      uid = it->second;
    }
    BERTH_RETURN_IF_ERROR(pods_worker_->cleanup(uid));
    std::lock_guard<std::mutex> l(mu_);
    uid_by_key_.erase(key);
    key_by_uid_.erase(uid);
    return Status::ok();
  }
  auto sync_started = std::chrono::steady_clock::now();
  BERTH_ASSIGN_OR_RETURN(PodWorker::Outcome out, pods_worker_->sync(*pod));
  auto synced = std::chrono::steady_clock::now();
  const json& md = (*pod)["metadata"];
  std::string ns = md.value("namespace", ""), name = md.value("name", "");
  if (out.delete_pod) {
    json opts = {{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", md.value("uid", "")}}}};
    auto r = client_->remove(podsResource(), ns, name, opts);
    if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
      return r.status().withContext("deleting pod " + key);
    return Status::ok();
  }
  // Only the fields the agent owns are compared: others (set by someone else) would make a
  // merge patch look unapplied forever.
  bool changed = false;
  if (out.status.is_object())
    for (auto it = out.status.begin(); it != out.status.end() && !changed; ++it)
      changed = at(at(*pod, "status"), it.key().c_str()) != it.value();
  if (changed) {
    json patch = {{"status", out.status}};
    auto r = client_->request("PATCH", podsResource().path(ns, name, "status"), patch.dump(),
                              client::contentType(client::PatchType::kMerge));
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return r.status().withContext("updating status of pod " + key);
    auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    BLOG(3, "timing: pod synced").kv("pod", key).kv("phase", out.status.value("phase", ""))
        .kv("syncMs", ms(synced - sync_started)).kv("patchMs", ms(std::chrono::steady_clock::now() - synced));
  }
  if (out.requeue_after) queue_.addAfter(key, *out.requeue_after);
  return Status::ok();
}

}  // namespace berth::kubelet
