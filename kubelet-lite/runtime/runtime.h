// ContainerRuntime: the CRI-like interface between kubelet-lite's pod workers and whatever runs
// containers (runc, host processes, fakes in tests). The pod worker owns the *what* (which
// containers should run, restart policy, back-off, probes, volumes); a runtime owns the *how*
// (namespaces, cgroups, image store, processes) and reports observed state.
//
// Model (as the CRI): a pod is a sandbox (its network namespace and hostname, shared by the
// pod's containers) holding containers. Ids are opaque strings chosen by the runtime, stable
// across agent restarts (the agent adopts what listContainers()/listSandboxes() report, matching
// on the labels below, instead of starting duplicates).
//
// Files the agent lays out (root = --root-dir, default /var/lib/berth-agent):
//   <root>/<node>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log   container logs
//   <root>/<node>/volumes/<uid>/<volume>/                                    pod volumes
// The runtime writes each container's stdout/stderr to ContainerConfig::log_path (created by the
// agent's directory layout; the runtime creates/appends the file) in the CRI log format, one
// record per line:  <RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>\n
// ("P" marks a partial line that continues in the next record, "F" a full line). With tty the
// stream is "stdout". `kubectl logs` reads <restartCount>.log of the current container and
// `--previous` the highest-numbered file below it (see containerLogPath()/podLogDir()).
// The logs/exec server finds a container by listing containers and matching the labels
// kLabelPodNamespace/kLabelPodName/kLabelContainerName (the running one, else the newest), and a
// pod's sandbox by kLabelPodUid on listSandboxes().
//
// Errors: methods return Status. kNotFound means "no such id" (or, from ensureImage with
// ImagePullPolicy::kNever, "image not present": the agent reports ErrImageNeverPull); any other
// error from ensureImage is reported as ErrImagePull with the Status message; from
// createContainer/startContainer as CreateContainerError/RunContainerError.
//
// Thread-safety: every method may be called concurrently from any thread (pod workers run in
// parallel; the stream server calls exec/portForward). Calls may block (pulls, stops with a grace
// period); the caller picks the thread. The event handler may be called from runtime threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::kubelet {

class PodNetwork;  // kubelet-lite/network/pod_network.h

// Labels the agent puts on sandboxes and containers (runtimes store and return them verbatim).
inline constexpr char kLabelPodUid[] = "io.kubernetes.pod.uid";
inline constexpr char kLabelPodName[] = "io.kubernetes.pod.name";
inline constexpr char kLabelPodNamespace[] = "io.kubernetes.pod.namespace";
inline constexpr char kLabelContainerName[] = "io.kubernetes.container.name";
inline constexpr char kLabelRestartCount[] = "io.kubernetes.container.restartCount";
// "true" on init containers, so adoption knows which list a container belongs to.
inline constexpr char kLabelInitContainer[] = "io.kubernetes.container.init";

using Labels = std::map<std::string, std::string>;

// ---- pod sandbox ----

// The pod's /etc/resolv.conf (CRI's DNSConfig), computed by the agent from dnsPolicy/dnsConfig.
struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;  // "ndots:5", ...
};

struct PodSandboxConfig {
  std::string uid;
  std::string name;
  std::string ns;
  std::string hostname;  // pod.spec.hostname, else the pod name (truncated to 63)
  bool host_network = false;
  std::string log_directory;  // <root>/<node>/pods/<ns>_<name>_<uid>
  std::string cgroup_parent;  // e.g. "berth/pod<uid>"; empty: runtime default
  Labels labels;              // kLabelPod* always set
  std::optional<DnsConfig> dns;  // unset: the host's /etc/resolv.conf
};

enum class SandboxState { kReady, kNotReady };

struct SandboxStatus {
  std::string id;
  SandboxState state = SandboxState::kNotReady;
  std::string ip;           // pod IP (empty for host network: the agent uses the node IP)
  std::string netns_path;   // e.g. /run/netns/berth-<id>; empty for host network
  TimePoint created_at{};
  Labels labels;
};

// ---- images ----

enum class ImagePullPolicy { kAlways, kIfNotPresent, kNever };

