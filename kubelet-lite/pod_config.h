// PodConfigResolver: turns a pod spec's container into what the runtime needs: environment
// (value with $(VAR) expansion, valueFrom configMapKeyRef/secretKeyRef/fieldRef/
// resourceFieldRef, envFrom), command/args with $(VAR) expansion, and volumes written under
// the pod's volume dir (emptyDir, configMap, secret, hostPath, downwardAPI, projected) turned
// into mounts. ConfigMaps and Secrets are read through an ObjectGetter (the API in the agent,
// a map in tests). Errors read like upstream's ("configmap \"cfg\" not found") and become the
// CreateContainerConfigError waiting message.
// Thread-safety: stateless apart from the getter, which must be thread-safe.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

using json = nlohmann::json;

// kind is "configmaps" or "secrets".
using ObjectGetter =
    std::function<Result<json>(const std::string& kind, const std::string& ns, const std::string& name)>;

class PodConfigResolver {
 public:
  explicit PodConfigResolver(ObjectGetter getter) : get_(std::move(getter)) {}

  // The container's environment in order. `pod_ip`/`host_ip` feed status.* fieldRefs.
  Result<std::vector<std::pair<std::string, std::string>>> env(
      const json& pod, const json& container, const std::string& pod_ip,
      const std::string& host_ip) const;
  // $(VAR) expansion as upstream: $$ escapes, unknown references stay as written.
  static std::string expand(const std::string& s,
                            const std::vector<std::pair<std::string, std::string>>& env);
  // Writes the pod's volumes under `volumes_dir` (one dir per volume) and returns volume name
  // -> host path.
  Result<std::vector<std::pair<std::string, std::string>>> prepareVolumes(
      const json& pod, const std::string& volumes_dir, const std::string& pod_ip,
      const std::string& host_ip) const;
  // The decoded .dockerconfigjson (or .dockercfg) of each of the pod's imagePullSecrets; missing
  // secrets are skipped, as upstream does.
  std::vector<std::string> dockerConfigs(const json& pod) const;
  // The container's volumeMounts as runtime mounts.
  static Result<std::vector<Mount>> mounts(
      const json& container, const std::vector<std::pair<std::string, std::string>>& volumes);

 private:
  Result<std::string> fieldRef(const json& pod, const std::string& path, const std::string& pod_ip,
                               const std::string& host_ip) const;
  Result<std::string> keyRef(const std::string& kind, const std::string& ns, const json& ref,
                             bool* skipped) const;
  Status writeKeys(const std::string& kind, const std::string& ns, const json& src,
                   const std::string& dir) const;

  ObjectGetter get_;
};

}  // namespace berth::kubelet
