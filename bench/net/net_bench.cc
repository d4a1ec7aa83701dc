// net_bench: Service routing and endpoint-change latency on a real local cluster (root).
// Brings up `berth cluster create -f` with 3 private runc nodes (one per zone) and a loopback
// registry, deploys 3 busybox httpd pods (one per zone) behind a ClusterIP Service, then:
//   paths  requests/s and latency p50/p99 at a fixed concurrency, straight to one pod IP and
//          through the ClusterIP, from inside a node's namespace (`ip netns exec`), and through
//          a Service type=LoadBalancer's address from the host (its leg into the internet
//          namespace) when the cluster gives the Service an address; rounds interleave the paths.
//   flips  readiness flips of the pods (kubectl exec removes / recreates the file an exec
//          readiness probe reads): time from the EndpointSlice (watched by the bench) showing
//          the endpoint not ready to every node's proxy table no longer DNATing to it (each
//          node's `nft monitor` reports the committed table), p50/p99/max.
// Prints figures beside their targets and the machine; deletes the cluster at the end, also on
// failure or SIGINT/SIGTERM, and lists anything left behind.
//
// Usage: net_bench [BERTH_BIN] [--conns C] [--seconds S] [--rounds R] [--flips N]
//                  [--registry-script PATH] [--skip-paths] [--skip-flips]
// Internal: net_bench --load-client IP PORT CONNS SECONDS WARMUP (one JSON line; run in a netns)
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/common/bench_util.h"
#include "bench/net/agent_trace.h"
#include "bench/net/bench_cluster.h"
#include "bench/net/load_client.h"
#include "bench/net/readiness_watch.h"
#include "bench/net/rule_monitor.h"
#include "client/rest_client.h"

namespace {

using namespace berth::bench;
using namespace berth::bench::net;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kNs[] = "netbench";

struct Options {
  std::string bin = std::getenv("BERTH_BIN") ? std::getenv("BERTH_BIN") : "build-bench/cmd/berth";
  std::string registry_script = std::getenv("BERTH_TEST_REGISTRY_SCRIPT")
                                    ? std::getenv("BERTH_TEST_REGISTRY_SCRIPT") : "scripts/test-registry.sh";
  int conns = 16, rounds = 3, flips = 100;
  double seconds = 5, warmup = 1;
  bool paths = true, flip_phase = true;
};

struct Pod {
  std::string name, ip, node;
};

struct PathFigures {
  std::string label;
  std::vector<LoadResult> rounds;
};

int loadClientMain(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "net_bench --load-client IP PORT CONNS SECONDS WARMUP\n");
    return 2;
  }
  LoadResult r = runLoad(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atof(argv[5]), std::atof(argv[6]));
  std::printf("%s\n", toJsonLine(r).c_str());
  return 0;
}

bool parseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--conns") o->conns = std::atoi(next());
    else if (a == "--seconds") o->seconds = std::atof(next());
    else if (a == "--rounds") o->rounds = std::atoi(next());
    else if (a == "--flips") o->flips = std::atoi(next());
    else if (a == "--registry-script") o->registry_script = next();
    else if (a == "--skip-paths") o->paths = false;
    else if (a == "--skip-flips") o->flip_phase = false;
    else if (a.rfind("--", 0) != 0) o->bin = a;
    else {
      std::fprintf(stderr, "net_bench: unknown flag %s\n", a.c_str());
      return false;
    }
  }
  if (o->conns < 1 || o->rounds < 1 || o->seconds <= 0 || o->flips < 0) {
    std::fprintf(stderr, "net_bench: --conns, --rounds and --seconds must be positive, --flips >= 0\n");
    return false;
  }
  return true;
}

std::string webManifest(const std::string& image) {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + std::string(kNs) + "}\n---\n"
         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: " + kNs + "}\n"
         "spec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n"
         "    metadata: {labels: {app: web}}\n    spec:\n"
         "      topologySpreadConstraints:\n"
         "      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,\n"
         "         labelSelector: {matchLabels: {app: web}}}\n"
         "      containers:\n      - name: web\n        image: " + image + "\n"
         "        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && touch /tmp/ready"
         " && exec httpd -f -p 8080 -h /www']\n"
         "        readinessProbe:\n          exec: {command: [cat, /tmp/ready]}\n"
         "          periodSeconds: 1\n          timeoutSeconds: 5\n          failureThreshold: 1\n---\n"
         "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: " + kNs + "}\n"
         "spec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";
}

