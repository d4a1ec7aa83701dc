// berth: one binary, subcommands (like k3s). `berth server` runs the API server.
#include <malloc.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/core/api_server.h"
#include "controllers/controller_manager.h"
#include "controllers/leader_elected_manager.h"
#include "cmd/net_cmd.h"
#include "cmd/nodegroup_cmd.h"
#include "cmd/server_extras.h"
#include "cmd/cloud_cmd.h"
#include "cmd/cluster_cmd.h"
#include "kubelet-lite/runtime/runc_shim.h"
#include "kubelet-lite/agent.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"

namespace {

constexpr const char* kUsage = R"(berth: an EKS-like Kubernetes cluster manager

Usage:
  berth server [flags]     run the API server on the embedded store
  berth agent [flags]      run the node agent (kubelet-lite); berth agent --help
  berth cluster ...        create/delete/get eksctl-style clusters here; berth cluster --help
  berth cloud ...          the local cloud: instances, fault injection; berth cloud --help
  berth nodegroup user-data NAME   print user-data (with a fresh bootstrap token) to join NAME
  berth version            print the version

Server flags:
  --data-dir DIR                 state, PKI and admin.kubeconfig (default ./berth-data)
  --bind-address ADDR            address to serve on (default 127.0.0.1)
  --secure-port PORT             HTTPS port, 0 picks a free one (default 6443)
  --datastore-endpoint URL       sqlite://PATH (default DIR/state.db) or etcd://h1:2379,...
  --token-auth-file FILE         static bearer tokens: token,user,uid,"group1,group2"
  --service-cluster-ip-range CIDR  (default 10.96.0.0/12)
  --service-node-port-range A-B  (default 30000-32767)
  --tls-san NAME                 extra subject alternative name (repeatable)
  --advertise-url URL            server URL written into kubeconfigs
  --worker-threads N             request workers (default 16)
  --node-monitor-grace-period D  a node without heartbeat for D is marked Unknown (default 40s)
  --default-not-ready-toleration-seconds N    pods tolerate a not-ready node N s (default 300)
  --default-unreachable-toleration-seconds N  pods tolerate an unreachable node N s (default 300)
  --controllers LIST             controllers to run in-process, comma-separated, or "none"
                                 (default: every controller)
  --leader-elect[=BOOL]          run controllers only while holding the kube-system Lease
                                 berth-controller-manager, so several servers on one store
                                 run one controller set (default true)
  --leader-elect-lease-duration D, --leader-elect-renew-deadline D,
  --leader-elect-retry-period D  durations like 15s (defaults 15s, 10s, 2s)
  --cloud-provider NAME          cloud the node-group controllers launch instances in:
                                 "local" (this machine's network namespaces), "simulated"
                                 (simulated agents as processes, for tests) or none (default)
  --cluster-name NAME            the cluster this server runs (names and tags cloud resources)
  --cloud-state-dir DIR          the local cloud's state for this cluster
  -v N, --v=N                    log verbosity (default 2)
)";

// Accepts "--flag value" and "--flag=value".
bool takeFlag(const std::vector<std::string>& args, size_t* i, const std::string& name,
              std::string* out) {
  const std::string& a = args[*i];
  if (a == name) {
    if (*i + 1 >= args.size()) {
      std::fprintf(stderr, "berth: flag %s needs a value\n", name.c_str());
      std::exit(2);
    }
    *out = args[++*i];
    return true;
  }
  if (berth::startsWith(a, name + "=")) {
    *out = a.substr(name.size() + 1);
    return true;
  }
  return false;
}

int parsePort(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long p = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || p < 0 || p > 65535) {
    std::fprintf(stderr, "berth: %s: invalid port \"%s\"\n", flag.c_str(), v.c_str());
    std::exit(2);
  }
  return static_cast<int>(p);
}

bool parseBool(const std::string& flag, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  std::fprintf(stderr, "berth: %s: invalid boolean \"%s\" (true or false)\n", flag.c_str(), v.c_str());
  std::exit(2);
}

