#include "kubelet-lite/simulated_agent.h"

#include "common/log.h"
#include "kubelet-lite/api_resources.h"
#include "kubelet-lite/pod_status_util.h"
#include "kubelet-lite/simulated_completion.h"

namespace berth::kubelet {
namespace {

client::WorkQueue::Options queueOptions() {
  client::WorkQueue::Options o;
  o.name = "simulated-pods";
  o.limiter.qps = 0;  // status writes are bounded by the workers, not a token bucket
  return o;
}

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : ""; }

}  // namespace

SimulatedAgent::SimulatedAgent(client::Client* client, AgentOptions opts, HostFacts host)
    : client_(client), opts_(std::move(opts)), host_(std::move(host)), queue_(queueOptions()) {}

SimulatedAgent::~SimulatedAgent() { stop(); }

void SimulatedAgent::stripPod(json& pod) {
  json out = json::object();
  const json& md = at(pod, "metadata");
  json m = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp"})
    if (md.contains(k)) m[k] = md[k];
  // What simulatedEnd reads: a controlling Job owner and the simulated-* annotations.
  if (const json& refs = at(md, "ownerReferences"); refs.is_array()) {
    for (const json& r : refs)
      if (at(r, "kind") == "Job" && at(r, "controller") == true) m["ownerReferences"] = json::array({r});
  }
  if (const json& anns = at(md, "annotations"); anns.is_object()) {
    for (const char* k : {kSimulatedExitCodeAnnotation, kSimulatedDurationAnnotation})
      if (anns.contains(k)) m["annotations"][k] = anns[k];
  }
  out["metadata"] = std::move(m);
  const json& spec = at(pod, "spec");
  json s = {{"nodeName", at(spec, "nodeName")}};
  if (spec.contains("restartPolicy")) s["restartPolicy"] = spec["restartPolicy"];
  for (const char* list : {"initContainers", "containers"}) {
    const json& cs = at(spec, list);
    if (!cs.is_array()) continue;
    json kept = json::array();
    for (const json& c : cs) {
      json k = {{"name", at(c, "name")}, {"image", at(c, "image")}};
      if (c.contains("resources")) k["resources"] = c["resources"];
      kept.push_back(std::move(k));
    }
    s[list] = std::move(kept);
  }
  out["spec"] = std::move(s);
  const json& st = at(pod, "status");
  json t = json::object();
  for (const char* k : {"phase", "podIP", "startTime", "conditions"})
    if (st.contains(k)) t[k] = st[k];
  out["status"] = std::move(t);
  pod = std::move(out);
}

std::string SimulatedAgent::nodeNameFor(int index) const {
  // One simulated node with a name of its own: a local cloud instance (name = instance id).
  const bool single = opts_.nodes == 1 && !opts_.node_name.empty();
  return single ? opts_.node_name : opts_.node_name_prefix + std::to_string(index);
}

NodeIdentity SimulatedAgent::identityFor(int index, int net_index) const {
  NodeIdentity id;
  const bool single = opts_.nodes == 1 && !opts_.node_name.empty();
  id.name = nodeNameFor(index);
  if (single) {
    id.provider_id = opts_.provider_id;
    id.extra_conditions = opts_.extra_node_conditions;
  }
  if (!opts_.zones.empty()) id.zone = opts_.zones[index % opts_.zones.size()];
  else id.zone = opts_.zone;
  id.region = opts_.region;
  if (id.region.empty() && id.zone.size() > 1) id.region = id.zone.substr(0, id.zone.size() - 1);
  id.instance_type = opts_.instance_type.empty() ? "simulated" : opts_.instance_type;
  id.extra_labels = opts_.labels;
  id.extra_labels["berth.dev/simulated"] = "true";
  for (const auto& t : opts_.taints) {
    json taint = {{"key", t.key}, {"effect", t.effect}};
    if (!t.value.empty()) taint["value"] = t.value;
    id.taints.push_back(taint);
  }
  id.internal_ip = single && !opts_.node_ip.empty()
                       ? opts_.node_ip
                       : "172.20." + std::to_string(net_index / 250) + "." +
                             std::to_string(net_index % 250 + 2);
  id.pod_cidr = podCidrForIndex(net_index);
  id.cpu_millis = opts_.cpu_millis > 0 ? opts_.cpu_millis : 32000;
  id.memory_bytes = opts_.memory_bytes > 0 ? opts_.memory_bytes : (int64_t{256} << 30);
  id.ephemeral_storage_bytes = int64_t{100} << 30;
  id.max_pods = opts_.max_pods;
  id.kubelet_port = opts_.kubelet_port;
  id.runtime_version = "simulated://0.1.0";
  id.host = host_;
  return id;
}