struct ImageSpec {
  std::string reference;  // as in pod.spec.containers[].image, e.g. "busybox", "127.0.0.1:5000/x:1"
  ImagePullPolicy policy = ImagePullPolicy::kIfNotPresent;
  // The decoded .dockerconfigjson (or legacy .dockercfg) of each imagePullSecret, in order.
  std::vector<std::string> docker_config_jsons;
};

// ---- containers ----

struct Mount {
  std::string host_path;
  std::string container_path;
  bool read_only = false;
};

struct ContainerConfig {
  std::string name;
  std::string image;      // the reference from the pod spec
  std::string image_id;   // what ensureImage() returned
  std::vector<std::string> command;  // entrypoint override (empty: image's)
  std::vector<std::string> args;     // cmd override (empty: image's, unless command is set)
  std::vector<std::pair<std::string, std::string>> env;  // in order, already expanded
  std::string working_dir;  // empty: image's
  std::vector<Mount> mounts;
  int64_t cpu_limit_millis = 0;      // 0: unlimited (cgroup cpu quota)
  int64_t cpu_request_millis = 0;    // 0: default weight (cgroup cpu shares/weight)
  int64_t memory_limit_bytes = 0;    // 0: unlimited; exceeding it kills with reason OOMKilled
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  bool tty = false;
  bool stdin = false;
  bool stdin_once = false;
  std::string log_path;   // absolute; the runtime appends CRI-format records here
  Labels labels;          // kLabelPod*, kLabelContainerName, kLabelRestartCount always set
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };
const char* toString(ContainerState s);

struct ContainerStatus {
  std::string id;
  std::string sandbox_id;
  std::string name;  // == labels[kLabelContainerName]
  ContainerState state = ContainerState::kUnknown;
  int exit_code = 0;
  std::string reason;   // when exited: "Completed" (0), "Error" (!= 0), "OOMKilled"
  std::string message;
  TimePoint created_at{};
  TimePoint started_at{};   // epoch when never started
  TimePoint finished_at{};  // epoch while running
  std::string image;        // reference
  std::string image_id;     // e.g. "sha256:..." or "docker.io/library/busybox@sha256:..."
  std::string log_path;
  Labels labels;
};

// Something changed for a container (it exited, mostly). The agent re-syncs that pod at once
// instead of waiting for its periodic relist.
struct ContainerEvent {
  std::string container_id;
  std::string pod_uid;  // from the labels
  ContainerState state = ContainerState::kUnknown;
};
using ContainerEventHandler = std::function<void(const ContainerEvent&)>;

// ---- exec ----

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
};

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> command;
  bool tty = false;
  // File descriptors owned by the caller, kept open until the ExecProcess finishes. -1: none.
  // The runtime reads stdin_fd until EOF (then closes the process's stdin) and writes output to
  // stdout_fd / stderr_fd. With tty there is one stream: output goes to stdout_fd.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::optional<TerminalSize> initial_size;
};

// A running exec. wait() returns once the process exited and all its output was written.
class ExecProcess {
 public:
  virtual ~ExecProcess() = default;
  virtual Status resize(TerminalSize size) = 0;  // no-op without tty
  // Blocks until exit; returns the exit code (128+signal when killed by a signal).
  virtual Result<int> wait() = 0;
  // Kills the process (SIGKILL), e.g. when the client went away.
  virtual void kill() = 0;
};

struct ExecSyncResult {
  int exit_code = 0;
  std::string output;  // stdout then stderr, capped at 1 MiB
  bool timed_out = false;
};