berth::Result<std::vector<Pod>> deployWeb(const BenchCluster& c) {
  BERTH_RETURN_IF_ERROR(c.kubectlOk({"apply", "-f", "-"}, webManifest(c.image())).status());
  BERTH_RETURN_IF_ERROR(c.kubectlOk({"-n", kNs, "rollout", "status", "deploy/web", "--timeout=240s"}, "",
                                    std::chrono::seconds(260)).status());
  BERTH_RETURN_IF_ERROR(c.kubectlOk({"-n", kNs, "wait", "--for=condition=Ready", "pod", "-l", "app=web",
                                     "--timeout=120s"}, "", std::chrono::seconds(140)).status());
  BERTH_ASSIGN_OR_RETURN(std::string out, c.kubectlOk({"-n", kNs, "get", "pods", "-l", "app=web", "-o", "json"}));
  std::vector<Pod> pods;
  std::set<std::string> nodes;
  std::string got;
  json list = json::parse(out, nullptr, false);
  for (const auto& p : list.is_object() ? list["items"] : json::array()) {
    Pod pod{p["metadata"].value("name", ""), p["status"].value("podIP", ""), p["spec"].value("nodeName", "")};
    got += " " + pod.name + "=" + pod.ip + "@" + pod.node;
    nodes.insert(pod.node);
    pods.push_back(std::move(pod));
  }
  if (pods.size() != 3 || nodes.size() != 3)
    return berth::internalError("expected 3 web pods on 3 nodes, got" + got);
  return pods;
}

// Runs the load client inside `netns` (or on the host when empty) against ip:port.
LoadResult loadFrom(const std::string& netns, const std::string& ip, int port, const Options& o) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> argv;
  if (!netns.empty()) argv = {"ip", "netns", "exec", netns};
  for (const std::string& a : {self, std::string("--load-client"), ip, std::to_string(port),
                               std::to_string(o.conns), std::to_string(o.seconds), std::to_string(o.warmup)})
    argv.push_back(a);
  auto r = runCommand(argv, "", std::chrono::seconds(static_cast<long>(o.seconds + o.warmup) + 60));
  LoadResult lr;
  std::string last = r.out.substr(0, r.out.find_last_not_of('\n') + 1);
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  if (!fromJsonLine(last, &lr)) lr.first_error = "load client: " + describe(argv, r);
  return lr;
}

double medianOf(const std::vector<LoadResult>& rs, double LoadResult::*f) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(r.*f);
  return percentile(v, 0.5);
}
double medianRate(const std::vector<LoadResult>& rs) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(r.rate());
  return percentile(v, 0.5);
}

// The Service type=LoadBalancer's address and port, when the cluster gives it one within a
// minute and the host routes it into the cluster's own leg (never off the machine).
std::optional<std::pair<std::string, int>> loadBalancerTarget(const BenchCluster& c, std::string* why) {
  auto applied = c.kubectlOk({"apply", "-f", "-"},
      "apiVersion: v1\nkind: Service\nmetadata: {name: web-lb, namespace: " + std::string(kNs) + "}\n"
      "spec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n");
  if (!applied.isOk()) {
    *why = applied.status().message();
    return std::nullopt;
  }
  auto waited = c.kubectl({"-n", kNs, "wait", "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
                           "service/web-lb", "--timeout=90s"}, "", std::chrono::seconds(100));
  if (waited.exit_code != 0) {
    auto ev = c.kubectl({"-n", kNs, "get", "events", "--field-selector", "involvedObject.name=web-lb"});
    *why = "no address on Service web-lb within 90 s (" + waited.err + ") " + ev.out;
    return std::nullopt;
  }
  std::string ip = c.kubectl({"-n", kNs, "get", "service/web-lb", "-o",
                              "jsonpath={.status.loadBalancer.ingress[0].ip}"}).out;
  std::ifstream in(c.networkStatePath());
  json net = json::parse(in, nullptr, false);
  std::string prefix = net.is_object() ? net.value("prefix", "") : "";
  auto route = runCommand({"ip", "-j", "route", "get", ip});
  json rj = json::parse(route.out, nullptr, false);
  std::string dev = rj.is_array() && !rj.empty() ? rj[0].value("dev", "") : "";
  if (prefix.empty() || dev.rfind(prefix, 0) != 0) {
    *why = "the host routes " + ip + " through \"" + dev + "\", not the cluster's leg (prefix \"" +
           prefix + "\"): not sending";
    return std::nullopt;
  }
  return std::make_pair(ip, 80);
}