Status SimulatedAgent::registerNode(SimNode* node) {
  TimePoint now = std::chrono::system_clock::now();
  node->ready_since = now;
  json obj = buildNode(node->id, now);
  auto created = client_->create(nodesResource(), "", obj);
  if (created.isOk()) {
    // Status is ignored on create (as upstream); post it through the subresource.
    json patch = nodeStatusPatch(node->id, now, now);
    auto r = client_->request("PATCH", nodesResource().path("", node->id.name, "status"),
                              patch.dump(), client::contentType(client::PatchType::kMerge));
    if (!r.isOk()) return r.status().withContext("posting status of node " + node->id.name);
    heartbeat_->addNode(node->id.name, created->at("metadata").value("uid", ""));
    return Status::ok();
  }
  if (created.status().code() != Code::kAlreadyExists)
    return created.status().withContext("registering node " + node->id.name);
  // Our node from an earlier run: keep its pod range, refresh labels and status.
  BERTH_ASSIGN_OR_RETURN(json existing, client_->get(nodesResource(), "", node->id.name));
  std::string cidr = str(at(at(existing, "spec"), "podCIDR"));
  json patch = {{"metadata", {{"labels", obj["metadata"]["labels"]}}}};
  if (cidr.empty()) patch["spec"] = obj["spec"];
  else node->id.pod_cidr = cidr;
  auto p = client_->patch(nodesResource(), "", node->id.name, client::PatchType::kMerge, patch);
  if (!p.isOk()) return p.status().withContext("updating node " + node->id.name);
  auto r = client_->request("PATCH", nodesResource().path("", node->id.name, "status"),
                            nodeStatusPatch(node->id, now, now).dump(),
                            client::contentType(client::PatchType::kMerge));
  if (!r.isOk()) return r.status().withContext("posting status of node " + node->id.name);
  heartbeat_->addNode(node->id.name, existing["metadata"].value("uid", ""));
  return Status::ok();
}

Status SimulatedAgent::start() {
  Heartbeat::Options ho;
  heartbeat_ = std::make_unique<Heartbeat>(client_, ho, [this](const std::string& name) {
    const SimNode& n = *nodes_.at(name);
    return nodeStatusPatch(n.id, std::chrono::system_clock::now(), n.ready_since);
  });
  BERTH_RETURN_IF_ERROR(heartbeat_->ensureLeaseNamespace());
  // Pod ranges must not overlap those of nodes other agents registered.
  std::vector<std::string> names;
  for (int i = 0; i < opts_.nodes; ++i) names.push_back(nodeNameFor(i));
  BERTH_ASSIGN_OR_RETURN(json existing, client_->list(nodesResource(), ""));
  std::vector<int> net = assignPodCidrIndexes(names, existing.value("items", json::array()));
  std::vector<SimNode*> order;
  for (int i = 0; i < opts_.nodes; ++i) {
    auto n = std::make_unique<SimNode>();
    n->id = identityFor(i, net[i]);
    order.push_back(n.get());
    nodes_[n->id.name] = std::move(n);
  }
  // Register in parallel: a thousand sequential round trips would delay start-up by seconds.
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  Status first_error;
  std::vector<std::thread> regs;
  for (int w = 0; w < std::max(1, opts_.sync_workers); ++w) {
    regs.emplace_back([&] {
      for (size_t i = next++; i < order.size(); i = next++) {
        Status st = registerNode(order[i]);
        if (!st.isOk()) {
          std::lock_guard<std::mutex> l(err_mu);
          if (first_error.isOk()) first_error = st;
        }
      }
    });
  }
  for (auto& t : regs) t.join();
  BERTH_RETURN_IF_ERROR(first_error);
  BLOG(0, "simulated nodes registered").kv("nodes", opts_.nodes).kv("zones", opts_.zones.size());
  heartbeat_->start();

  client::Informer::Options io;
  io.field_selector = "spec.nodeName!=";
  io.transform = &SimulatedAgent::stripPod;
  pods_ = std::make_unique<client::Informer>(client_, podsResource(), io);
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr& p) { enqueueIfOurs(p); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { enqueueIfOurs(p); };
  h.on_delete = [this](const client::ObjectPtr& p) { onPodDeleted(p); };
  pods_->addEventHandlers(std::move(h));
  pods_->start();
  for (int i = 0; i < opts_.sync_workers; ++i) workers_.emplace_back([this] { worker(); });
  return Status::ok();
}

