// scheduler_bench: the scheduler of the real `berth server` binding pods onto 1,000 Node objects
// (zones local-1a/b/c, no agents), measured against the controllers issue's target
// (>= 1,000 pods/s bound) with upstream's anchors printed beside it.
//
// Phases (loopback only, each bounded in time):
//   setup    `berth server --controllers none`: creates --nodes Nodes (labels, then allocatable
//            and Ready through the status subresource) and --pods pending pods in namespace
//            `bench`, spread over --owners ReplicaSet-like owners (an ownerReference each, so the
//            default zone/hostname spreading runs as it does for Deployments), then stops.
//   backlog  restarts the server on the same data with `--controllers scheduler`: every pod
//            is pending at start; measures from "serving at" until all are bound (includes the
//            scheduler's informer sync): pods bound/s.
//   steady   with the scheduler running, creates --steady-pods more pods at --conns
//            connections as fast as the server takes them: bound/s over the phase and
//            create-to-bound latency p50/p99 (from just before the POST to the watch event that
//            shows spec.nodeName).
// Finally it checks the zone spread of the bound pods and prints the machine.
//
// Usage: scheduler_bench [BERTH_BIN] [--nodes N] [--pods N] [--steady-pods N] [--owners N]
//                        [--conns C] [--keep]
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
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/common/bench_util.h"
#include "client/rest_client.h"

namespace {

using berth::client::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const berth::client::Resource kPods{"", "v1", "pods", "Pod", true, {}};
const berth::client::Resource kNodes{"", "v1", "nodes", "Node", false, {}};
const berth::client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false, {}};
const char* kZones[] = {"local-1a", "local-1b", "local-1c"};

struct Options {
  std::string berth;
  int nodes = 1000;
  int pods = 5000;
  int steady_pods = 2000;
  int owners = 50;
  int conns = 8;
  bool keep = false;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double percentileMs(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i] * 1000;
}

// The server as a child process; stdout is scanned for "serving at", stderr goes to a log.
class ServerProcess {
 public:
  ServerProcess(const std::string& bin, const std::string& dir, const std::string& controllers) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      FILE* log = std::fopen((dir + "/server.log").c_str(), "a");
      if (log) dup2(fileno(log), 2);
      close(out[0]);
      execl(bin.c_str(), bin.c_str(), "server", "--data-dir", dir.c_str(), "--secure-port", "0",
            "--controllers", controllers.c_str(), "-v", "2", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[4096];
    while (f && std::fgets(line, sizeof(line), f)) {
      if (std::string(line).find("serving at") != std::string::npos) {
        ok_ = true;
        break;
      }
    }
    // Keep draining stdout so the server never blocks on it.
    drain_ = std::thread([f] {
      char buf[4096];
      while (f && std::fgets(buf, sizeof(buf), f)) {
      }
      if (f) std::fclose(f);
    });
  }
  ~ServerProcess() { stop(); }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (drain_.joinable()) drain_.join();
  }
  bool ok() const { return ok_; }
  // CPU time (user + system) the server has used so far, in seconds.
  double cpuSeconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t p = s.rfind(')');
    if (p == std::string::npos) return 0;
    std::vector<std::string> f;
    std::string cur;
    for (size_t i = p + 2; i < s.size(); ++i) {
      if (s[i] == ' ') {
        f.push_back(cur);
        cur.clear();
      } else {
        cur += s[i];
      }
    }
    if (f.size() < 13) return 0;  // after the command: state(0) ... utime(11) stime(12)
    return (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / sysconf(_SC_CLK_TCK);
  }

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
  std::thread drain_;
};

// Runs fn(i) for i in [0, n) on `threads` threads.
void parallelFor(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  for (auto& t : ts) t.join();
}

json nodeObject(int i) {
  std::string name = "node-" + std::to_string(i);
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels", {{"kubernetes.io/hostname", name}, {"topology.kubernetes.io/zone", kZones[i % 3]}}}}}};
}

json nodeStatus() {
  json res = {{"cpu", "32"}, {"memory", "128Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}};
  return {{"capacity", res},
          {"allocatable", res},
          {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}}};
}

json podObject(const std::string& name, int owner) {
  std::string owner_name = "rs-" + std::to_string(owner);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "bench"},
            {"labels", {{"app", owner_name}}},
            {"ownerReferences",
             {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", owner_name},
               {"uid", "00000000-0000-0000-0000-" + std::to_string(100000000000 + owner)},
               {"controller", true}}}}}},
          {"spec",
           {{"containers",
             {{{"name", "c"},
               {"image", "registry.local/pause:3.9"},
               {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}}}}}};
}

bool createAll(berth::client::Client* c, const std::vector<json>& objs,
               const berth::client::Resource& r, const std::string& ns, int conns) {
  std::atomic<int> errors{0};
  parallelFor(static_cast<int>(objs.size()), conns, [&](int i) {
    auto res = c->create(r, ns, objs[i]);
    if (!res.isOk() && errors++ < 3) std::fprintf(stderr, "create: %s\n", res.status().toString().c_str());
  });
  return errors == 0;
}

