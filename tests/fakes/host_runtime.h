// HostRuntime: a ContainerRuntime fake for tests of the kubelet's streaming endpoint. It knows a
// fixed list of pods/containers (one sandbox per pod), runs exec commands as host processes with
// the request's descriptors as their stdio, and port-forwards to 127.0.0.1. Nothing else works.
// Thread-safety: safe for concurrent use.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::testing {

class HostProcess : public ExecProcess {
 public:
  explicit HostProcess(pid_t pid) : pid_(pid) {}
  Status resize(TerminalSize) override { return Status::ok(); }
  Result<int> wait() override {
    int st = 0;
    if (waitpid(pid_, &st, 0) < 0) return internalError("waitpid failed");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void kill() override { ::kill(pid_, SIGKILL); }

 private:
  pid_t pid_;
};

class HostRuntime : public ContainerRuntime {
 public:
  struct Entry {
    std::string ns, pod, container;
  };
  explicit HostRuntime(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  void setRunning(bool running) { running_ = running; }

  std::string name() const override { return "host-fake"; }
  std::string version() const override { return "0"; }
  Result<SandboxStatus> runPodSandbox(const PodSandboxConfig&) override { return unsupported(); }
  Status stopPodSandbox(const std::string&) override { return Status::ok(); }
  Status removePodSandbox(const std::string&) override { return Status::ok(); }
  Result<SandboxStatus> sandboxStatus(const std::string&) override { return unsupported(); }
  Result<std::vector<SandboxStatus>> listSandboxes() override {
    std::vector<SandboxStatus> out;
    for (const auto& e : entries_) {
      SandboxStatus s;
      s.id = e.ns + "/" + e.pod;
      s.state = SandboxState::kReady;
      s.labels = {{kLabelPodNamespace, e.ns}, {kLabelPodName, e.pod}};
      out.push_back(s);
    }
    return out;
  }
  Result<std::string> ensureImage(const ImageSpec&) override { return unsupported(); }
  Result<std::string> createContainer(const std::string&, const ContainerConfig&,
                                      const PodSandboxConfig&) override {
    return unsupported();
  }
  Status startContainer(const std::string&) override { return unsupported(); }
  Status stopContainer(const std::string&, std::chrono::seconds) override { return Status::ok(); }
  Status removeContainer(const std::string&) override { return Status::ok(); }
  Result<ContainerStatus> containerStatus(const std::string&) override { return unsupported(); }
  Result<std::vector<ContainerStatus>> listContainers() override {
    std::vector<ContainerStatus> out;
    for (const auto& e : entries_) {
      ContainerStatus c;
      c.id = e.ns + "/" + e.pod + "/" + e.container;
      c.name = e.container;
      c.state = running_ ? ContainerState::kRunning : ContainerState::kExited;
      c.labels = {{kLabelPodNamespace, e.ns}, {kLabelPodName, e.pod},
                  {kLabelContainerName, e.container}};
      out.push_back(c);
    }
    return out;
  }
  Result<std::unique_ptr<ExecProcess>> exec(const ExecRequest& r) override {
    if (r.command.empty()) return badRequest("no command");
    pid_t pid = fork();
    if (pid < 0) return internalError("fork failed");
    if (pid == 0) {
      int devnull = open("/dev/null", O_RDWR);
      dup2(r.stdin_fd >= 0 ? r.stdin_fd : devnull, 0);
      dup2(r.stdout_fd >= 0 ? r.stdout_fd : devnull, 1);
      dup2(r.stderr_fd >= 0 ? r.stderr_fd : (r.stdout_fd >= 0 ? r.stdout_fd : devnull), 2);
      std::vector<char*> argv;
      for (const auto& a : r.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    return std::unique_ptr<ExecProcess>(new HostProcess(pid));
  }
  Result<ExecSyncResult> execSync(const std::string&, const std::vector<std::string>&,
                                  std::chrono::milliseconds) override {
    return unsupported();
  }
  Result<int> portForward(const std::string&, int port) override {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return Status(Code::kUnavailable, "dial tcp 127.0.0.1:" + std::to_string(port) +
                                            ": connect: connection refused");
    }
    return fd;
  }

 private:
  static Status unsupported() { return internalError("not supported by the host fake"); }

  std::vector<Entry> entries_;
  std::atomic<bool> running_{true};
};

}  // namespace berth::kubelet::testing
