// ProcessRuntime (`--runtime process`): runs each container's command as a host process, for
// hosts without runc and for tests of the pod lifecycle. No images (ensureImage returns
// "process://<reference>"), no namespaces, no mounts or cgroup limits (mounts are ignored; the
// pod shares the host network, so the sandbox IP is the node IP and portForward connects to
// 127.0.0.1:<port>).
//
// Each container is supervised by a shim: `berth agent shim <dir>`, started in its own session
// so it outlives an agent restart. The shim starts the command in a process group of its own,
// writes its stdout/stderr to the log file in CRI format and, when it exits, writes
// <dir>/exit (exit code, signal, finish time). State lives in <state_dir>/containers/<id>/
// (config.json, pid, exit) and <state_dir>/sandboxes/<id>.json, so listContainers() after a
// restart finds containers still running and the true end of those that exited meanwhile.
// stopContainer sends SIGTERM to the group, then SIGKILL after the grace period. exec runs the
// command as a host process in the container's working dir with its environment (with tty, on
// a pseudo-terminal of its own). A container with stdin: true / tty: true gets a stdin pipe /
// a pseudo-terminal held by its shim, served for attach as shim_io.h describes.
// Thread-safety: all methods may be called concurrently (one mutex guards the in-memory index;
// process work happens outside it).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

class ProcessRuntime : public ContainerRuntime {
 public:
  // `self_exe` is the berth binary (for the shim); `host_ip` is what sandboxes report.
  ProcessRuntime(std::string state_dir, std::string self_exe, std::string host_ip);

  std::string name() const override { return "process"; }
  std::string version() const override { return "0.1.0"; }
  Result<SandboxStatus> runPodSandbox(const PodSandboxConfig& config) override;
  Status stopPodSandbox(const std::string& sandbox_id) override;
  Status removePodSandbox(const std::string& sandbox_id) override;
  Result<SandboxStatus> sandboxStatus(const std::string& sandbox_id) override;
  Result<std::vector<SandboxStatus>> listSandboxes() override;
  Result<std::string> ensureImage(const ImageSpec& image) override;
  Result<std::string> createContainer(const std::string& sandbox_id, const ContainerConfig& config,
                                      const PodSandboxConfig& sandbox) override;
  Status startContainer(const std::string& container_id) override;
  Status stopContainer(const std::string& container_id, std::chrono::seconds grace) override;
  Status removeContainer(const std::string& container_id) override;
  Result<ContainerStatus> containerStatus(const std::string& container_id) override;
  Result<std::vector<ContainerStatus>> listContainers() override;
  Result<std::unique_ptr<ExecProcess>> exec(const ExecRequest& request) override;
  Result<ExecSyncResult> execSync(const std::string& container_id,
                                  const std::vector<std::string>& command,
                                  std::chrono::milliseconds timeout) override;
  Result<int> attachStdin(const std::string& container_id) override;
  Result<int> attachTerminal(const std::string& container_id) override;
  Result<int> portForward(const std::string& sandbox_id, int port) override;
  Result<int> dialPod(const std::string& sandbox_id, int port,
                      std::chrono::milliseconds timeout) override;
  void setEventHandler(ContainerEventHandler handler) override;

 private:
  std::string containerDir(const std::string& id) const;
  std::string sandboxFile(const std::string& id) const;
  // Waits for the shim (our child) in a thread and reports the exit as an event.
  void watchShim(int shim_pid, const std::string& container_id, const std::string& pod_uid);

  std::string state_dir_;
  std::string self_exe_;
  std::string host_ip_;
  std::mutex mu_;
  ContainerEventHandler handler_;
};

// The shim's main: `berth agent shim <container-dir>`. Returns the exit code of the shim.
int runProcessShim(const std::string& container_dir);

}  // namespace berth::kubelet
