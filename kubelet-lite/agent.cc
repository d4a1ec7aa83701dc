#include "kubelet-lite/agent.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "client/rest_client.h"
#include "common/log.h"
#include "kubelet-lite/agent_options.h"
#include "kubelet-lite/node_agent.h"
#include "kubelet-lite/node_join.h"
#include "kubelet-lite/runtime/process_runtime.h"
#include "kubelet-lite/simulated_agent.h"
#include "kubelet-lite/spot_watcher.h"

namespace berth::kubelet {

int runAgent(const std::vector<std::string>& args) {
  // `berth agent shim DIR`: the process runtime's per-container supervisor.
  if (args.size() == 2 && args[0] == "shim") return runProcessShim(args[1]);
  bool help = false;
  auto parsed = parseAgentOptions(args, &help);
  if (help) {
    std::fputs(kAgentUsage, stdout);
    return 0;
  }
  if (!parsed.isOk()) {
    std::fprintf(stderr, "berth agent: %s\n\n%s", parsed.status().message().c_str(), kAgentUsage);
    return 2;
  }
  AgentOptions opts = std::move(parsed).value();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!opts.user_data.empty()) {
    Status joined = joinFromUserData(opts, std::chrono::seconds(opts.bootstrap_timeout_seconds));
    if (!joined.isOk()) {
      std::fprintf(stderr, "berth agent: %s\n", joined.message().c_str());
      return 1;
    }
  }
  auto kc = client::loadKubeConfig(opts.kubeconfig);
  if (!kc.isOk()) {
    std::fprintf(stderr, "berth agent: %s\n", kc.status().toString().c_str());
    return 1;
  }
  opts.cluster_ca_pem = kc->ca_pem;
  client::RestClient::Options co;
  co.user_agent = "berth-agent";
  client::RestClient client(std::move(kc).value(), co);
  HostFacts host = detectHost(opts.root_dir);
  if (!opts.node_ip.empty()) host.internal_ip = opts.node_ip;

  std::unique_ptr<SpotWatcher> spot;
  if (opts.cloud_metadata) {
    SpotWatcher::Options so;
    so.node_name = opts.node_name.empty() ? host.hostname : opts.node_name;
    spot = std::make_unique<SpotWatcher>(&client, so);
    opts.extra_node_conditions = [w = spot.get()](TimePoint now) { return w->conditions(now); };
  }
  std::unique_ptr<SimulatedAgent> sim;
  std::unique_ptr<NodeAgent> node;
  Status st;
  if (opts.runtime == "simulated") {
    sim = std::make_unique<SimulatedAgent>(&client, opts, host);
    st = sim->start();
  } else {
    auto rt = makeRuntime(opts, host);
    if (rt.isOk()) {
      node = std::make_unique<NodeAgent>(&client, opts, host, std::move(rt).value());
      st = node->start();
    } else {
      st = rt.status();
    }
  }
  if (!st.isOk()) {
    std::fprintf(stderr, "berth agent: %s\n", st.toString().c_str());
    return 1;
  }
  if (spot) spot->start();
  std::printf("berth agent running (runtime %s)\n", opts.runtime.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  BLOG(0, "agent shutting down").kv("signal", sig);
  if (spot) spot->stop();
  if (sim) sim->stop();
  if (node) node->stop();
  return 0;
}

}  // namespace berth::kubelet
