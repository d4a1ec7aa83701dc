// What `berth server` needs to run the node-group controllers: the cloud driver (one factory,
// so adding a provider is a one-line change) and the user-data every launch carries (a
// NodeConfig from nodegroups/bootstrap with the group's labels, taints, max pods, its
// preBootstrapCommands and userData as the MIME multipart's first parts, and a bootstrap token
// per group, created as a kube-system Secret and rotated before it expires).
// Thread-safety: newCloudDriver is a plain function; UserDataSource::render may be called from
// any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/client.h"
#include "common/time_util.h"
#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/controller/nodegroup_controller.h"

namespace berth::nodegroups {

struct CloudOptions {
  std::string provider;    // "" (none), "simulated", "local"
  std::string cluster_name;
  std::string state_dir;   // the driver's state (--cloud-state-dir)
  std::string kubeconfig;  // admin kubeconfig (the simulated cloud's agents use it)
};

// "" -> nullptr (no cloud); "simulated" -> SimCloud; anything else kInvalid naming the
// providers this build has.
Result<std::shared_ptr<cloud::CloudDriver>> newCloudDriver(const CloudOptions& o);

class UserDataSource {
 public:
  struct Params {
    std::string cluster_name;
    std::string server_url;
    std::string ca_file;  // PEM
    std::string service_cidr;
    std::chrono::seconds token_ttl = std::chrono::hours(24);
  };
  UserDataSource(client::Client* client, Params params, const Clock* clock = nullptr);
  Result<std::string> render(const LaunchSpec& spec);

 private:
  Result<std::string> tokenFor(const std::string& group);

  client::Client* client_;
  Params params_;
  const Clock* clock_;
  std::mutex mu_;
  std::string ca_pem_;
  std::map<std::string, std::pair<std::string, TimePoint>> tokens_;  // group -> token, created
};

}  // namespace berth::nodegroups
