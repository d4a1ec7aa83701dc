// density_bench: the controllers issue's density figures, in the shape of clusterloader2's
// density test: the real `berth server` (every in-process controller, scheduler included) and
// one `berth agent --runtime simulated --nodes N` playing N nodes in three zones.
//
// Phases (loopback only, each bounded in time):
//   saturation  --deployments Deployments (namespace density) totalling N * --pods-per-node
//               pods (default 1,000 x 30 = 30,000), created at --conns connections; the time
//               from the first create until a pod watch has seen every pod Running (with an
//               IP), and how long creating the Deployments took. Target: within 60 s.
//   latency     on the loaded cluster, --latency-pods Deployments of one replica (namespace
//               density-latency) created at --latency-qps (20/s) from one connection, as
//               clusterloader2's latency pods: per pod, the time from its Deployment's create
//               call to the watch event showing it Running (p50/p90/p99/max), and from the
//               pod's first watch event (the ReplicaSet controller's create) to Running.
//               Target: p99 < 1 s (the upstream SLO is 5 s).
// Then it prints the server's and the agent's CPU seconds and RSS, and the machine.
//
// Usage: density_bench [BERTH_BIN] [--nodes N] [--pods-per-node P] [--deployments D]
//                      [--latency-pods L] [--latency-qps Q] [--conns C] [--timeout S] [--keep]
// BERTH_BIN defaults to $BERTH_BIN, then build-bench/cmd/berth.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
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

const berth::client::Resource kPods{"", "v1", "pods", "Pod", true, {}};
const berth::client::Resource kDeployments{"apps", "v1", "deployments", "Deployment", true, {}};
const berth::client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false, {}};
const berth::client::Resource kNodes{"", "v1", "nodes", "Node", false, {}};

struct Options {
  std::string berth;
  int nodes = 1000;
  int pods_per_node = 30;
  int deployments = 100;
  int latency_pods = 400;
  double latency_qps = 20;
  int conns = 8;
  int timeout_s = 600;
  bool keep = false;
};

double since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

json deployment(const std::string& name, int replicas) {
  json labels = {{"app", name}};
  json container = {{"name", "pause"}, {"image", "registry.k8s.io/pause:3.9"}};
  container["resources"]["requests"] = {{"cpu", "1m"}, {"memory", "10Mi"}};
  json d = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}};
  d["metadata"] = {{"name", name}, {"labels", labels}};
  d["spec"]["replicas"] = replicas;
  d["spec"]["selector"]["matchLabels"] = labels;
  d["spec"]["template"]["metadata"]["labels"] = labels;
  d["spec"]["template"]["spec"]["containers"] = json::array({container});
  return d;
}

bool running(const json& pod) {
  const json& st = pod.value("status", json::object());
  return st.value("phase", "") == "Running" && !st.value("podIP", "").empty();
}