void printPaths(const std::vector<PathFigures>& paths, const Options& o) {
  std::printf("\n%-44s %10s %9s %9s %8s %s\n", "path (median of rounds)", "req/s", "p50 ms", "p99 ms",
              "errors", "vs direct");
  double direct = paths.empty() ? 0 : medianRate(paths[0].rounds);
  for (const auto& p : paths) {
    long errors = 0;
    for (const auto& r : p.rounds) errors += r.errors;
    double rate = medianRate(p.rounds);
    std::printf("%-44s %10.0f %9.2f %9.2f %8ld %8.0f%%\n", p.label.c_str(), rate,
                medianOf(p.rounds, &LoadResult::p50_ms), medianOf(p.rounds, &LoadResult::p99_ms), errors,
                direct > 0 ? 100.0 * rate / direct : 0.0);
    for (const auto& r : p.rounds)
      if (!r.first_error.empty()) std::printf("    first error: %s\n", r.first_error.c_str());
  }
  std::printf("(%d connections, %.0f s per round after %.0f s warm-up, %d rounds; keep-alive: %s)\n",
              o.conns, o.seconds, o.warmup, o.rounds,
              !paths.empty() && !paths[0].rounds.empty() && paths[0].rounds[0].keepalive
                  ? "yes" : "no, the server closes: one TCP connection per request on every path");
  std::printf("target: load balancer path >= 80%% of direct\n");
}

void runPaths(const BenchCluster& c, const std::vector<Pod>& pods, const Options& o) {
  // The client sits on the first pod's node; "direct" goes to a pod on another node.
  const Pod& local = pods[0];
  const Pod& remote = pods[1];
  std::string netns = c.nodeNetns(local.node);
  std::string cluster_ip = c.kubectl({"-n", kNs, "get", "service/web", "-o", "jsonpath={.spec.clusterIP}"}).out;
  std::printf("\nclient: node %s (namespace %s), which also runs %s\n", local.node.c_str(), netns.c_str(),
              local.name.c_str());
  std::vector<PathFigures> paths = {{"direct: pod IP " + remote.ip + " (another node)", {}},
                                    {"ClusterIP " + cluster_ip + " -> 3 pods", {}}};
  std::string why;
  auto lb = loadBalancerTarget(c, &why);
  if (lb) paths.push_back({"load balancer " + lb->first + " from the host -> 3 pods", {}});
  else std::printf("load balancer path: skipped: %s\n", why.c_str());
  for (int round = 0; round < o.rounds; ++round) {
    paths[0].rounds.push_back(loadFrom(netns, remote.ip, 8080, o));
    paths[1].rounds.push_back(loadFrom(netns, cluster_ip, 80, o));
    if (lb) paths[2].rounds.push_back(loadFrom("", lb->first, lb->second, o));
    std::printf("round %d: %.0f / %.0f%s req/s\n", round + 1, paths[0].rounds.back().rate(),
                paths[1].rounds.back().rate(),
                lb ? (" / " + std::to_string(static_cast<long>(paths[2].rounds.back().rate()))).c_str() : "");
    std::fflush(stdout);
  }
  printPaths(paths, o);
}

