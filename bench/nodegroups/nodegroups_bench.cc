// nodegroups_bench: a managed NodeGroup scaled from 0 to N simulated nodes (default 30) over
// three zones, against the node-groups issue's target (all Ready within 10 s; EKS managed node
// groups take minutes, Karpenter about a minute). Starts the real `berth server
// --cloud-provider simulated` (each instance a `berth agent --runtime simulated --nodes 1`
// process), creates the group at 0, then sets spec.scaling.desiredSize to N through the scale
// subresource and watches Nodes: the time from the scale call to each node's first Ready=True.
// Prints per-node times, p50/p90/max, the zone spread and the machine.
//
// Usage: nodegroups_bench [BERTH_BIN] [--nodes N]
// BERTH_BIN defaults to $BERTH_BIN, then build-bench/cmd/berth.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/bench_util.h"
#include "client/rest_client.h"

namespace {

using namespace berth::bench;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

bool ready(const json& node) {
  for (const json& c : node.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin = std::getenv("BERTH_BIN") ? std::getenv("BERTH_BIN") : "build-bench/cmd/berth";
  int nodes = 30;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nodes" && i + 1 < argc) nodes = std::atoi(argv[++i]);
    else if (a.rfind("--", 0) != 0) bin = a;
    else {
      std::fprintf(stderr, "nodegroups_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (!fs::exists(bin)) {
    std::fprintf(stderr, "nodegroups_bench: berth binary %s not found (pass it or set BERTH_BIN)\n", bin.c_str());
    return 2;
  }
  bin = fs::absolute(bin).string();
  std::string dir = (fs::temp_directory_path() / ("berth-ng-bench-" + std::to_string(getpid()))).string();
  fs::create_directories(dir + "/cloud");
  std::printf("machine: %u cores, %s, %ld MiB RAM\n", std::thread::hardware_concurrency(),
              cpuModel().c_str(), memTotalMiB());
  std::printf("workload: managed NodeGroup 0 -> %d simulated nodes over local-1a/b/c\n", nodes);

  ChildProcess server;
  if (!server.start({bin, "server", "--data-dir", dir + "/data", "--secure-port", "0",
                     "--cloud-provider", "simulated", "--cluster-name", "bench",
                     "--cloud-state-dir", dir + "/cloud", "-v", "1"}) ||
      !server.waitFor("serving at")) {
    std::fprintf(stderr, "nodegroups_bench: berth server did not start\n");
    return 1;
  }
  auto client = berth::client::RestClient::fromKubeconfig(dir + "/data/admin.kubeconfig");
  if (!client.isOk()) {
    std::fprintf(stderr, "nodegroups_bench: %s\n", client.status().toString().c_str());
    server.stop();
    return 1;
  }
  berth::client::Resource ngR{"berth.dev", "v1alpha1", "nodegroups", "NodeGroup", false, {}};
  berth::client::Resource nodesR{"", "v1", "nodes", "Node", false, {}};
  json ng = {{"apiVersion", "berth.dev/v1alpha1"}, {"kind", "NodeGroup"},
             {"metadata", {{"name", "bench"}}},
             {"spec", {{"instanceTypes", {"m5.large"}},
                       {"availabilityZones", {"local-1a", "local-1b", "local-1c"}},
                       {"scaling", {{"minSize", 0}, {"desiredSize", 0}, {"maxSize", nodes}}}}}};
  if (auto r = (*client)->create(ngR, "", ng); !r.isOk()) {
    std::fprintf(stderr, "nodegroups_bench: creating the group: %s\n", r.status().toString().c_str());
    server.stop();
    return 1;
  }
  std::mutex mu;
  std::map<std::string, double> readyAt;  // node -> seconds after the scale call
  std::map<std::string, std::string> zoneOf;
  SteadyClock::time_point t0{};
  bool scaled = false;
  berth::client::CancelToken cancel;
  std::thread watcher([&] {
    berth::client::WatchOptions wo;
    wo.resource_version = "0";
    wo.timeout_seconds = 120;
    wo.label_selector = "eks.amazonaws.com/nodegroup=bench";
    (void)(*client)->watch(nodesR, "", wo, [&](const json& ev) {
      const json& o = ev.value("object", json::object());
      if (!ready(o)) return true;
      std::lock_guard<std::mutex> l(mu);
      std::string name = o["metadata"].value("name", "");
      if (!scaled || readyAt.count(name)) return true;
      readyAt[name] = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      zoneOf[name] = o["metadata"]["labels"].value("topology.kubernetes.io/zone", "");
      return static_cast<int>(readyAt.size()) < nodes;
    }, &cancel);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the watch connect
  {
    std::lock_guard<std::mutex> l(mu);
    t0 = SteadyClock::now();
    scaled = true;
  }
  json scale = {{"apiVersion", "autoscaling/v1"}, {"kind", "Scale"},
                {"metadata", {{"name", "bench"}}}, {"spec", {{"replicas", nodes}}}};
  if (auto r = (*client)->update(ngR, "", "bench", scale, "scale"); !r.isOk()) {
    std::fprintf(stderr, "nodegroups_bench: scaling: %s\n", r.status().toString().c_str());
    cancel.cancel();
  }
  watcher.join();
  std::vector<double> times;
  std::map<std::string, int> zones;
  for (const auto& [n, t] : readyAt) {
    times.push_back(t);
    zones[zoneOf[n]]++;
  }
  std::sort(times.begin(), times.end());
  std::printf("time to Ready per node (s):");
  for (double t : times) std::printf(" %.2f", t);
  std::printf("\n");
  std::string spread;
  for (const auto& [z, c] : zones) spread += " " + z + "=" + std::to_string(c);
  std::printf("zones:%s\n", spread.c_str());
  std::printf("ready nodes: %zu of %d\n", times.size(), nodes);
  std::printf("p50 %.2f s, p90 %.2f s\n", percentile(times, 0.5), percentile(times, 0.9));
  std::printf("all Ready: %.2f s | target 10 s (EKS managed node groups: minutes; Karpenter: ~1 min)\n",
              times.empty() ? 0.0 : times.back());
  (void)(*client)->remove(ngR, "", "bench");
  server.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return times.size() == static_cast<size_t>(nodes) ? 0 : 1;
}