void SimulatedAgent::stop() {
  queue_.shutDown();
  for (auto& t : workers_) t.join();
  workers_.clear();
  if (pods_) pods_->stop();
  if (heartbeat_) heartbeat_->stop();
  if (opts_.delete_nodes_on_exit) {
    for (const auto& [name, n] : nodes_) {
      auto r = client_->remove(nodesResource(), "", name);
      if (!r.isOk() && r.status().code() != Code::kNotFound)
        BLOG(0, "deleting node failed").kv("node", name).kv("err", r.status().toString());
    }
    opts_.delete_nodes_on_exit = false;
  }
}

void SimulatedAgent::enqueueIfOurs(const client::ObjectPtr& pod) {
  auto it = nodes_.find(str(at(at(*pod, "spec"), "nodeName")));
  if (it == nodes_.end()) return;
  std::string ip = str(at(at(*pod, "status"), "podIP"));
  if (!ip.empty()) {
    // Remember IPs handed out before a restart so no new pod gets them.
    std::string prefix = podIpInCidr(it->second->id.pod_cidr, 0);
    if (!prefix.empty()) prefix.pop_back();  // "10.244.3.0" -> "10.244.3."
    if (!prefix.empty() && ip.rfind(prefix, 0) == 0) {
      int host = std::atoi(ip.c_str() + prefix.size());
      std::lock_guard<std::mutex> l(mu_);
      std::string uid = str(at(at(*pod, "metadata"), "uid"));
      if (!it->second->ip_by_uid.count(uid)) {
        it->second->ip_by_uid[uid] = host;
        it->second->used_hosts.insert(host);
      }
    }
  }
  queue_.add(client::objectKey(*pod));
}

void SimulatedAgent::onPodDeleted(const client::ObjectPtr& pod) {
  auto it = nodes_.find(str(at(at(*pod, "spec"), "nodeName")));
  if (it == nodes_.end()) return;
  releaseIp(it->second.get(), str(at(at(*pod, "metadata"), "uid")));
}

void SimulatedAgent::worker() {
  std::string key;
  while (queue_.get(&key)) {
    Status st = syncPod(key);
    if (st.isOk()) {
      queue_.forget(key);
    } else if (!queue_.retry(key)) {
      BLOG(0, "giving up on pod").kv("pod", key).kv("err", st.toString());
    } else {
      BLOG(4, "pod sync failed, retrying").kv("pod", key).kv("err", st.toString());
    }
    queue_.done(key);
  }
}