void printLatency(const char* what, std::vector<double> v, const char* target) {
  if (v.empty()) {
    std::printf("%-52s no samples\n", what);
    return;
  }
  std::printf("%-52s p50 %7.1f  p99 %7.1f  max %7.1f ms (n=%zu)%s\n", what, percentile(v, 0.5),
              percentile(v, 0.99), percentile(v, 1.0), v.size(), target);
}

// One readiness flip of `pod`: unready, measured, then ready again (also measured).
struct FlipSample {
  bool ok = false;
  double slice_to_rules = 0, pod_to_rules = 0, slice_to_first_node = 0, ready_slice_to_rules = 0;
  double pod_to_slice = 0;
  // Wall-clock (unix µs), for matching the agents' logged syncs: the flip's start, the bench
  // seeing the slice not ready, and each monitor's commit without the pod (monitor order).
  int64_t start_us = 0, slice_us = 0;
  std::vector<int64_t> commit_us;
  std::string error;
};

// Unix µs of a steady-clock time point (both clocks read now).
int64_t wallMicros(Clock::time_point t) {
  auto wall = std::chrono::system_clock::now();
  auto steady = Clock::now();
  auto at = wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(steady - t);
  return std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
}

FlipSample flipOnce(const BenchCluster& c, const Pod& pod, ReadinessWatch& watch,
                    std::vector<std::unique_ptr<RuleMonitor>>& monitors) {
  using View = ReadinessWatch::View;
  FlipSample s;
  constexpr auto kTimeout = std::chrono::milliseconds(30000);
  auto t0 = Clock::now();
  auto r = c.kubectl({"-n", kNs, "exec", pod.name, "--", "rm", "/tmp/ready"});
  if (r.exit_code != 0) {
    s.error = "exec rm: " + r.err;
    return s;
  }
  auto slice = watch.waitFor(View::kSlice, pod.ip, false, t0, kTimeout);
  auto pod_unready = watch.waitFor(View::kPod, pod.ip, false, t0, kTimeout);
  std::optional<Clock::time_point> last, first;
  s.start_us = wallMicros(t0);
  for (auto& m : monitors) {
    auto at = m->waitFor(pod.ip, false, t0, kTimeout);
    if (!at) {
      s.error = "a node's rules kept " + pod.ip + " for 30 s";
      return s;
    }
    last = std::max(last.value_or(*at), *at);
    first = std::min(first.value_or(*at), *at);
    s.commit_us.push_back(wallMicros(*at));
  }
  if (!slice || !pod_unready) {
    s.error = "the watches did not see " + pod.ip + " turn unready";
    return s;
  }
  s.slice_to_rules = std::chrono::duration<double, std::milli>(*last - *slice).count();
  s.slice_to_first_node = std::chrono::duration<double, std::milli>(*first - *slice).count();
  s.pod_to_rules = std::chrono::duration<double, std::milli>(*last - *pod_unready).count();
  s.pod_to_slice = std::chrono::duration<double, std::milli>(*slice - *pod_unready).count();
  s.slice_us = wallMicros(*slice);
  auto t1 = Clock::now();
  r = c.kubectl({"-n", kNs, "exec", pod.name, "--", "touch", "/tmp/ready"});
  if (r.exit_code != 0) {
    s.error = "exec touch: " + r.err;
    return s;
  }
  auto ready = watch.waitFor(View::kSlice, pod.ip, true, t1, kTimeout);
  std::optional<Clock::time_point> back;
  for (auto& m : monitors) {
    auto at = m->waitFor(pod.ip, true, t1, kTimeout);
    if (!at || !ready) {
      s.error = pod.ip + " did not come back into every node's rules within 30 s";
      return s;
    }
    back = std::max(back.value_or(*at), *at);
  }
  s.ready_slice_to_rules = std::chrono::duration<double, std::milli>(*back - *ready).count();
  s.ok = true;
  return s;
}