std::chrono::milliseconds parseFlagDuration(const std::string& flag, const std::string& v) {
  std::chrono::nanoseconds d;
  if (!berth::parseDuration(v, &d) || d.count() <= 0) {
    std::fprintf(stderr, "berth: %s: invalid duration \"%s\" (like 500ms, 15s, 1m)\n", flag.c_str(),
                 v.c_str());
    std::exit(2);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

int64_t parseSecondsFlag(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n < 0) {
    std::fprintf(stderr, "berth: %s: invalid number of seconds \"%s\"\n", flag.c_str(), v.c_str());
    std::exit(2);
  }
  return n;
}

int runServer(const std::vector<std::string>& args) {
  berth::apiserver::ServerOptions o;
  std::string controllers = "default";
  bool leader_elect = true;
  berth::client::LeaderElectionConfig election;
  std::chrono::milliseconds node_grace{40000};
  berth::cmd::ServerExtrasOptions extras;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (takeFlag(args, &i, "--data-dir", &v)) o.data_dir = v;
    else if (takeFlag(args, &i, "--cloud-provider", &v)) extras.cloud_provider = v;
    else if (takeFlag(args, &i, "--cluster-name", &v)) extras.cluster_name = v;
    else if (takeFlag(args, &i, "--cloud-state-dir", &v)) extras.cloud_state_dir = v;
    else if (takeFlag(args, &i, "--bind-address", &v)) o.bind_address = v;
    else if (takeFlag(args, &i, "--secure-port", &v)) o.secure_port = parsePort("--secure-port", v);
    else if (takeFlag(args, &i, "--datastore-endpoint", &v)) o.datastore_endpoint = v;
    else if (takeFlag(args, &i, "--token-auth-file", &v)) o.token_auth_file = v;
    else if (takeFlag(args, &i, "--service-cluster-ip-range", &v)) o.service_cidr = v;
    else if (takeFlag(args, &i, "--service-node-port-range", &v)) o.node_port_range = v;
    else if (takeFlag(args, &i, "--tls-san", &v)) o.extra_sans.push_back(v);
    else if (takeFlag(args, &i, "--advertise-url", &v)) o.advertise_url = v;
    else if (takeFlag(args, &i, "--worker-threads", &v)) o.worker_threads = std::max(1, std::atoi(v.c_str()));
    else if (takeFlag(args, &i, "--controllers", &v)) controllers = v;
    else if (args[i] == "--leader-elect") leader_elect = true;
    else if (takeFlag(args, &i, "--leader-elect", &v)) leader_elect = parseBool("--leader-elect", v);
    else if (takeFlag(args, &i, "--leader-elect-lease-duration", &v))
      election.lease_duration = parseFlagDuration("--leader-elect-lease-duration", v);
    else if (takeFlag(args, &i, "--leader-elect-renew-deadline", &v))
      election.renew_deadline = parseFlagDuration("--leader-elect-renew-deadline", v);
    else if (takeFlag(args, &i, "--leader-elect-retry-period", &v))
      election.retry_period = parseFlagDuration("--leader-elect-retry-period", v);
    else if (takeFlag(args, &i, "--node-monitor-grace-period", &v)) node_grace = parseFlagDuration("--node-monitor-grace-period", v);
    else if (takeFlag(args, &i, "--default-not-ready-toleration-seconds", &v))
      o.default_not_ready_toleration_seconds = parseSecondsFlag("--default-not-ready-toleration-seconds", v);
    else if (takeFlag(args, &i, "--default-unreachable-toleration-seconds", &v))
      o.default_unreachable_toleration_seconds = parseSecondsFlag("--default-unreachable-toleration-seconds", v);
    else if (takeFlag(args, &i, "-v", &v) || takeFlag(args, &i, "--v", &v)) berth::log::setVerbosity(std::atoi(v.c_str()));
    else if (args[i] == "-h" || args[i] == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "berth server: unknown flag \"%s\"\n\n%s", args[i].c_str(), kUsage);
      return 2;
    }
  }
  if (!extras.cloud_provider.empty() && extras.cloud_provider != "local" &&
      extras.cloud_provider != "simulated") {
    std::fprintf(stderr,
                 "berth server: --cloud-provider: unknown cloud \"%s\" (want local or simulated)\n",
                 extras.cloud_provider.c_str());
    return 2;
  }
  // glibc's per-thread arenas keep freed memory of big lists resident; two arenas bound
  // that at a small cost in allocator contention (measured in bench/README.md).
  mallopt(M_ARENA_MAX, 2);
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  berth::apiserver::ApiServer server(o);
  berth::Status st = server.start();
  if (!st.isOk()) {
    std::fprintf(stderr, "berth server: %s\n", st.toString().c_str());
    return 1;
  }
  // Controllers talk to the server through its API, like any client.
  std::unique_ptr<berth::controllers::ControllerManager> manager;
  std::unique_ptr<berth::controllers::LeaderElectedManager> elected;
  if (controllers != "none") {
    berth::controllers::ControllerManagerOptions co;
    co.kubeconfig = server.adminKubeconfigPath();
    extras.data_dir = o.data_dir;
    extras.kubeconfig = co.kubeconfig;
    extras.server_url = server.url();
    extras.service_cidr = o.service_cidr;
    berth::cmd::addServerExtras(co, extras);
    if (controllers != "default") {
      co.enabled.clear();
      for (const auto& c : berth::split(controllers, ','))
        if (!c.empty()) co.enabled.push_back(c);
    } else {
      co.enableDefaultExtras();
    }
    co.node_monitor_grace_period = node_grace;
    berth::Status started;
    if (leader_elect) {
      election.identity = berth::client::leaderIdentity(o.data_dir + "/controller-manager.identity");
      auto m = berth::controllers::LeaderElectedManager::start(co, election);
      if (m.isOk()) elected = std::move(m).value();
      else started = m.status();
    } else {
      auto m = berth::controllers::ControllerManager::start(co);
      if (m.isOk()) manager = std::move(m).value();
      else started = m.status();
    }
    if (!started.isOk()) {
      std::fprintf(stderr, "berth server: starting controllers: %s\n", started.toString().c_str());
      server.stop();
      return 1;
    }
  }
  std::printf("Berth API server is serving at %s\n", server.url().c_str());
  std::printf("Point kubectl at it:\n  export KUBECONFIG=%s\n  kubectl get namespaces\n",
              server.adminKubeconfigPath().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  BLOG(0, "shutting down").kv("signal", sig);
  if (elected) elected->stop();
  if (manager) manager->stop();
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "server") return runServer(args);
  // Internal: the per-container process the runc runtime starts (not for users).
  if (cmd == "runc-shim") return berth::kubelet::runc::runcShimMain(args);
  if (cmd == "agent") return berth::kubelet::runAgent(args);
  // Hidden: drives a cluster's local network directly (tests, debugging).
  if (cmd == "net") return berth::cmd::runNet(args);
  if (cmd == "cloud") return berth::cmd::runCloud(args);
  if (cmd == "cluster") return berth::cmd::runCluster(args);
  if (cmd == "nodegroup") return berth::cmd::runNodegroup(args);
  if (cmd == "version") {
    std::printf("berth v0.1.0 (Kubernetes API v1.32)\n");
    return 0;
  }
  std::fprintf(stderr, "berth: unknown command \"%s\"\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
