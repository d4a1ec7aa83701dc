// agent_bench: the simulated node agent at scale, against the kubelet-lite issue's targets.
// Starts the real `berth server` (temp data dir, port 0, no controllers) and
// `berth agent --runtime simulated --nodes N`, creates P pods bound directly with
// spec.nodeName (round robin over the nodes) from C client threads, and watches them:
//   register  time until all N nodes are registered (the agent prints when it runs)
//   startup   create -> Running-with-IP as seen by a watch: p50 / p99 / max
//   rss       the agent's VmRSS and VmHWM with P pods   (target < 1 GiB)
//   heartbeat the agent's CPU over S steady seconds with nothing but leases and node status
//             (target < 25% of one core)
// Prints "figure | target" lines and the machine, then stops both processes.
//
// Usage: agent_bench [BERTH_BIN] [--nodes N] [--pods P] [--clients C] [--steady-seconds S]
// BERTH_BIN defaults to $BERTH_BIN, then build-bench/cmd/berth.
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/common/bench_util.h"
#include "client/rest_client.h"

namespace {

using namespace berth::bench;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

}  // namespace

int main(int argc, char** argv) {
  std::string bin = std::getenv("BERTH_BIN") ? std::getenv("BERTH_BIN") : "build-bench/cmd/berth";
  int nodes = 1000, pods = 30000, clients = 8, steady = 30;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--nodes") nodes = next();
    else if (a == "--pods") pods = next();
    else if (a == "--clients") clients = next();
    else if (a == "--steady-seconds") steady = next();
    else if (a.rfind("--", 0) != 0) bin = a;
    else {
      std::fprintf(stderr, "agent_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (!fs::exists(bin)) {
    std::fprintf(stderr, "agent_bench: berth binary %s not found (pass it or set BERTH_BIN)\n", bin.c_str());
    return 2;
  }
  bin = fs::absolute(bin).string();
  std::string dir = (fs::temp_directory_path() / ("berth-agent-bench-" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  std::printf("machine: %u cores, %s, %ld MiB RAM\n", std::thread::hardware_concurrency(),
              cpuModel().c_str(), memTotalMiB());
  std::printf("workload: %d simulated nodes, %d pods bound with spec.nodeName, %d client threads\n",
              nodes, pods, clients);

  ChildProcess server;
  if (!server.start({bin, "server", "--data-dir", dir, "--secure-port", "0", "--controllers", "none"}) ||
      !server.waitFor("serving at")) {
    std::fprintf(stderr, "agent_bench: berth server did not start\n");
    return 1;
  }
  std::string kubeconfig = dir + "/admin.kubeconfig";
  auto client = berth::client::RestClient::fromKubeconfig(kubeconfig);
  if (!client.isOk()) {
    std::fprintf(stderr, "agent_bench: %s\n", client.status().toString().c_str());
    server.stop();
    return 1;
  }
  auto t0 = SteadyClock::now();
  ChildProcess agent;
  if (!agent.start({bin, "agent", "--kubeconfig", kubeconfig, "--runtime", "simulated", "--nodes",
                    std::to_string(nodes), "--zones", "local-1a,local-1b,local-1c", "-v", "0"}) ||
      !agent.waitFor("berth agent running")) {
    std::fprintf(stderr, "agent_bench: berth agent did not start\n");
    server.stop();
    return 1;
  }
  double register_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();

  berth::client::Resource podsR{"", "v1", "pods", "Pod", true, {}};
  berth::client::Resource nsR{"", "v1", "namespaces", "Namespace", false, {}};
  (void)(*client)->create(nsR, "", json{{"metadata", {{"name", "bench"}}}});
  std::mutex mu;
  std::unordered_map<std::string, SteadyClock::time_point> created;
  std::vector<double> latencies;
  std::atomic<int> running{0};
  berth::client::CancelToken cancel;
  std::thread watcher([&] {
    berth::client::WatchOptions wo;
    wo.resource_version = "0";
    wo.timeout_seconds = 3600;
    (void)(*client)->watch(podsR, "bench", wo, [&](const json& ev) {
      const json& o = ev.value("object", json::object());
      if (!o.contains("status") || o["status"].value("phase", "") != "Running" ||
          o["status"].value("podIP", "").empty())
        return true;
      std::string name = o["metadata"].value("name", "");
      auto now = SteadyClock::now();
      std::lock_guard<std::mutex> l(mu);
      auto it = created.find(name);
      if (it == created.end()) return true;
      latencies.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
      created.erase(it);
      return ++running < pods;
    }, &cancel);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the watch connect
  auto c0 = SteadyClock::now();
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> creators;
  for (int c = 0; c < clients; ++c)
    creators.emplace_back([&] {
      for (int i = next++; i < pods; i = next++) {
        std::string name = "p-" + std::to_string(i);
        json pod = {{"apiVersion", "v1"}, {"kind", "Pod"},
                    {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
                    {"spec", {{"nodeName", "sim-node-" + std::to_string(i % nodes)},
                              {"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"},
                                  {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}}})}}}};
        {
          std::lock_guard<std::mutex> l(mu);
          created[name] = SteadyClock::now();
        }
        if (!(*client)->create(podsR, "bench", pod).isOk()) ++failures;
      }
    });
  for (auto& t : creators) t.join();
  double create_s = std::chrono::duration<double>(SteadyClock::now() - c0).count();
  watcher.join();
  double all_running_s = std::chrono::duration<double>(SteadyClock::now() - c0).count();

  // Steady state: only heartbeats (10 s leases, 60 s node status) remain.
  double cpu0 = cpuSeconds(agent.pid);
  auto s0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(steady));
  double wall = std::chrono::duration<double>(SteadyClock::now() - s0).count();
  double cpu_pct = 100.0 * (cpuSeconds(agent.pid) - cpu0) / wall;
  long rss = statusKb(agent.pid, "VmRSS"), hwm = statusKb(agent.pid, "VmHWM");

  std::printf("register %d nodes        %8.1f s\n", nodes, register_s);
  std::printf("create %d pods           %8.1f s (%.0f pods/s, %d failed)\n", pods, create_s,
              pods / create_s, failures.load());
  std::printf("all Running (watch)       %8.1f s after the first create\n", all_running_s);
  std::printf("create->Running p50       %8.1f ms\n", percentile(latencies, 0.5));
  std::printf("create->Running p99       %8.1f ms | upstream SLO 5000 ms\n", percentile(latencies, 0.99));
  std::printf("create->Running max       %8.1f ms\n", percentile(latencies, 1.0));
  std::printf("agent RSS                 %8.1f MiB (peak %.1f) | target < 1024 MiB\n", rss / 1024.0, hwm / 1024.0);
  std::printf("agent CPU, heartbeats     %8.1f %% of one core over %.0f s | target < 25 %%\n", cpu_pct, wall);
  agent.stop();
  server.stop();
  fs::remove_all(dir);
  return 0;
}
