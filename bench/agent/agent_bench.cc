// agent_bench: the simulated node agent at scale, against the kubelet-lite issue's targets.
// Starts the real `berth server` (temp data dir, port 0, no controllers) and
// `berth agent --runtime simulated --nodes N`, creates P pods bound directly with
// spec.nodeName (round robin over the nodes) from C client threads, and watches them:
//   register  time until all N nodes are registered (the agent prints when it runs)
//   startup   create -> Running-with-IP as seen by a watch: p50 / p99 / max
//   rss       the agent's VmRSS with the nodes only, once all P pods run, and VmRSS / VmHWM
//             after the steady phase                       (target < 1 GiB)
//   heartbeat the agent's CPU (utime + stime from /proc/PID/stat) over S steady seconds with
//             nothing but leases and node status, as a share of one core (target < 25%)
//             S defaults to 70: one node-status period (60 s + jitter), six lease periods
// Prints "figure | target" lines and the machine, then stops both processes.
//
// --runtime runc (root, runc installed): one real node instead. Starts the local registry
// (scripts/test-registry.sh, or $BERTH_TEST_REGISTRY_SCRIPT) and `berth agent --runtime runc`,
// pulls berth/busybox:1 once with a warm-up pod, then measures create -> Running (phase
// Running with a pod IP, as seen by a watch) for pods of that cached image:
//   sequential  --sequential N pods created one after another (each waits for the previous)
//   burst       --burst M pods created at once (M client threads)
// p50 / p99 / max of each, against the target (p99 <= 1 s) and upstream's SLO (5 s).
//
// Both modes print the load average at the start and the end (the machine is shared).
//
// Usage: agent_bench [BERTH_BIN] [--nodes N] [--pods P] [--clients C] [--steady-seconds S]
//                    [--timeout SECONDS]
//        agent_bench [BERTH_BIN] --runtime runc [--sequential N] [--burst M] [--agent-v LEVEL]
// (--agent-v: the agent's log verbosity, its log on stderr, for profiling.)
// BERTH_BIN defaults to $BERTH_BIN, then build-bench/cmd/berth.
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/common/bench_util.h"
#include "client/rest_client.h"
#include "kubelet-lite/network/bridge_network.h"

namespace {

using namespace berth::bench;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const berth::client::Resource kPods{"", "v1", "pods", "Pod", true, {}};
const berth::client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false, {}};

// Runs `cmd` through the shell; returns its stdout (trailing newline dropped), or "" on failure.
std::string shell(const std::string& cmd, int* rc = nullptr) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Watches namespace `ns` and records, for every pod registered with expect(), how long after
// its registration the watch first showed it Running with a pod IP.
class StartupWatch {
 public:
  StartupWatch(berth::client::Client* client, const std::string& ns) {
    thread_ = std::thread([this, client, ns] {
      berth::client::WatchOptions wo;
      wo.resource_version = "0";
      wo.timeout_seconds = 3600;
      (void)client->watch(kPods, ns, wo, [this](const json& ev) { return seen(ev); }, &cancel_);
    });
  }
  ~StartupWatch() {
    cancel_.cancel();
    thread_.join();
  }
  // Call just before creating pod `name`.
  void expect(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    created_[name] = SteadyClock::now();
  }
  // Call when creating pod `name` failed.
  void forget(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    created_.erase(name);
    if (created_.empty()) cv_.notify_all();
  }
  // Waits until every expected pod ran or `timeout` passed; returns false on timeout.
  bool waitAll(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [this] { return created_.empty(); });
  }
  // Latencies (ms) recorded since the last take().
  std::vector<double> take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(latencies_, {});
  }

 private:
  bool seen(const json& ev) {
    const json& o = ev.value("object", json::object());
    if (!o.contains("status") || o["status"].value("phase", "") != "Running" ||
        o["status"].value("podIP", "").empty())
      return true;
    auto now = SteadyClock::now();
    std::lock_guard<std::mutex> l(mu_);
    auto it = created_.find(o["metadata"].value("name", ""));
    if (it == created_.end()) return true;
    latencies_.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    created_.erase(it);
    if (created_.empty()) cv_.notify_all();
    return true;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, SteadyClock::time_point> created_;
  std::vector<double> latencies_;
  berth::client::CancelToken cancel_;
  std::thread thread_;
};

json runcPod(const std::string& name, const std::string& node, const std::string& image) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
          {"spec", {{"nodeName", node}, {"terminationGracePeriodSeconds", 1},
                    {"containers", json::array({{{"name", "app"}, {"image", image},
                                                 {"command", json::array({"sleep", "3600"})}}})}}}};
}