// ---- the interface ----

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;

  // "runc", "process", ...; and the version: Node.status.nodeInfo.containerRuntimeVersion is
  // "<name>://<version>".
  virtual std::string name() const = 0;
  virtual std::string version() const = 0;

  // Sandboxes. runPodSandbox is idempotent per uid: a second call returns the existing one.
  virtual Result<SandboxStatus> runPodSandbox(const PodSandboxConfig& config) = 0;
  // Stops every container left in it (SIGKILL) and tears down its network.
  virtual Status stopPodSandbox(const std::string& sandbox_id) = 0;
  virtual Status removePodSandbox(const std::string& sandbox_id) = 0;
  virtual Result<SandboxStatus> sandboxStatus(const std::string& sandbox_id) = 0;
  virtual Result<std::vector<SandboxStatus>> listSandboxes() = 0;

  // Returns the image id, pulling according to the policy. May take long.
  virtual Result<std::string> ensureImage(const ImageSpec& image) = 0;

  // Creates (state kCreated) then startContainer() runs it (kRunning). Log file opened at start.
  virtual Result<std::string> createContainer(const std::string& sandbox_id,
                                              const ContainerConfig& config,
                                              const PodSandboxConfig& sandbox) = 0;
  virtual Status startContainer(const std::string& container_id) = 0;
  // SIGTERM (to the whole container), then SIGKILL after `grace`; returns once exited.
  // Stopping an exited container is OK.
  virtual Status stopContainer(const std::string& container_id, std::chrono::seconds grace) = 0;
  // Removes an exited/created container (its log file stays: the agent owns logs).
  virtual Status removeContainer(const std::string& container_id) = 0;
  virtual Result<ContainerStatus> containerStatus(const std::string& container_id) = 0;
  // Every container this runtime knows for this node, in any state.
  virtual Result<std::vector<ContainerStatus>> listContainers() = 0;

  // Runs a command in a running container (its namespaces, env, user and working dir).
  virtual Result<std::unique_ptr<ExecProcess>> exec(const ExecRequest& request) = 0;
  // Runs a command and collects its output, killing it after `timeout` (exec probes).
  virtual Result<ExecSyncResult> execSync(const std::string& container_id,
                                          const std::vector<std::string>& command,
                                          std::chrono::milliseconds timeout) = 0;
  // Returns a connected TCP socket to 127.0.0.1:`port` inside the sandbox's network namespace.
  // The caller owns (and closes) the fd.
  virtual Result<int> portForward(const std::string& sandbox_id, int port) = 0;
  // Returns a TCP socket connected to `port` of the pod as its own network sees it (probes:
  // httpGet and tcpSocket reach the pod's port inside its network namespace), giving up after
  // `timeout` (kUnavailable, with a Go-style "dial tcp ...: connect: ..." message). The default
  // is portForward() without a deadline; runtimes override it to honour the timeout.
  virtual Result<int> dialPod(const std::string& sandbox_id, int port,
                              std::chrono::milliseconds timeout) {
    (void)timeout;
    return portForward(sandbox_id, port);
  }

  // kubectl attach -i: returns a connected descriptor whose writes reach the running container's
  // stdin (the caller owns and closes it; with stdinOnce closing it closes the container's
  // stdin). Only containers created with ContainerConfig::stdin have one (else kBadRequest).
  virtual Result<int> attachStdin(const std::string& container_id) {
    (void)container_id;
    return Status(Code::kBadRequest, "the " + name() + " runtime does not hand out a container's stdin "
                                     "(attach without -i to follow its output)");
  }

  // kubectl attach -t: the master side of the terminal of a container created with
  // ContainerConfig::tty (the caller owns and closes it), for TIOCSWINSZ resizes. The
  // terminal's output goes to the container's log (stream stdout), its input through
  // attachStdin(). kNotFound: the container has no terminal.
  virtual Result<int> attachTerminal(const std::string& container_id) {
    (void)container_id;
    return Status(Code::kNotFound, "the " + name() + " runtime allocates no terminals");
  }

  // Optional: runtimes that run pods in their own network namespace wire them into `network`
  // (set once, before the first sandbox; not owned).
  virtual void setPodNetwork(PodNetwork* network) { (void)network; }

  // Optional: runtimes that learn of exits call `handler` (set once, before use).
  virtual void setEventHandler(ContainerEventHandler handler) { (void)handler; }
};

// ---- paths the agent lays out ----

// <root>/<node>/pods/<ns>_<name>_<uid>
inline std::string podLogDir(const std::string& root, const std::string& node,
                             const std::string& ns, const std::string& name,
                             const std::string& uid) {
  return root + "/" + node + "/pods/" + ns + "_" + name + "_" + uid;
}
// <root>/<node>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log
inline std::string containerLogPath(const std::string& pod_log_dir, const std::string& container,
                                    int restart_count) {
  return pod_log_dir + "/" + container + "/" + std::to_string(restart_count) + ".log";
}
// <root>/<node>/volumes/<uid>
inline std::string podVolumesDir(const std::string& root, const std::string& node,
                                 const std::string& uid) {
  return root + "/" + node + "/volumes/" + uid;
}

}  // namespace berth::kubelet
