#include "tests/e2e/cluster_workspace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace berth::e2e {

namespace fs = std::filesystem;

ClusterWorkspace::ClusterWorkspace(const std::string& tag, const std::string& kubeconfig) {
  dir_ = makeTempDir("berth-e2e-" + tag + "-");
  env_ = {"BERTH_STATE_DIR=" + dir_ + "/state", "KUBECONFIG=" + dir_ + "/" + kubeconfig, "HOME=" + dir_};
  fs::create_directories(fs::path(dir_ + "/" + kubeconfig).parent_path());
}

ClusterWorkspace::~ClusterWorkspace() {
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

CmdResult ClusterWorkspace::berth(const std::vector<std::string>& args, std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {berthBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", env_, timeout);
}

CmdResult ClusterWorkspace::kubectl(const std::vector<std::string>& args, const std::string& input,
                                    std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {"kubectl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, env_, timeout);
}

std::string ClusterWorkspace::ok(const std::vector<std::string>& args, const std::string& input) const {
  CmdResult r = kubectl(args, input);
  EXPECT_EQ(r.exit_code, 0) << "kubectl " << (args.empty() ? "" : args[0]) << ": " << r.err;
  return r.out;
}

nlohmann::json ClusterWorkspace::networkState(const std::string& cluster) const {
  std::ifstream f(stateDir(cluster) + "/cloud/network.json");
  if (!f) return nlohmann::json::object();
  return nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
}

std::string randomClusterName(const std::string& prefix) {
  static std::mt19937 rng{std::random_device{}()};
  std::string s = prefix;
  for (int i = 0; i < 5; ++i) s += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
  return s;
}

std::string randomVpcCidr() {
  static std::mt19937 rng{std::random_device{}()};
  return "10." + std::to_string(100 + rng() % 99) + ".0.0/16";
}

std::string privateClusterConfig(const std::string& name, const std::vector<std::string>& zones,
                                 const std::string& cidr, int desired, int min_size, int max_size) {
  std::string zone_list;
  for (const auto& z : zones) zone_list += (zone_list.empty() ? "" : ", ") + z;
  return "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " + name +
         ", region: local-1}\navailabilityZones: [" + zone_list + "]\nvpc: {cidr: " + cidr +
         ", nat: {gateway: Single}}\nmanagedNodeGroups:\n  - {name: ng-1, instanceType: m5.large, "
         "desiredCapacity: " + std::to_string(desired) + ", minSize: " + std::to_string(min_size) +
         ", maxSize: " + std::to_string(max_size) + ", privateNetworking: true}\n";
}

int processesMatching(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(getpid())) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

std::string missingPrerequisite(const std::vector<std::string>& tools) {
  if (geteuid() != 0) return "needs root (network namespaces, nftables, runc)";
  for (const auto& t : tools)
    if (run({"sh", "-c", "command -v " + t}).exit_code != 0) return t + " is not installed";
  return "";
}

std::string LocalClusterTest::writeConfig(const std::vector<std::string>& zones, int desired, int min_size,
                                          int max_size) const {
  std::string path = ws_->dir() + "/cluster.yaml";
  std::ofstream(path) << privateClusterConfig(name_, zones, randomVpcCidr(), desired, min_size, max_size);
  return path;
}

}  // namespace berth::e2e