// Watches every pod and remembers, per pod name, when it was first seen and first seen
// Running (steady clock), and the label `app` (which Deployment made it).
class PodWatcher {
 public:
  struct Seen {
    SteadyClock::time_point first{}, running{};
    std::string app;
  };
  explicit PodWatcher(berth::client::Client* c) : c_(c) {}
  ~PodWatcher() { stop(); }
  void start(int timeout_s) {
    thread_ = std::thread([this, timeout_s] {
      berth::client::WatchOptions o;
      o.resource_version = "0";
      o.timeout_seconds = timeout_s;
      // Watches end at timeout_seconds or on a broken stream: resume from the last revision.
      while (!cancel_.cancelled()) {
        auto st = c_->watch(kPods, "", o, [this, &o](const json& ev) {
          const json& obj = ev.value("object", json::object());
          std::string rv = obj.value("metadata", json::object()).value("resourceVersion", "");
          if (!rv.empty()) o.resource_version = rv;
          if (ev.value("type", "") == "BOOKMARK" || ev.value("type", "") == "DELETED") return true;
          observe(obj);
          return true;
        }, &cancel_);
        if (!st.isOk() && !cancel_.cancelled()) {
          if (st.code() == berth::Code::kExpired) o.resource_version = "0";  // start over
          std::fprintf(stderr, "density_bench: pod watch: %s (resuming)\n", st.toString().c_str());
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      }
    });
  }
  void stop() {
    cancel_.cancel();
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `n` pods whose label app starts with `app_prefix` + "-" are Running.
  size_t waitRunning(const std::string& app_prefix, size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return countRunningLocked(app_prefix) >= n; });
    return countRunningLocked(app_prefix);
  }
  std::unordered_map<std::string, Seen> snapshot() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }

 private:
  void observe(const json& pod) {
    const json& meta = pod.value("metadata", json::object());
    std::string name = meta.value("namespace", "") + "/" + meta.value("name", "");
    auto now = SteadyClock::now();
    std::lock_guard<std::mutex> l(mu_);
    Seen& s = seen_[name];
    if (s.first == SteadyClock::time_point{}) {
      s.first = now;
      s.app = meta.value("labels", json::object()).value("app", "");
    }
    if (s.running == SteadyClock::time_point{} && running(pod)) {
      s.running = now;
      ++running_by_prefix_[prefixOf(s.app)];
      cv_.notify_all();
    }
  }
  static std::string prefixOf(const std::string& app) { return app.substr(0, app.find('-')); }
  size_t countRunningLocked(const std::string& prefix) {
    auto it = running_by_prefix_.find(prefix);
    return it == running_by_prefix_.end() ? 0 : it->second;
  }
  berth::client::Client* c_;
  berth::client::CancelToken cancel_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Seen> seen_;
  std::map<std::string, size_t> running_by_prefix_;
};

void parallelFor(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  for (auto& t : ts) t.join();
}

void printMachine() {
  std::printf("machine: %u cores, %s, %ld MiB RAM\n", std::thread::hardware_concurrency(),
              cpuModel().c_str(), memTotalMiB());
}

