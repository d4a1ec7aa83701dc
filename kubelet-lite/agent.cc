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

namespace {

// `berth agent teardown --runtime R --root-dir D --node-name N`: stops and removes every
// container and pod sandbox the runtime has under D for node N (their shims outlive the agent,
// so this is how a terminated instance leaves nothing running, as a VM that goes away would).
int runTeardown(const std::vector<std::string>& args) {
  AgentOptions opts;
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--runtime") opts.runtime = args[i + 1];
    else if (args[i] == "--root-dir") opts.root_dir = args[i + 1];
    else if (args[i] == "--node-name") opts.node_name = args[i + 1];
    else {
      std::fprintf(stderr, "berth agent teardown: unknown flag \"%s\"\n", args[i].c_str());
      return 2;
    }
  }
  if ((args.size() - 1) % 2 != 0 || opts.node_name.empty() || opts.runtime == "simulated") {
    std::fprintf(stderr, "usage: berth agent teardown --runtime runc|process --root-dir DIR --node-name NAME\n");
    return 2;
  }
  HostFacts host = detectHost(opts.root_dir);
  auto rt = makeRuntime(opts, host);
  if (!rt.isOk()) {
    std::fprintf(stderr, "berth agent teardown: %s\n", rt.status().toString().c_str());
    return 1;
  }
  int failures = 0;
  if (auto cs = (*rt)->listContainers(); cs.isOk()) {
    for (const auto& c : *cs) {
      Status st = (*rt)->stopContainer(c.id, std::chrono::seconds(0));
      if (st.isOk()) st = (*rt)->removeContainer(c.id);
      if (!st.isOk() && st.code() != Code::kNotFound) {
        BLOG(0, "teardown: container").kv("id", c.id).kv("err", st.toString());
        ++failures;
      }
    }
  }
  if (auto ss = (*rt)->listSandboxes(); ss.isOk()) {
    for (const auto& s : *ss) {
      Status st = (*rt)->stopPodSandbox(s.id);
      if (st.isOk()) st = (*rt)->removePodSandbox(s.id);
      if (!st.isOk() && st.code() != Code::kNotFound) {
        BLOG(0, "teardown: sandbox").kv("id", s.id).kv("err", st.toString());
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int runAgent(const std::vector<std::string>& args) {
  // `berth agent shim DIR`: the process runtime's per-container supervisor.
  if (args.size() == 2 && args[0] == "shim") return runProcessShim(args[1]);
  if (!args.empty() && args[0] == "teardown") return runTeardown(args);
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
