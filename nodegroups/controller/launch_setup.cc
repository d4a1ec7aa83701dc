#include "nodegroups/controller/launch_setup.h"

#include <fstream>
#include <sstream>

#include "nodegroups/bootstrap/token.h"
#include "nodegroups/cloud/local/local_cloud.h"
#include "nodegroups/bootstrap/user_data.h"
#include "nodegroups/controller/sim_cloud.h"

namespace berth::nodegroups {

Result<std::shared_ptr<cloud::CloudDriver>> newCloudDriver(const CloudOptions& o) {
  if (o.provider.empty()) return std::shared_ptr<cloud::CloudDriver>();
  if (o.provider == "simulated") {
    SimCloud::Options so;
    so.cluster = o.cluster_name;
    so.kubeconfig = o.kubeconfig;
    so.state_dir = o.state_dir;
    if (so.state_dir.empty()) return invalid("--cloud-provider simulated needs --cloud-state-dir");
    return std::shared_ptr<cloud::CloudDriver>(std::make_shared<SimCloud>(so));
  }
  if (o.provider == "local") {
    BERTH_ASSIGN_OR_RETURN(auto local_cloud, cloud::local::openLocalCloud(o.cluster_name, o.state_dir));
    return std::shared_ptr<cloud::CloudDriver>(std::move(local_cloud));
  }
  return invalid("unknown cloud provider \"" + o.provider + "\" (this build has: local, simulated)");
}

UserDataSource::UserDataSource(client::Client* client, Params params, const Clock* clock)
    : client_(client), params_(std::move(params)), clock_(clock ? clock : &SystemClock::instance()) {}

Result<std::string> UserDataSource::tokenFor(const std::string& group) {
  // Caller holds mu_. A token is replaced when less than a tenth of its life is left, so a
  // node launched now still has time to join with it.
  TimePoint now = clock_->now();
  auto it = tokens_.find(group);
  if (it != tokens_.end() && now - it->second.second < params_.token_ttl * 9 / 10) {
    return it->second.first;
  }
  bootstrap::TokenOptions to;
  to.ttl = params_.token_ttl;
  to.description = "berth node group " + group;
  BERTH_ASSIGN_OR_RETURN(bootstrap::BootstrapToken t,
                         bootstrap::createBootstrapToken(*client_, to, *clock_));
  tokens_[group] = {t.str(), now};
  return t.str();
}

Result<std::string> UserDataSource::render(const LaunchSpec& spec) {
  std::lock_guard<std::mutex> l(mu_);
  if (ca_pem_.empty()) {
    std::ifstream in(params_.ca_file);
    if (!in) return notFound("cluster CA " + params_.ca_file + " cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    ca_pem_ = ss.str();
  }
  bootstrap::UserDataParams p;
  p.cluster_name = params_.cluster_name;
  p.api_server_endpoint = params_.server_url;
  p.ca_pem = ca_pem_;
  p.service_cidr = params_.service_cidr;
  BERTH_ASSIGN_OR_RETURN(p.bootstrap_token, tokenFor(spec.group));
  p.labels = spec.labels;
  for (const auto& t : spec.taints) {
    p.taints.push_back({t.value("key", ""), t.value("value", ""), t.value("effect", "")});
  }
  p.max_pods = spec.max_pods;
  p.pre_bootstrap_commands = spec.pre_bootstrap_commands;
  p.user_data = spec.user_data;
  p.hostname_override = spec.node_name;
  return bootstrap::renderUserData(p);
}

}  // namespace berth::nodegroups