// Splits "slice not ready -> out of a node's rules" by the agents' own log of each sync, for
// every node and for the slowest node of each flip.
void printStages(const BenchCluster& c, const std::vector<Pod>& pods, const std::vector<FlipSample>& flips) {
  struct Stages {
    std::vector<double> deliver, wait, render, nft, nft_cpu, monitor;
  } all, slowest;
  std::vector<std::vector<ProxySyncTrace>> syncs;
  for (const auto& p : pods) syncs.push_back(readProxySyncs(c.agentLogPath(p.node)));
  int unmatched = 0;
  for (const auto& f : flips) {
    std::optional<size_t> slow;
    std::vector<std::optional<ProxySyncTrace>> matched;
    for (size_t n = 0; n < f.commit_us.size() && n < syncs.size(); ++n) {
      matched.push_back(syncBefore(syncs[n], f.start_us, f.commit_us[n]));
      if (!matched.back()) {
        ++unmatched;
        continue;
      }
      if (!slow || f.commit_us[n] > f.commit_us[*slow]) slow = n;
    }
    for (size_t n = 0; n < matched.size(); ++n) {
      if (!matched[n]) continue;
      const ProxySyncTrace& t = *matched[n];
      for (Stages* st : {&all, slow == n ? &slowest : nullptr}) {
        if (!st) continue;
        st->deliver.push_back((t.event_us - f.slice_us) / 1000.0);
        st->wait.push_back((t.applied_us - t.event_us) / 1000.0 - t.render_ms - t.nft_ms);
        st->render.push_back(t.render_ms);
        st->nft.push_back(t.nft_ms);
        if (t.nft_cpu_ms) st->nft_cpu.push_back(*t.nft_cpu_ms);
        st->monitor.push_back((f.commit_us[n] - t.applied_us) / 1000.0);
      }
    }
  }
  std::printf("\nwhere the time goes (agents' logged syncs; %d node commits without a matching sync):\n",
              unmatched);
  for (auto [label, st] : {std::pair<const char*, Stages*>{"every node", &all}, {"slowest node", &slowest}}) {
    std::printf(" %s:\n", label);
    printLatency("  bench's slice watch -> agent informer event", st->deliver, " (negative: agent first)");
    printLatency("  informer event -> sync thread starts", st->wait, "");
    printLatency("  render (model + script)", st->render, "");
    printLatency("  nft transaction", st->nft, "");
    if (!st->nft_cpu.empty()) printLatency("    of which the agent thread's CPU", st->nft_cpu, "");
    printLatency("  applied -> bench's nft monitor line", st->monitor, "");
  }
}

void runFlips(const BenchCluster& c, const std::vector<Pod>& pods, const Options& o) {
  auto client = berth::client::RestClient::fromKubeconfig(c.kubeconfig());
  if (!client.isOk()) {
    std::printf("flips: skipped: %s\n", client.status().toString().c_str());
    return;
  }
  ReadinessWatch watch(client->get(), kNs, "web");
  watch.start();
  std::vector<std::unique_ptr<RuleMonitor>> monitors;
  for (const auto& p : pods) {
    monitors.push_back(std::make_unique<RuleMonitor>(c.nodeNetns(p.node)));
    if (!monitors.back()->start()) {
      std::printf("flips: skipped: nft monitor in %s did not start\n", c.nodeNetns(p.node).c_str());
      return;
    }
  }
  std::printf("\nreadiness flips: %d (exec probe every 1 s on /tmp/ready; kubectl exec rm / touch)\n", o.flips);
  std::vector<double> slice_rules, pod_rules, first_node, ready_rules, pod_slice;
  std::vector<FlipSample> measured;
  int failed = 0;
  for (int i = 0; i < o.flips; ++i) {
    FlipSample s = flipOnce(c, pods[i % pods.size()], watch, monitors);
    if (!s.ok) {
      ++failed;
      std::printf("  flip %d (%s): %s\n", i + 1, pods[i % pods.size()].name.c_str(), s.error.c_str());
      continue;
    }
    slice_rules.push_back(s.slice_to_rules);
    pod_rules.push_back(s.pod_to_rules);
    first_node.push_back(s.slice_to_first_node);
    ready_rules.push_back(s.ready_slice_to_rules);
    pod_slice.push_back(s.pod_to_slice);
    measured.push_back(s);
    if ((i + 1) % 10 == 0) {
      std::printf("  %d flips done\n", i + 1);
      std::fflush(stdout);
    }
  }
  for (auto& m : monitors) m->stop();
  watch.stop();
  std::printf("\nendpoint change -> rule update (%d flips measured, %d failed):\n",
              static_cast<int>(slice_rules.size()), failed);
  printLatency("  slice not ready -> out of every node's rules", slice_rules, " | target p99 < 100 ms");
  printLatency("  slice not ready -> out of the first node's rules", first_node, "");
  printLatency("  pod Ready=False -> out of every node's rules", pod_rules, "");
  printLatency("  slice ready again -> back in every node's rules", ready_rules, "");
  printLatency("  pod Ready=False -> slice not ready (API watches)", pod_slice, "");
  std::printf("  (times are when the bench's own API watches and each node's `nft monitor` reported the\n"
              "   change; they include the agent's watch delivery, rendering and the nft commit)\n");
  printStages(c, pods, measured);
}