Status SimulatedAgent::syncPod(const std::string& key) {
  client::ObjectPtr pod = pods_->get(key);
  if (!pod) return Status::ok();
  auto nit = nodes_.find(str(at(at(*pod, "spec"), "nodeName")));
  if (nit == nodes_.end()) return Status::ok();
  SimNode* node = nit->second.get();
  const json& md = at(*pod, "metadata");
  std::string ns = str(at(md, "namespace")), name = str(at(md, "name")), uid = str(at(md, "uid"));
  if (md.contains("deletionTimestamp")) {
    json opts = {{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", uid}}}};
    auto r = client_->remove(podsResource(), ns, name, opts);
    if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
      return r.status().withContext("deleting pod " + key);
    releaseIp(node, uid);
    return Status::ok();
  }
  const json& st = at(*pod, "status");
  std::string phase = str(at(st, "phase"));
  if (phase == "Succeeded" || phase == "Failed") return Status::ok();
  bool ready = false;
  for (const json& c : at(st, "conditions").is_array() ? at(st, "conditions") : json::array())
    if (str(at(c, "type")) == "Ready" && str(at(c, "status")) == "True") ready = true;
  if (phase == "Running" && ready && !str(at(st, "podIP")).empty()) return endIfDue(key, *pod);
  std::string ip = podIp(node, *pod);
  if (ip.empty()) return Status(Code::kUnavailable, "no free pod IP on node " + node->id.name);
  json patch = {{"status", simulatedRunningStatus(*pod, ip, node->id.internal_ip,
                                                  std::chrono::system_clock::now())}};
  auto r = client_->request("PATCH", podsResource().path(ns, name, "status"), patch.dump(),
                            client::contentType(client::PatchType::kMerge));
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    return r.status().withContext("updating status of pod " + key);
  return Status::ok();
}

Status SimulatedAgent::endIfDue(const std::string& key, const json& pod) {
  auto end = simulatedEnd(pod);
  if (!end.isOk()) {
    BLOG(2, "pod cannot end as annotated").kv("pod", key).kv("err", end.status().toString());
    return Status::ok();
  }
  if (!*end) return Status::ok();
  const SimulatedEnd& e = **end;
  const json& md = at(pod, "metadata");
  std::string ns = str(at(md, "namespace")), name = str(at(md, "name")), uid = str(at(md, "uid"));
  auto now = std::chrono::system_clock::now();
  Restarts r;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = restarts_.find(uid); it != restarts_.end()) r = it->second;
    else if (!parseRfc3339(str(at(at(pod, "status"), "startTime")), &r.run_started)) r.run_started = now;
  }
  auto run_for = e.final() ? e.after : std::max<std::chrono::milliseconds>(e.after, std::chrono::seconds(1));
  auto due = [&] { return r.waiting ? r.backoff_until : r.run_started + run_for; };
  auto wait = [&] {
    queue_.addAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(due() - now) +
                             std::chrono::milliseconds(1));
  };
  if (now < due()) {
    wait();
    return Status::ok();
  }
  json status;
  if (e.final()) {
    status = simulatedFinishedStatus(pod, e.exit_code, now);
  } else {
    if (!r.waiting) {  // the containers exited just now
      r.exited = now;
      r.last_run_started = r.run_started;
    }
    // As upstream's kubelet: the first restart is immediate, later ones back off from 10 s.
    TimePoint until;
    r.waiting = backoff_.inBackoff(uid, r.exited, now, &until);
    if (r.waiting) {
      r.backoff_until = until;
    } else {
      backoff_.recordRestart(uid, r.last_run_started, r.exited, now);
      r.run_started = now;
      r.count++;
    }
    RestartedContainers rc{e.exit_code, r.count, r.last_run_started, r.exited, r.waiting,
                           backoff_.currentDelay(uid)};
    status = {{"containerStatuses", simulatedRestartedStatuses(pod, rc, now)}};
    std::lock_guard<std::mutex> l(mu_);
    restarts_[uid] = r;
  }
  auto patched = client_->request("PATCH", podsResource().path(ns, name, "status"),
                                  json{{"status", status}}.dump(), client::contentType(client::PatchType::kMerge));
  if (!patched.isOk() && patched.status().code() != Code::kNotFound)
    return patched.status().withContext("updating status of pod " + key);
  if (!e.final()) wait();
  return Status::ok();
}

std::string SimulatedAgent::podIp(SimNode* node, const json& pod) {
  std::string uid = str(at(at(pod, "metadata"), "uid"));
  std::lock_guard<std::mutex> l(mu_);
  auto it = node->ip_by_uid.find(uid);
  int host = -1;
  if (it != node->ip_by_uid.end()) {
    host = it->second;
  } else {
    for (int h = 2; h < 255; ++h)
      if (!node->used_hosts.count(h)) {
        host = h;
        break;
      }
    if (host < 0) return "";
    node->ip_by_uid[uid] = host;
    node->used_hosts.insert(host);
  }
  return podIpInCidr(node->id.pod_cidr, host);
}

void SimulatedAgent::releaseIp(SimNode* node, const std::string& uid) {
  backoff_.forgetPrefix(uid);
  std::lock_guard<std::mutex> l(mu_);
  restarts_.erase(uid);
  auto it = node->ip_by_uid.find(uid);
  if (it == node->ip_by_uid.end()) return;
  node->used_hosts.erase(it->second);
  node->ip_by_uid.erase(it);
}

}  // namespace berth::kubelet
