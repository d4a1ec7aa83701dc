// Builds the OCI runtime spec (a bundle's config.json) runc runs a container from: the pure
// translation of a pod's container into process, mounts, namespaces and cgroup resources.
//
// - Process args follow the kubelet: command replaces the image's Entrypoint (and drops its
//   Cmd), args replace Cmd; env is the image's Env overridden by the container's, in order.
// - User: runAsUser/runAsGroup, else the image's User ("uid[:gid]" or names looked up in the
//   rootfs's /etc/passwd and /etc/group), else root.
// - Namespaces: pid, ipc, uts and mount of its own; the network namespace is the pod's
//   (`netns_path`, shared by every container of the pod) or the host's when empty.
// - Resources: memory limit; cpu quota over a 100 ms period from the cpu limit; cpu shares
//   from the request; cgroupsPath as given.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "kubelet-lite/images/image_store.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::runc {

struct OciSpecInput {
  const ContainerConfig* container = nullptr;
  const images::ImageConfig* image = nullptr;
  std::string rootfs;        // absolute path of the container's root filesystem
  std::string hostname;
  std::string netns_path;    // empty: host network
  std::string cgroups_path;  // e.g. "/berth/pod<uid>/<id>"
  // Files of the sandbox bind-mounted over the image's (/etc/hosts, /etc/hostname, ...):
  std::vector<Mount> sandbox_files;
};

// The process's argv by the kubelet's rules; an error when it ends up empty.
Result<std::vector<std::string>> containerArgs(const ContainerConfig& c, const images::ImageConfig& image);

// uid/gid for the container process. `rootfs` is read for user and group names.
Result<std::pair<int64_t, int64_t>> containerUser(const ContainerConfig& c,
                                                  const images::ImageConfig& image,
                                                  const std::string& rootfs);

Result<nlohmann::json> buildOciSpec(const OciSpecInput& in);

}  // namespace berth::kubelet::runc
