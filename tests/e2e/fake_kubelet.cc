// A standalone kubelet endpoint over the HostRuntime fake, for end-to-end tests of the
// API server's pod proxy with the real kubectl before (or without) a real node agent.
//   fake_kubelet --ca FILE --dir DIR --pod NS/POD/CONTAINER [--pod ...]
// Serves on a free loopback port and prints "port=N"; logs are read from DIR/pods.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "apiserver/http/pki.h"
#include "common/strings.h"
#include "kubelet-lite/server/kubelet_server.h"
#include "tests/fakes/host_runtime.h"

int main(int argc, char** argv) {
  using namespace berth;
  std::string ca, dir;
  std::vector<kubelet::testing::HostRuntime::Entry> pods;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--ca") ca = v;
    else if (flag == "--dir") dir = v;
    else if (flag == "--pod") {
      auto p = split(v, '/');
      if (p.size() != 3) {
        std::fprintf(stderr, "--pod wants NS/POD/CONTAINER, got %s\n", v.c_str());
        return 2;
      }
      pods.push_back({p[0], p[1], p[2]});
    }
  }
  auto ca_pem = http::readFile(ca);
  if (!ca_pem.isOk() || dir.empty()) {
    std::fprintf(stderr, "usage: fake_kubelet --ca FILE --dir DIR --pod NS/POD/CONTAINER...\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  kubelet::testing::HostRuntime runtime(pods);
  kubelet::KubeletServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.state_dir = dir + "/state";
  o.pods_dir = dir + "/pods";
  o.client_ca_pem = *ca_pem;
  auto server = kubelet::KubeletServer::create(o, &runtime);
  if (!server.isOk() || !(*server)->start().isOk()) {
    std::fprintf(stderr, "fake_kubelet: cannot start\n");
    return 1;
  }
  std::printf("port=%d\n", (*server)->port());
  std::fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig;
  sigwait(&set, &sig);
  (*server)->stop();
  return 0;
}