void printLatencies(const char* what, std::vector<double> ms) {
  std::printf("%-12s n=%-3zu p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms | target p99 <= 1000 ms, "
              "upstream SLO 5000 ms\n",
              what, ms.size(), percentile(ms, 0.5), percentile(ms, 0.99), percentile(ms, 1.0));
}

// The runc mode (see the top comment). Returns the process exit code.
int runRunc(const std::string& bin, const std::string& dir, int sequential, int burst,
            const std::string& agent_v) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "agent_bench: --runtime runc needs root (network namespaces, cgroups, runc)\n");
    return 2;
  }
  int rc = 0;
  shell("command -v runc", &rc);
  if (rc != 0) {
    std::fprintf(stderr, "agent_bench: --runtime runc needs runc installed (scripts/install-deps.sh)\n");
    return 2;
  }
  const char* script_env = std::getenv("BERTH_TEST_REGISTRY_SCRIPT");
  std::string script = script_env ? script_env : "scripts/test-registry.sh";
  std::string registry_dir = dir + "/registry";
  fs::create_directories(registry_dir);
  std::string registry = shell(script + " start " + registry_dir, &rc);
  if (rc != 0 || registry.rfind("127.0.0.1:", 0) != 0) {
    std::fprintf(stderr, "agent_bench: the local registry did not start (%s start): %s\n",
                 script.c_str(), registry.c_str());
    return 1;
  }
  std::string image = registry + "/berth/busybox:1";
  std::string node = "bench-runc-" + std::to_string(getpid());
  std::printf("workload: one runc node; image %s cached by a warm-up pod; %d pods one after another, "
              "then %d at once\n", image.c_str(), sequential, burst);

  int result = 1;
  ChildProcess server, agent;
  auto cleanup = [&] {
    agent.stop();
    server.stop();
    shell(script + " stop " + registry_dir);
    shell("ip link del " + berth::kubelet::net::bridgeName(node) + " 2>/dev/null");
    std::string guard = berth::kubelet::net::BridgeNetwork::guardTable(node);
    if (!guard.empty()) shell("nft delete table ip " + guard + " 2>/dev/null");
  };
  if (!server.start({bin, "server", "--data-dir", dir + "/server", "--secure-port", "0",
                     "--controllers", "none"}) || !server.waitFor("serving at")) {
    std::fprintf(stderr, "agent_bench: berth server did not start\n");
    cleanup();
    return 1;
  }
  std::string kubeconfig = dir + "/server/admin.kubeconfig";
  auto client = berth::client::RestClient::fromKubeconfig(kubeconfig);
  if (!client.isOk() ||
      !agent.start({bin, "agent", "--kubeconfig", kubeconfig, "--runtime", "runc", "--node-name", node,
                    "--kubelet-port", "0", "--root-dir", dir + "/agent", "-v", agent_v}) ||
      !agent.waitFor("berth agent running")) {
    std::fprintf(stderr, "agent_bench: berth agent did not start\n");
    cleanup();
    return 1;
  }
  (void)(*client)->create(kNamespaces, "", json{{"metadata", {{"name", "bench"}}}});
  {
    StartupWatch watch(client->get(), "bench");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the watch connect
    auto create = [&](const std::string& name) {
      watch.expect(name);
      auto r = (*client)->create(kPods, "bench", runcPod(name, node, image));
      if (!r.isOk()) std::fprintf(stderr, "agent_bench: creating %s: %s\n", name.c_str(), r.status().toString().c_str());
      return r.isOk();
    };
    bool ok = create("warm") && watch.waitAll(std::chrono::seconds(180));
    std::vector<double> warm = watch.take();
    if (ok) std::printf("warm-up (pulls the image) %8.1f ms\n", warm.empty() ? -1.0 : warm[0]);
    for (int i = 0; ok && i < sequential; ++i)
      ok = create("seq-" + std::to_string(i)) && watch.waitAll(std::chrono::seconds(60));
    std::vector<double> seq = watch.take();
    std::vector<std::thread> creators;
    for (int i = 0; ok && i < burst; ++i)
      creators.emplace_back([&, i] { create("burst-" + std::to_string(i)); });
    for (auto& t : creators) t.join();
    if (ok) ok = watch.waitAll(std::chrono::seconds(120));
    std::vector<double> all = watch.take();
    if (!ok) {
      std::fprintf(stderr, "agent_bench: pods did not all reach Running in time\n");
    } else {
      printLatencies("sequential", seq);
      printLatencies("burst", all);
      result = 0;
    }
  }
  // Graceful deletion: the agent stops the containers, then deletes the pods; only then does
  // the agent stop (its containers outlive it by design).
  (void)(*client)->removeCollection(kPods, "bench", json::object());
  for (int i = 0; i < 900; ++i) {
    auto left = (*client)->list(kPods, "bench");
    if (!left.isOk() || (*left)["items"].empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  cleanup();
  return result;
}

void printLoad(const char* when) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0)
    std::printf("load average %s: %.2f %.2f %.2f (on %u cores)\n", when, load[0], load[1], load[2],
                std::thread::hardware_concurrency());
  std::fflush(stdout);
}

