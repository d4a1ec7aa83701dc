#include "bench/net/bench_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

namespace berth::bench::net {

namespace fs = std::filesystem;

namespace {

constexpr const char* kZones[] = {"local-1a", "local-1b", "local-1c"};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

BenchCluster::BenchCluster(std::string berth_bin, std::string registry_script, int nodes)
    : bin_(std::move(berth_bin)), registry_script_(std::move(registry_script)), nodes_(nodes) {
  std::mt19937 rng{std::random_device{}()};
  name_ = "nb";
  for (int i = 0; i < 5; ++i) name_ += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
}

std::string BenchCluster::kubeconfig() const { return dir_ + "/state/" + name_ + "/kubeconfig"; }
std::string BenchCluster::networkStatePath() const { return dir_ + "/state/" + name_ + "/cloud/network.json"; }
std::string BenchCluster::agentLogPath(const std::string& node) const {
  return dir_ + "/state/" + name_ + "/cloud/instances/" + node + "/agent.log";
}

Status BenchCluster::startRegistry() {
  auto r = runCommand({registry_script_, "start", dir_ + "/registry"}, "", std::chrono::seconds(180));
  std::string addr = trim(r.out);
  if (r.exit_code != 0 || addr.rfind("127.0.0.1:", 0) != 0)
    return internalError("test registry: " + describe({registry_script_, "start"}, r));
  registry_port_ = addr.substr(addr.find(':') + 1);
  return Status::ok();
}

Status BenchCluster::create() {
  char tmpl[] = "/tmp/berth-net-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return internalError("mkdtemp failed");
  dir_ = tmpl;
  setenv("BERTH_STATE_DIR", (dir_ + "/state").c_str(), 1);
  setenv("KUBECONFIG", (dir_ + "/kubeconfig").c_str(), 1);
  setenv("HOME", dir_.c_str(), 1);
  BERTH_RETURN_IF_ERROR(startRegistry());
  std::mt19937 rng{std::random_device{}()};
  std::ofstream cfg(dir_ + "/cluster.yaml");
  cfg << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << name_
      << ", region: local-1}\navailabilityZones: [";
  for (int z = 0; z < 3; ++z) cfg << (z ? ", " : "") << kZones[z];
  cfg << "]\nvpc: {cidr: 10." << 100 + rng() % 100 << ".0.0/16, nat: {gateway: Single}}\n"
      << "managedNodeGroups:\n  - {name: web, instanceType: m5.large, desiredCapacity: " << nodes_
      << ", minSize: " << nodes_ << ", maxSize: " << nodes_ << ", privateNetworking: true}\n";
  cfg.close();
  std::vector<std::string> argv = {bin_, "cluster", "create", "-f", dir_ + "/cluster.yaml",
                                   "--registry-ports", registry_port_, "--timeout", "5m"};
  auto r = runCommand(argv, "", std::chrono::seconds(420));
  if (r.exit_code != 0) return internalError(describe(argv, r) + r.out);
  return Status::ok();
}

CommandResult BenchCluster::kubectl(const std::vector<std::string>& args, const std::string& input,
                                    std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {"kubectl", "--kubeconfig", kubeconfig()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, input, timeout);
}

Result<std::string> BenchCluster::kubectlOk(const std::vector<std::string>& args, const std::string& input,
                                            std::chrono::seconds timeout) const {
  auto r = kubectl(args, input, timeout);
  std::vector<std::string> argv = {"kubectl"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (r.exit_code != 0) return internalError(describe(argv, r));
  return r.out;
}

std::vector<std::string> BenchCluster::leftovers() const {
  std::vector<std::string> left;
  auto ns = runCommand({"ip", "netns", "list"});
  std::istringstream nss(ns.out);
  for (std::string l; std::getline(nss, l);)
    if (l.find("berth-" + name_ + "-") != std::string::npos) left.push_back("netns " + l);
  auto tables = runCommand({"nft", "list", "tables"});
  std::istringstream ts(tables.out);
  for (std::string l; std::getline(ts, l);)
    if (l.find(name_) != std::string::npos) left.push_back("nft " + l);
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(getpid())) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (auto& c : cmd) if (c == '\0') c = ' ';
    if (!dir_.empty() && cmd.find(dir_) != std::string::npos) left.push_back("process " + pid + ": " + cmd);
  }
  return left;
}

std::vector<std::string> BenchCluster::teardown() {
  std::call_once(torn_down_, [this] {
    if (dir_.empty()) return;
    std::vector<std::string> argv = {bin_, "cluster", "delete", name_};
    auto r = runCommand(argv, "", std::chrono::seconds(240));
    if (r.exit_code != 0) left_.push_back("cluster delete failed: " + describe(argv, r));
    if (!registry_port_.empty()) runCommand({registry_script_, "stop", dir_ + "/registry"});
    auto more = leftovers();
    left_.insert(left_.end(), more.begin(), more.end());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  });
  return left_;
}

}  // namespace berth::bench::net
