#include "kubelet-lite/heartbeat.h"

#include "common/log.h"
#include "kubelet-lite/api_resources.h"

namespace berth::kubelet {

using json = nlohmann::json;

Heartbeat::Heartbeat(client::Client* client, Options opts, StatusPatchFn status_patch)
    : client_(client), opts_(opts), status_patch_(std::move(status_patch)) {}

Heartbeat::~Heartbeat() { stop(); }

Status Heartbeat::ensureLeaseNamespace() {
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNodeLeaseNamespace}}}};
  auto r = client_->create(namespacesResource(), "", ns);
  if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
    return r.status().withContext("creating namespace kube-node-lease");
  return Status::ok();
}

void Heartbeat::addNode(const std::string& name, const std::string& uid) {
  {
    std::lock_guard<std::mutex> l(mu_);
    uids_[name] = uid;
    auto now = std::chrono::steady_clock::now();
    due_.push({now, name, Kind::kLease});
    // Registration just posted the status: the first re-post is a period away.
    due_.push({now + jittered(opts_.status_period), name, Kind::kStatus});
  }
  cv_.notify_all();
}

void Heartbeat::start() { thread_ = std::thread([this] { run(); }); }

void Heartbeat::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Heartbeat::renewals() const {
  std::lock_guard<std::mutex> l(mu_);
  return renewals_;
}

std::chrono::milliseconds Heartbeat::jittered(std::chrono::milliseconds period) {
  std::uniform_real_distribution<double> d(0, opts_.jitter);
  return period + std::chrono::milliseconds(static_cast<int64_t>(period.count() * d(rng_)));
}

void Heartbeat::run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(l);
      continue;
    }
    auto next = due_.top().at;
    if (std::chrono::steady_clock::now() < next) {
      cv_.wait_until(l, next);
      continue;
    }
    Due d = due_.top();
    due_.pop();
    l.unlock();
    if (d.kind == Kind::kLease) renewLease(d.node);
    else postStatus(d.node);
    l.lock();
    auto period = d.kind == Kind::kLease ? opts_.lease_period : opts_.status_period;
    due_.push({std::chrono::steady_clock::now() + jittered(period), d.node, d.kind});
    if (d.kind == Kind::kLease) ++renewals_;
  }
}

void Heartbeat::renewLease(const std::string& node) {
  std::string now = formatRfc3339Micro(std::chrono::system_clock::now());
  auto it = leases_.find(node);
  if (it != leases_.end()) {
    json lease = it->second;
    lease["spec"]["renewTime"] = now;
    auto r = client_->update(leasesResource(), kNodeLeaseNamespace, node, lease);
    if (r.isOk()) {
      it->second = std::move(r).value();
      return;
    }
    BLOG(4, "lease renewal failed, re-reading").kv("node", node).kv("err", r.status().toString());
    leases_.erase(it);
  }
  auto got = client_->get(leasesResource(), kNodeLeaseNamespace, node);
  if (got.isOk()) {
    json lease = std::move(got).value();
    lease["spec"]["holderIdentity"] = node;
    lease["spec"]["leaseDurationSeconds"] = opts_.lease_duration_seconds;
    lease["spec"]["renewTime"] = now;
    auto r = client_->update(leasesResource(), kNodeLeaseNamespace, node, lease);
    if (r.isOk()) leases_[node] = std::move(r).value();
    else BLOG(2, "lease renewal failed").kv("node", node).kv("err", r.status().toString());
    return;
  }
  if (got.status().code() != Code::kNotFound) {
    BLOG(2, "lease read failed").kv("node", node).kv("err", got.status().toString());
    return;
  }
  std::string uid;
  {
    std::lock_guard<std::mutex> l(mu_);
    uid = uids_[node];
  }
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node}, {"namespace", kNodeLeaseNamespace}}},
                {"spec",
                 {{"holderIdentity", node},
                  {"leaseDurationSeconds", opts_.lease_duration_seconds},
                  {"renewTime", now}}}};
  if (!uid.empty())
    lease["metadata"]["ownerReferences"] = json::array(
        {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}, {"uid", uid}}});
  auto r = client_->create(leasesResource(), kNodeLeaseNamespace, lease);
  if (r.isOk()) leases_[node] = std::move(r).value();
  else BLOG(2, "lease create failed").kv("node", node).kv("err", r.status().toString());
}

void Heartbeat::postStatus(const std::string& node) {
  json patch = status_patch_(node);
  auto r = client_->request("PATCH", nodesResource().path("", node, "status"), patch.dump(),
                            client::contentType(client::PatchType::kMerge));
  if (!r.isOk()) BLOG(2, "node status update failed").kv("node", node).kv("err", r.status().toString());
}

}  // namespace berth::kubelet