void printMachine() {
  utsname u{};
  uname(&u);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("machine: %u cores, %s, %ld MiB RAM, %s %s, load average %.1f\n",
              std::thread::hardware_concurrency(), cpuModel().c_str(), memTotalMiB(), u.sysname, u.release,
              load[0]);
}

BenchCluster* g_cluster = nullptr;

void reportTeardown(BenchCluster& c) {
  auto left = c.teardown();
  if (left.empty()) std::printf("teardown: cluster %s deleted, nothing left behind\n", c.name().c_str());
  for (const auto& l : left) std::printf("teardown: LEFT BEHIND: %s\n", l.c_str());
  std::fflush(stdout);
}

// SIGINT/SIGTERM are blocked in every thread and taken here: tear down, then exit.
void startSignalThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::printf("\nnet_bench: signal %d: tearing down\n", sig);
    if (g_cluster) reportTeardown(*g_cluster);
    _exit(128 + sig);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--load-client") return loadClientMain(argc, argv);
  Options o;
  if (!parseArgs(argc, argv, &o)) return 2;
  if (geteuid() != 0) {
    std::fprintf(stderr, "net_bench: needs root (berth cluster create makes network namespaces, "
                         "nftables tables and runc containers); run it with sudo\n");
    return 2;
  }
  for (const char* tool : {"runc", "nft", "ip", "kubectl", "stdbuf"})
    if (runCommand({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0) {
      std::fprintf(stderr, "net_bench: %s is not installed (scripts/install-deps.sh)\n", tool);
      return 2;
    }
  if (!fs::exists(o.bin) || !fs::exists(o.registry_script)) {
    std::fprintf(stderr, "net_bench: %s or %s not found (pass BERTH_BIN, run from the source tree or "
                 "set BERTH_TEST_REGISTRY_SCRIPT)\n", o.bin.c_str(), o.registry_script.c_str());
    return 2;
  }
  startSignalThread();
  printMachine();
  BenchCluster cluster(fs::absolute(o.bin).string(), fs::absolute(o.registry_script).string(), 3);
  g_cluster = &cluster;
  std::printf("cluster %s: 3 private runc nodes in local-1a/b/c (berth cluster create)\n", cluster.name().c_str());
  std::fflush(stdout);
  int rc = 0;
  auto t0 = Clock::now();
  berth::Status st = cluster.create();
  berth::Result<std::vector<Pod>> pods = st.isOk() ? deployWeb(cluster) : berth::Result<std::vector<Pod>>(st);
  if (!pods.isOk()) {
    std::fprintf(stderr, "net_bench: %s\n", pods.status().message().c_str());
    rc = 1;
  } else {
    std::printf("cluster up and 3 web pods ready in %.0f s\n",
                std::chrono::duration<double>(Clock::now() - t0).count());
    for (const auto& p : *pods) std::printf("  %s %s on %s\n", p.name.c_str(), p.ip.c_str(), p.node.c_str());
    if (o.paths) runPaths(cluster, *pods, o);
    if (o.flip_phase && o.flips > 0) runFlips(cluster, *pods, o);
  }
  printMachine();
  reportTeardown(cluster);
  return rc;
}