int run(const Options& opt) {
  std::string dir = (fs::temp_directory_path() / ("berth-density-bench-" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  int total = opt.nodes * opt.pods_per_node;
  printMachine();
  std::printf("workload: %d simulated nodes, %d Deployments totalling %d pods (%d per node), then "
              "%d one-replica Deployments at %.0f/s\n",
              opt.nodes, opt.deployments, total, opt.pods_per_node, opt.latency_pods, opt.latency_qps);
  std::fflush(stdout);

  ChildProcess server;
  if (!server.start({opt.berth, "server", "--data-dir", dir, "--secure-port", "0", "-v", "1"}) ||
      !server.waitFor("serving at")) {
    std::fprintf(stderr, "density_bench: berth server did not start\n");
    return 1;
  }
  std::string kubeconfig = dir + "/admin.kubeconfig";
  auto client = berth::client::RestClient::fromKubeconfig(kubeconfig);
  if (!client.isOk()) {
    std::fprintf(stderr, "density_bench: %s\n", client.status().toString().c_str());
    server.stop();
    return 1;
  }
  berth::client::Client* c = client->get();
  auto t0 = SteadyClock::now();
  ChildProcess agent;
  if (!agent.start({opt.berth, "agent", "--kubeconfig", kubeconfig, "--runtime", "simulated",
                    "--nodes", std::to_string(opt.nodes), "--zones", "local-1a,local-1b,local-1c",
                    "--max-pods", std::to_string(std::max(110, opt.pods_per_node + 10)), "-v", "0"}) ||
      !agent.waitFor("berth agent running")) {
    std::fprintf(stderr, "density_bench: berth agent did not start\n");
    server.stop();
    return 1;
  }
  double register_s = since(t0);
  std::printf("agent: %d nodes registered in %.1f s\n", opt.nodes, register_s);
  std::fflush(stdout);
  for (const char* ns : {"density", "density-latency"})
    (void)c->create(kNamespaces, "", json{{"metadata", {{"name", ns}}}});

  PodWatcher watcher(c);
  watcher.start(opt.timeout_s + 60);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the watch connect

  // ---- saturation ----
  double server_cpu0 = cpuSeconds(server.pid), agent_cpu0 = cpuSeconds(agent.pid);
  auto s0 = SteadyClock::now();
  std::atomic<int> failures{0};
  parallelFor(opt.deployments, opt.conns, [&](int i) {
    int replicas = total / opt.deployments + (i < total % opt.deployments ? 1 : 0);
    auto r = c->create(kDeployments, "density", deployment("sat-" + std::to_string(i), replicas));
    if (!r.isOk() && failures++ < 3)
      std::fprintf(stderr, "density_bench: deployment: %s\n", r.status().toString().c_str());
  });
  double created_s = since(s0);
  size_t sat_running = watcher.waitRunning("sat", total, std::chrono::seconds(opt.timeout_s));
  double sat_s = since(s0);
  double sat_server_cpu = cpuSeconds(server.pid) - server_cpu0;
  double sat_agent_cpu = cpuSeconds(agent.pid) - agent_cpu0;
  std::printf("saturation: %d Deployments created in %.2f s; %zu/%d pods Running %.2f s after the "
              "first create (%.0f pods/s); server CPU %.1f s (%.2f ms/pod), agent CPU %.1f s\n",
              opt.deployments, created_s, sat_running, total, sat_s, sat_running / sat_s,
              sat_server_cpu, sat_server_cpu * 1000 / std::max<size_t>(1, sat_running), sat_agent_cpu);
  std::fflush(stdout);

  // ---- settle ----
  // As a user would (`kubectl rollout status`) and as clusterloader2 waits for its saturation
  // controllers: the latency phase starts once every saturation Deployment reports its
  // replicas available, so it measures a loaded cluster, not the controllers' status backlog.
  auto settle0 = SteadyClock::now();
  size_t settled = 0;
  while (since(settle0) < opt.timeout_s) {
    auto list = c->list(kDeployments, "density");
    settled = 0;
    if (list.isOk())
      for (const auto& d : (*list)["items"]) {
        const auto& st = d["status"];
        int want = d["spec"].value("replicas", 1);
        if (st.is_object() && st.value("availableReplicas", 0) == want &&
            st.value("updatedReplicas", 0) == want &&
            st.value("observedGeneration", 0) == d["metadata"].value("generation", 0))
          ++settled;
      }
    if (settled == static_cast<size_t>(opt.deployments)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a bench poll, not a test wait
  }
  std::printf("settle: %zu/%d saturation Deployments report all replicas available %.2f s after "
              "the last pod was Running\n",
              settled, opt.deployments, since(settle0));
  std::fflush(stdout);

  // ---- latency ----
  std::vector<SteadyClock::time_point> sent(opt.latency_pods);
  auto l0 = SteadyClock::now();
  auto gap = std::chrono::duration<double>(1.0 / opt.latency_qps);
  for (int i = 0; i < opt.latency_pods; ++i) {
    std::this_thread::sleep_until(l0 + std::chrono::duration_cast<SteadyClock::duration>(gap * i));
    sent[i] = SteadyClock::now();
    auto r = c->create(kDeployments, "density-latency", deployment("lat-" + std::to_string(i), 1));
    if (!r.isOk() && failures++ < 3)
      std::fprintf(stderr, "density_bench: deployment: %s\n", r.status().toString().c_str());
  }
  double lat_create_s = since(l0);
  size_t lat_running =
      watcher.waitRunning("lat", opt.latency_pods, std::chrono::seconds(std::min(opt.timeout_s, 120)));
  auto seen = watcher.snapshot();
  std::vector<double> e2e, pod_to_running;
  std::vector<std::pair<double, int>> slowest;  // (ms, index): where in the phase the tail is
  for (const auto& [name, s] : seen) {
    if (s.app.rfind("lat-", 0) != 0 || s.running == SteadyClock::time_point{}) continue;
    int i = std::atoi(s.app.c_str() + 4);
    if (i < 0 || i >= opt.latency_pods) continue;
    e2e.push_back(std::chrono::duration<double, std::milli>(s.running - sent[i]).count());
    slowest.emplace_back(e2e.back(), i);
    pod_to_running.push_back(std::chrono::duration<double, std::milli>(s.running - s.first).count());
  }
  std::printf("latency: %d Deployments created at %.1f/s; %zu/%d pods Running\n", opt.latency_pods,
              opt.latency_pods / lat_create_s, lat_running, opt.latency_pods);
  std::printf("  Deployment create -> pod Running: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              percentile(e2e, 0.5), percentile(e2e, 0.9), percentile(e2e, 0.99), percentile(e2e, 1.0));
  std::printf("  pod created -> Running:           p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              percentile(pod_to_running, 0.5), percentile(pod_to_running, 0.9),
              percentile(pod_to_running, 0.99), percentile(pod_to_running, 1.0));
  std::sort(slowest.rbegin(), slowest.rend());
  std::printf("  slowest (Deployment number: ms):");
  for (size_t i = 0; i < slowest.size() && i < 6; ++i)
    std::printf(" #%d: %.0f", slowest[i].second, slowest[i].first);
  std::printf("\n");
  std::printf("server: CPU %.1f s in all, RSS %.0f MiB; agent: CPU %.1f s, RSS %.0f MiB\n",
              cpuSeconds(server.pid), statusKb(server.pid, "VmRSS") / 1024.0, cpuSeconds(agent.pid),
              statusKb(agent.pid, "VmRSS") / 1024.0);

  std::printf("\n%-58s | %s\n", "figure", "target");
  char line[200];
  if (sat_running == static_cast<size_t>(total))
    std::snprintf(line, sizeof line, "%d pods on %d nodes all Running in %.1f s", total, opt.nodes, sat_s);
  else
    std::snprintf(line, sizeof line, "only %zu/%d pods on %d nodes Running after %.1f s", sat_running,
                  total, opt.nodes, sat_s);
  std::printf("%-58s | %s\n", line, "<= 60 s on this machine");
  if (e2e.size() == static_cast<size_t>(opt.latency_pods))
    std::snprintf(line, sizeof line, "latency pods at %.0f/s: p99 create-to-Running %.0f ms",
                  opt.latency_qps, percentile(e2e, 0.99));
  else
    std::snprintf(line, sizeof line, "latency pods at %.0f/s: only %zu/%d Running", opt.latency_qps,
                  e2e.size(), opt.latency_pods);
  std::printf("%-58s | %s\n", line, "< 1,000 ms (upstream SLO 5,000 ms)");
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0)
    std::printf("load average at the end: %.1f %.1f %.1f (on %u cores)\n", load[0], load[1], load[2],
                std::thread::hardware_concurrency());
  std::fflush(stdout);
  watcher.stop();
  agent.stop();
  server.stop();
  if (opt.keep) std::printf("data kept in %s\n", dir.c_str());
  else fs::remove_all(dir);
  bool complete = sat_running == static_cast<size_t>(total) &&
                  lat_running == static_cast<size_t>(opt.latency_pods) && failures == 0;
  return complete ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  const char* env = std::getenv("BERTH_BIN");
  opt.berth = env ? env : "build-bench/cmd/berth";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::atof(argv[++i]) : 0.0; };
    if (a == "--nodes") opt.nodes = static_cast<int>(next());
    else if (a == "--pods-per-node") opt.pods_per_node = static_cast<int>(next());
    else if (a == "--deployments") opt.deployments = static_cast<int>(next());
    else if (a == "--latency-pods") opt.latency_pods = static_cast<int>(next());
    else if (a == "--latency-qps") opt.latency_qps = next();
    else if (a == "--conns") opt.conns = static_cast<int>(next());
    else if (a == "--timeout") opt.timeout_s = static_cast<int>(next());
    else if (a == "--keep") opt.keep = true;
    else if (a.rfind("--", 0) != 0) opt.berth = a;
    else {
      std::fprintf(stderr, "density_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (opt.nodes < 1 || opt.pods_per_node < 1 || opt.deployments < 1 || opt.latency_pods < 0 ||
      opt.latency_qps <= 0 || opt.conns < 1 || opt.timeout_s < 1) {
    std::fprintf(stderr, "density_bench: --nodes, --pods-per-node, --deployments, --conns, "
                         "--timeout and --latency-qps must be positive\n");
    return 2;
  }
  if (!fs::exists(opt.berth)) {
    std::fprintf(stderr, "density_bench: berth binary %s not found (pass it or set BERTH_BIN)\n",
                 opt.berth.c_str());
    return 2;
  }
  opt.berth = fs::absolute(opt.berth).string();
  signal(SIGPIPE, SIG_IGN);
  return run(opt);
}