// Watches pods of namespace bench and records when each first shows a node.
class BoundWatcher {
 public:
  explicit BoundWatcher(berth::client::Client* c) : c_(c) {}
  ~BoundWatcher() { stop(); }
  // Lists (pods bound already count as bound now), then watches from the list's revision.
  bool start() {
    auto list = c_->list(kPods, "bench");
    if (!list.isOk()) return false;
    auto now = Clock::now();
    for (const auto& p : (*list)["items"]) observe(p, now);
    std::string rv = (*list)["metadata"].value("resourceVersion", "");
    thread_ = std::thread([this, rv] {
      berth::client::WatchOptions o;
      o.resource_version = rv;
      o.timeout_seconds = 600;
      auto st = c_->watch(kPods, "bench", o,
                          [this](const json& ev) {
                            if (ev.value("type", "") != "BOOKMARK") observe(ev["object"], Clock::now());
                            return true;
                          },
                          &cancel_);
      if (!st.isOk()) std::fprintf(stderr, "watch: %s\n", st.toString().c_str());
    });
    return true;
  }
  void stop() {
    cancel_.cancel();
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `n` pods are bound or `timeout`; returns how many are.
  size_t waitBound(size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return bound_.size() >= n; });
    return bound_.size();
  }
  std::unordered_map<std::string, std::pair<Clock::time_point, std::string>> bound() {
    std::lock_guard<std::mutex> l(mu_);
    return bound_;
  }

 private:
  void observe(const json& pod, Clock::time_point at) {
    std::string node = pod["spec"].value("nodeName", "");
    if (node.empty()) return;
    std::lock_guard<std::mutex> l(mu_);
    if (bound_.emplace(pod["metadata"].value("name", ""), std::make_pair(at, node)).second)
      cv_.notify_all();
  }
  berth::client::Client* c_;
  berth::client::CancelToken cancel_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, std::pair<Clock::time_point, std::string>> bound_;
};

std::unique_ptr<berth::client::RestClient> connect(const std::string& dir) {
  berth::client::RestClient::Options o;
  o.user_agent = "scheduler-bench";
  auto kc = berth::client::loadKubeConfig(dir + "/admin.kubeconfig");
  if (!kc.isOk()) {
    std::fprintf(stderr, "kubeconfig: %s\n", kc.status().toString().c_str());
    return nullptr;
  }
  return std::make_unique<berth::client::RestClient>(*kc, o);
}

