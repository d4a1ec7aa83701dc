// RuncRuntime: ContainerRuntime on Debian's runc, with images from images::ImageStore.
//
// Layout under Options::root:
//   state/                     runc's --root
//   sandboxes/<id>/            sandbox.json, and hostname / hosts / resolv.conf bind-mounted
//                              into each container
//   containers/<id>/           the OCI bundle: config.json, rootfs/ (an overlayfs of the image's
//                              rootfs with upper/ and work/ beside it; a copy when overlayfs is
//                              unavailable), meta.json, init.pid, exit.json (from the shim)
// Images live under Options::image_root (see images::ImageStore).
//
// - A sandbox is a network namespace made with `ip netns add berth-<hash>` (loopback up), shared
//   by every container of the pod through linux.namespaces in their config.json. With a
//   PodNetwork set (the agent's bridge network) the sandbox gets eth0 and an address from it
//   (recorded in sandbox.json; detached on stop, released on removal); without one it has no
//   address and the agent shows the node's IP. hostNetwork pods join the host's namespace.
//   resolv.conf comes from PodSandboxConfig::dns, else the host's.
// - Each container runs under a `berth runc-shim` (runc_shim.h), which outlives the agent, copies
//   stdout/stderr into the CRI log file and records the exit code. A restarted agent reloads
//   meta.json files and reports running containers as they are (adoption), never starting a
//   duplicate.
// - Exit events: a watcher thread waits on every shim's pidfd and calls the event handler when a
//   shim exits (the container ended).
// - OOMKilled: the memory cgroup's oom_kill counter (memory.oom_control on cgroup v1,
//   memory.events on v2) is read when the container has exited, before `runc delete`.
// - exec runs `runc exec` (with a pseudo-terminal pair for tty, resized with TIOCSWINSZ);
//   portForward connects from a thread that has joined the pod's network namespace.
// Thread-safety: every method may be called from any thread; per-container metadata is guarded
// by one mutex, runc and ip run outside it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "kubelet-lite/images/image_store.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

class RuncRuntime : public ContainerRuntime {
 public:
  struct Options {
    std::string root;        // runtime state (see above)
    std::string image_root;  // images::ImageStore root; default <root>/images
    std::string runc = "runc";
    // The berth binary, run as `<shim_binary> runc-shim ...` unless berth-runc-shim (the same
    // shim as a small executable, quicker to start) sits in the same directory.
    std::string shim_binary;
    std::string default_registry = "docker.io";
    std::vector<std::string> insecure_registries;
    std::map<std::string, std::string> registry_mirrors;  // FROM -> TO host[:port]
    std::string cgroup_parent = "berth";  // cgroupsPath /<parent>/<container id> by default
  };

  // Creates the directories, loads images and adopts the containers and sandboxes it finds.
  static Result<std::unique_ptr<RuncRuntime>> create(Options opts);
  ~RuncRuntime() override;

  std::string name() const override { return "runc"; }
  std::string version() const override { return version_; }

  Result<SandboxStatus> runPodSandbox(const PodSandboxConfig& config) override;
  Status stopPodSandbox(const std::string& sandbox_id) override;
  Status removePodSandbox(const std::string& sandbox_id) override;
  Result<SandboxStatus> sandboxStatus(const std::string& sandbox_id) override;
  Result<std::vector<SandboxStatus>> listSandboxes() override;

  Result<std::string> ensureImage(const ImageSpec& image) override;
  Result<int> attachStdin(const std::string& container_id) override;
  Result<int> attachTerminal(const std::string& container_id) override;

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
  Result<int> portForward(const std::string& sandbox_id, int port) override;
  Result<int> dialPod(const std::string& sandbox_id, int port,
                      std::chrono::milliseconds timeout) override;

  void setEventHandler(ContainerEventHandler handler) override;
  void setPodNetwork(PodNetwork* network) override { network_ = network; }

  images::ImageStore& images() { return *images_; }
  // Removes images no container uses and their blobs.
  Status garbageCollectImages();

 private:
  struct Sandbox;
  struct Container;
  explicit RuncRuntime(Options opts);
  Status init();
  void adopt();
  std::vector<std::string> runcArgs(std::initializer_list<std::string> args) const;
  std::string sandboxDir(const std::string& id) const;
  std::string containerDir(const std::string& id) const;
  Status saveSandbox(const Sandbox& s) const;
  Status saveContainer(const Container& c) const;
  Result<std::shared_ptr<Container>> findContainer(const std::string& id) const;
  Result<std::shared_ptr<Sandbox>> findSandbox(const std::string& id) const;
  Status prepareRootfs(const std::string& image_rootfs, const std::string& dir, bool* overlay);
  Status writeSandboxFiles(const Sandbox& s);
  ContainerStatus statusOf(Container& c);
  bool shimAlive(const Container& c) const;
  bool oomKilled(const Container& c) const;
  void watchShim(const std::string& id, pid_t shim_pid);
  std::vector<std::string> shimArgv(const Container& c) const;
  void watchLoop();

  Options opts_;
  std::string version_;
  std::string shim_exe_;  // berth-runc-shim beside shim_binary, if there is one
  std::unique_ptr<images::ImageStore> images_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Sandbox>> sandboxes_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
  ContainerEventHandler handler_;
  PodNetwork* network_ = nullptr;  // set before the first sandbox
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::map<int, std::string> watched_;  // pidfd -> container id (under mu_)
  std::thread watcher_;
};

}  // namespace berth::kubelet