struct SimOptions {
  int nodes = 1000, pods = 30000, clients = 8;
  // Covers one node-status period (60 s + up to 10 % jitter) besides six lease periods.
  int steady_seconds = 70;
  int timeout_seconds = 900;  // for every pod to be Running
};

// The agent's CPU seconds, as a share of one core, over `seconds` of wall time from now.
double cpuShare(pid_t pid, int seconds) {
  double cpu0 = cpuSeconds(pid);
  auto s0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  double wall = std::chrono::duration<double>(SteadyClock::now() - s0).count();
  return 100.0 * (cpuSeconds(pid) - cpu0) / wall;
}

json simulatedPod(int i, int nodes) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"},
          {"metadata", {{"name", "p-" + std::to_string(i)}, {"labels", {{"app", "bench"}}}}},
          {"spec", {{"nodeName", "sim-node-" + std::to_string(i % nodes)},
                    {"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"},
                        {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}}})}}}};
}

// The simulated mode (see the top comment). Returns the process exit code.
int runSimulated(const std::string& bin, const std::string& dir, const SimOptions& opt) {
  std::printf("workload: %d simulated nodes in one agent, %d pods bound with spec.nodeName, %d client "
              "threads, %d s steady phase\n", opt.nodes, opt.pods, opt.clients, opt.steady_seconds);
  ChildProcess server, agent;
  if (!server.start({bin, "server", "--data-dir", dir, "--secure-port", "0", "--controllers", "none"}) ||
      !server.waitFor("serving at")) {
    std::fprintf(stderr, "agent_bench: berth server did not start\n");
    server.stop();
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
  if (!agent.start({bin, "agent", "--kubeconfig", kubeconfig, "--runtime", "simulated", "--nodes",
                    std::to_string(opt.nodes), "--zones", "local-1a,local-1b,local-1c", "-v", "0"}) ||
      !agent.waitFor("berth agent running")) {
    std::fprintf(stderr, "agent_bench: berth agent did not start\n");
    agent.stop();
    server.stop();
    return 1;
  }
  double register_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  long rss_idle = statusKb(agent.pid, "VmRSS");
  (void)(*client)->create(kNamespaces, "", json{{"metadata", {{"name", "bench"}}}});

  int result = 1;
  {
    StartupWatch watch(client->get(), "bench");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the watch connect
    auto c0 = SteadyClock::now();
    double agent_cpu0 = cpuSeconds(agent.pid);
    std::atomic<int> next{0}, failures{0};
    std::vector<std::thread> creators;
    for (int c = 0; c < opt.clients; ++c)
      creators.emplace_back([&] {
        for (int i = next++; i < opt.pods; i = next++) {
          std::string name = "p-" + std::to_string(i);
          watch.expect(name);
          if (!(*client)->create(kPods, "bench", simulatedPod(i, opt.nodes)).isOk()) {
            watch.forget(name);
            ++failures;
          }
        }
      });
    for (auto& t : creators) t.join();
    double create_s = std::chrono::duration<double>(SteadyClock::now() - c0).count();
    bool all = watch.waitAll(std::chrono::seconds(opt.timeout_seconds));
    double all_running_s = std::chrono::duration<double>(SteadyClock::now() - c0).count();
    double pods_cpu = cpuSeconds(agent.pid) - agent_cpu0;
    std::vector<double> latencies = watch.take();
    long rss_pods = statusKb(agent.pid, "VmRSS");
    printLoad("after the pods");

    // Steady state: only heartbeats remain (a Lease PUT per node every 10 s, a node status
    // PATCH every 60 s), no pod changes.
    double cpu_pct = cpuShare(agent.pid, opt.steady_seconds);
    long rss = statusKb(agent.pid, "VmRSS"), hwm = statusKb(agent.pid, "VmHWM");
    printLoad("after the steady phase");

    auto row = [](const std::string& figure, const std::string& target) {
      std::printf("%-52s | %s\n", figure.c_str(), target.c_str());
    };
    char f[160];
    row("figure", "target");
    std::snprintf(f, sizeof f, "register %d nodes: %.1f s", opt.nodes, register_s);
    row(f, "");
    std::snprintf(f, sizeof f, "create %d pods: %.1f s (%.0f pods/s, %d failed)", opt.pods, create_s,
                  opt.pods / std::max(create_s, 1e-9), failures.load());
    row(f, "");
    if (all) std::snprintf(f, sizeof f, "all Running (watch): %.1f s after the first create", all_running_s);
    else std::snprintf(f, sizeof f, "only %zu/%d Running after %.0f s", latencies.size(), opt.pods, all_running_s);
    row(f, "");
    std::snprintf(f, sizeof f, "create->Running p50 %.0f ms, p99 %.0f ms", percentile(latencies, 0.5),
                  percentile(latencies, 0.99));
    row(f, "upstream SLO p99 5000 ms (queued behind the creates)");
    std::snprintf(f, sizeof f, "agent CPU while the pods start: %.1f s (%.2f ms/pod)", pods_cpu,
                  opt.pods > 0 ? 1000.0 * pods_cpu / opt.pods : 0.0);
    row(f, "");
    std::snprintf(f, sizeof f, "agent RSS, nodes registered, no pods: %.1f MiB", rss_idle / 1024.0);
    row(f, "");
    std::snprintf(f, sizeof f, "agent RSS, all pods Running: %.1f MiB", rss_pods / 1024.0);
    row(f, "< 1024 MiB");
    std::snprintf(f, sizeof f, "agent RSS after the steady phase: %.1f MiB (peak %.1f)", rss / 1024.0,
                  hwm / 1024.0);
    row(f, "< 1024 MiB");
    std::snprintf(f, sizeof f, "agent CPU, heartbeats only, %d s: %.1f %% of a core", opt.steady_seconds,
                  cpu_pct);
    row(f, "< 25 %");
    result = all && failures == 0 ? 0 : 1;
  }
  agent.stop();
  server.stop();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin = std::getenv("BERTH_BIN") ? std::getenv("BERTH_BIN") : "build-bench/cmd/berth";
  SimOptions sim;
  int sequential = 50, burst = 20;
  std::string runtime = "simulated", agent_v = "0";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--nodes") sim.nodes = next();
    else if (a == "--pods") sim.pods = next();
    else if (a == "--clients") sim.clients = next();
    else if (a == "--steady-seconds") sim.steady_seconds = next();
    else if (a == "--timeout") sim.timeout_seconds = next();
    else if (a == "--sequential") sequential = next();
    else if (a == "--burst") burst = next();
    else if (a == "--runtime" && i + 1 < argc) runtime = argv[++i];
    else if (a == "--agent-v" && i + 1 < argc) agent_v = argv[++i];
    else if (a.rfind("--", 0) != 0) bin = a;
    else {
      std::fprintf(stderr, "agent_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (sim.nodes < 1 || sim.pods < 0 || sim.clients < 1 || sim.steady_seconds < 1 ||
      sim.timeout_seconds < 1 || sequential < 0 || burst < 0) {
    std::fprintf(stderr, "agent_bench: --nodes, --clients, --steady-seconds and --timeout must be "
                         "positive, --pods, --sequential and --burst not negative\n");
    return 2;
  }
  if (!fs::exists(bin)) {
    std::fprintf(stderr, "agent_bench: berth binary %s not found (pass it or set BERTH_BIN)\n", bin.c_str());
    return 2;
  }
  if (runtime != "simulated" && runtime != "runc") {
    std::fprintf(stderr, "agent_bench: --runtime is simulated or runc, not %s\n", runtime.c_str());
    return 2;
  }
  bin = fs::absolute(bin).string();
  std::string dir = (fs::temp_directory_path() / ("berth-agent-bench-" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  std::printf("machine: %u cores, %s, %ld MiB RAM\n", std::thread::hardware_concurrency(),
              cpuModel().c_str(), memTotalMiB());
  printLoad("at the start");
  int rc = runtime == "runc" ? runRunc(bin, dir, sequential, burst, agent_v) : runSimulated(bin, dir, sim);
  printLoad("at the end");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) std::fprintf(stderr, "agent_bench: could not remove %s: %s\n", dir.c_str(), ec.message().c_str());
  return rc;
}