int run(const Options& opt) {
  char tmpl[] = "/tmp/scheduler_bench.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  std::printf("scheduler_bench: %d nodes, %d backlog pods, %d steady pods, %d owners, %d conns\n",
              opt.nodes, opt.pods, opt.steady_pods, opt.owners, opt.conns);
  std::printf("machine: %u cores, %s, %ld MiB RAM\n", std::thread::hardware_concurrency(),
              berth::bench::cpuModel().c_str(), berth::bench::memTotalMiB());
  std::fflush(stdout);

  // ---- setup: nodes and a backlog of pending pods, no scheduler ----
  {
    ServerProcess server(opt.berth, dir, "none");
    if (!server.ok()) {
      std::fprintf(stderr, "berth server did not start (see %s/server.log)\n", dir.c_str());
      return 1;
    }
    auto c = connect(dir);
    if (!c) return 1;
    auto t0 = Clock::now();
    (void)c->create(kNamespaces, "", json{{"metadata", {{"name", "bench"}}}});
    std::atomic<int> errors{0};
    parallelFor(opt.nodes, opt.conns, [&](int i) {
      json n = nodeObject(i);
      auto r = c->create(kNodes, "", n);
      if (r.isOk()) {
        json body = *r;
        body["status"] = nodeStatus();
        r = c->update(kNodes, "", n["metadata"]["name"], body, "status");
      }
      if (!r.isOk() && errors++ < 3) std::fprintf(stderr, "node: %s\n", r.status().toString().c_str());
    });
    std::printf("setup: %d nodes in %.1f s\n", opt.nodes, seconds(Clock::now() - t0));
    std::vector<json> pods;
    for (int i = 0; i < opt.pods; ++i) pods.push_back(podObject("b-" + std::to_string(i), i % opt.owners));
    t0 = Clock::now();
    if (!createAll(c.get(), pods, kPods, "bench", opt.conns) || errors > 0) return 1;
    double s = seconds(Clock::now() - t0);
    std::printf("setup: %d pending pods in %.1f s (%.0f creates/s)\n", opt.pods, s, opt.pods / s);
    std::fflush(stdout);
  }

  // ---- backlog: the scheduler starts with every pod pending ----
  ServerProcess server(opt.berth, dir, "scheduler");
  auto serving = Clock::now();
  if (!server.ok()) {
    std::fprintf(stderr, "berth server did not restart (see %s/server.log)\n", dir.c_str());
    return 1;
  }
  auto c = connect(dir);
  if (!c) return 1;
  BoundWatcher watcher(c.get());
  if (!watcher.start()) return 1;
  size_t got = watcher.waitBound(opt.pods, std::chrono::seconds(300));
  auto backlog_done = Clock::now();
  double backlog_s = seconds(backlog_done - serving);
  double backlog_rate = got / backlog_s;
  double backlog_cpu = server.cpuSeconds();
  std::printf("\nbacklog: %zu/%d pods bound %.2f s after the server was serving: %.0f pods/s; "
              "server CPU %.2f ms per pod (%.0f pods/s per core of server CPU)\n",
              got, opt.pods, backlog_s, backlog_rate, backlog_cpu * 1000 / got, got / backlog_cpu);
  std::fflush(stdout);

  // ---- steady: create while the scheduler binds ----
  std::vector<json> pods;
  for (int i = 0; i < opt.steady_pods; ++i)
    pods.push_back(podObject("s-" + std::to_string(i), i % opt.owners));
  std::vector<Clock::time_point> sent(pods.size());
  auto t0 = Clock::now();
  parallelFor(static_cast<int>(pods.size()), opt.conns, [&](int i) {
    sent[i] = Clock::now();
    auto r = c->create(kPods, "bench", pods[i]);
    if (!r.isOk()) std::fprintf(stderr, "create: %s\n", r.status().toString().c_str());
  });
  double create_s = seconds(Clock::now() - t0);
  double cpu0 = backlog_cpu;
  got = watcher.waitBound(opt.pods + opt.steady_pods, std::chrono::seconds(300));
  auto bound = watcher.bound();
  std::vector<double> lat;
  Clock::time_point last = t0;
  for (int i = 0; i < opt.steady_pods; ++i) {
    auto it = bound.find("s-" + std::to_string(i));
    if (it == bound.end()) continue;
    lat.push_back(seconds(it->second.first - sent[i]));
    last = std::max(last, it->second.first);
  }
  double steady_s = seconds(last - t0);
  double steady_rate = lat.size() / steady_s;
  double steady_cpu = server.cpuSeconds() - cpu0;
  std::printf("steady: %zu/%d pods created at %.0f/s and bound in %.2f s: %.0f pods/s; "
              "create-to-bound p50 %.1f ms, p99 %.1f ms; server CPU %.2f ms per pod (create+bind)\n",
              lat.size(), opt.steady_pods, opt.steady_pods / create_s, steady_s, steady_rate,
              percentileMs(lat, 0.5), percentileMs(lat, 0.99), steady_cpu * 1000 / lat.size());

  // ---- spread check ----
  std::map<std::string, int> per_zone;
  std::map<std::string, int> per_node;
  for (const auto& [name, b] : bound) {
    int idx = std::atoi(b.second.c_str() + 5);  // node-<i>
    ++per_zone[kZones[idx % 3]];
    ++per_node[b.second];
  }
  int max_node = 0;
  for (const auto& [n, k] : per_node) max_node = std::max(max_node, k);
  std::printf("spread: ");
  for (const auto& [z, k] : per_zone) std::printf("%s=%d ", z.c_str(), k);
  std::printf("; %zu nodes used, at most %d pods on one node\n", per_node.size(), max_node);

  std::printf("\n%-44s | %s\n", "figure", "reference");
  std::printf("%-44s | %s\n", ("backlog " + std::to_string(static_cast<int>(backlog_rate)) +
                               " pods/s bound").c_str(),
              "target >= 1,000 pods/s at 1,000 nodes");
  std::printf("%-44s | %s\n", "", "upstream scheduler_perf: 680-810 pods/s at 5,000 nodes");
  std::printf("%-44s | %s\n", "", "upstream SLO floor: 100 pods/s");
  std::printf("%-44s | %s\n",
              ("steady " + std::to_string(static_cast<int>(steady_rate)) +
               " pods/s (create+bind on one server)").c_str(),
              "same references");
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0)
    std::printf("load average at the end: %.1f %.1f %.1f (on %u cores; figures scale with the CPU "
                "the server got)\n", load[0], load[1], load[2], std::thread::hardware_concurrency());
  std::fflush(stdout);
  watcher.stop();
  server.stop();
  if (!opt.keep) fs::remove_all(dir);
  else std::printf("data kept in %s\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  const char* env = std::getenv("BERTH_BIN");
  opt.berth = env ? env : "build-bench/cmd/berth";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](int* v) {
      if (i + 1 < argc) *v = std::atoi(argv[++i]);
    };
    if (a == "--nodes") next(&opt.nodes);
    else if (a == "--pods") next(&opt.pods);
    else if (a == "--steady-pods") next(&opt.steady_pods);
    else if (a == "--owners") next(&opt.owners);
    else if (a == "--conns") next(&opt.conns);
    else if (a == "--keep") opt.keep = true;
    else if (!a.empty() && a[0] != '-') opt.berth = a;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (opt.nodes < 1 || opt.pods < 1 || opt.owners < 1 || opt.conns < 1) {
    std::fprintf(stderr, "--nodes, --pods, --owners and --conns must be at least 1\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  return run(opt);
}
