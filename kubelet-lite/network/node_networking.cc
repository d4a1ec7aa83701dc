#include "kubelet-lite/network/node_networking.h"

#include <set>

#include "common/log.h"

namespace berth::kubelet::net {

Result<std::unique_ptr<NodeNetworking>> NodeNetworking::start(client::Client* client,
                                                              ContainerRuntime* runtime,
                                                              Options opts) {
  std::unique_ptr<NodeNetworking> n(new NodeNetworking());
  if (opts.pod_network) {
    BERTH_ASSIGN_OR_RETURN(n->bridge_, BridgeNetwork::start({opts.node_name, opts.pod_cidr,
                                                             opts.state_dir}));
    runtime->setPodNetwork(n->bridge_.get());
    // Addresses of sandboxes that went away while the agent was down are free again.
    BERTH_ASSIGN_OR_RETURN(auto sandboxes, runtime->listSandboxes());
    std::set<std::string> ids;
    for (const auto& s : sandboxes) ids.insert(s.id);
    BERTH_RETURN_IF_ERROR(n->bridge_->retainOnly(ids));
  }
  bool dns = opts.pod_network && !opts.cluster_dns.empty();
  if (!opts.proxy && !dns) return n;
  n->informers_ = serviceInformers(client);
  client::Informer* services = n->informers_.services.get();
  client::Informer* slices = n->informers_.slices.get();
  if (opts.proxy) {
    ServiceProxy::Options po;
    po.node_name = opts.node_name;
    po.pod_bridge = n->bridge_ ? n->bridge_->bridge() : "";
    if (!opts.cluster_dns.empty()) po.skip_ips.insert(opts.cluster_dns);
    n->proxy_ = std::make_unique<ServiceProxy>(services, slices, po);
  }
  if (dns) {
    ClusterDns::Options d;
    d.address = opts.cluster_dns;
    d.domain = opts.cluster_domain;
    n->dns_ = std::make_unique<ClusterDns>(services, slices, d);
  }
  services->start();
  slices->start();
  if (n->proxy_) n->proxy_->start();
  if (n->dns_) n->dns_->start();
  return n;
}

NodeNetworking::~NodeNetworking() { stop(); }

void NodeNetworking::stop() {
  if (proxy_) proxy_->stop();
  if (dns_) dns_->stop();
  if (informers_.services) informers_.services->stop();
  if (informers_.slices) informers_.slices->stop();
}

std::string resolveClusterDns(client::Client* client, const std::string& flag) {
  if (!flag.empty()) return flag;
  static const client::Resource kServices{"", "v1", "services", "Service", true, {}};
  auto svc = client->get(kServices, "kube-system", "kube-dns");
  if (!svc.isOk()) {
    BLOG(2, "no cluster DNS: kube-system/kube-dns not readable").kv("err", svc.status().toString());
    return "";
  }
  std::string ip = (*svc).value("spec", nlohmann::json::object()).value("clusterIP", "");
  return parseIpv4(ip).isOk() ? ip : "";
}

}  // namespace berth::kubelet::net
