#include "nodegroups/cloud/local/local_cloud.h"

#include <filesystem>

#include "networking/local/local_network.h"
#include "nodegroups/cloud/local/local_instance_driver.h"

namespace berth::cloud::local {

namespace {

class NetworkAttacher : public InstanceNetwork {
 public:
  explicit NetworkAttacher(networking::LocalNetwork* net) : net_(net) {}
  Result<std::string> attachInstance(const std::string& id, const std::string& subnet,
                                     std::string* netns) override {
    return net_->attachInstance(id, subnet, netns);
  }
  Status detachInstance(const std::string& id) override { return net_->detachInstance(id); }

 private:
  networking::LocalNetwork* net_;
};

class LocalCloud : public CloudDriver {
 public:
  LocalCloud(LocalCloudConfig config, std::unique_ptr<networking::LocalNetwork> net,
             const std::string& state_dir)
      : region_(config.region), net_(std::move(net)), attacher_(net_.get()) {
    LocalInstanceDriver::Options o;
    o.cloud_dir = state_dir;
    o.config = std::move(config);
    instances_ = std::make_unique<LocalInstanceDriver>(std::move(o), &attacher_);
  }
  std::string provider() const override { return "local"; }
  std::string region() const override { return region_; }
  InstanceDriver& instances() override { return *instances_; }
  NetworkDriver& network() override { return *net_; }

 private:
  std::string region_;
  std::unique_ptr<networking::LocalNetwork> net_;
  NetworkAttacher attacher_;
  std::unique_ptr<LocalInstanceDriver> instances_;
};

}  // namespace

Result<std::unique_ptr<CloudDriver>> openLocalCloud(const std::string& cluster,
                                                    const std::string& state_dir) {
  if (cluster.empty()) return invalid("the local cloud needs a cluster name (--cluster-name)");
  if (state_dir.empty()) return invalid("the local cloud needs a state dir (--cloud-state-dir)");
  std::error_code ec;
  std::filesystem::create_directories(state_dir + "/instances", ec);
  if (ec) return internalError("create " + state_dir + ": " + ec.message());
  BERTH_ASSIGN_OR_RETURN(LocalCloudConfig config, loadLocalCloudConfig(state_dir));
  if (config.cluster.empty()) config.cluster = cluster;
  if (config.cluster != cluster) {
    return invalid("the cloud state in " + state_dir + " belongs to cluster \"" + config.cluster +
                   "\", not \"" + cluster + "\"");
  }
  if (config.zones.empty()) {
    for (const char* z : {"a", "b", "c"}) config.zones.push_back(config.region + z);
  }
  BERTH_ASSIGN_OR_RETURN(auto net, networking::LocalNetwork::open({cluster, state_dir}));
  return std::unique_ptr<CloudDriver>(
      std::make_unique<LocalCloud>(std::move(config), std::move(net), state_dir));
}

}  // namespace berth::cloud::local
