// Kubeconfig loading: picks the current context of a kubeconfig file and returns what a client
// needs to reach that cluster (server URL, CA, client certificate/key or bearer token).
// yaml-cpp exceptions stop here and become Status. Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/status.h"

namespace berth::client {

struct KubeConfig {
  std::string server;     // https://host:port
  std::string ca_pem;     // empty: use the system trust store
  std::string cert_pem;   // client certificate (PEM), empty with token auth
  std::string key_pem;    // client key (PEM)
  std::string token;      // bearer token, empty with certificate auth
  bool insecure_skip_tls_verify = false;
};

// Loads `path`; `context` overrides current-context when not empty. File references
// (certificate-authority, client-certificate, client-key, tokenFile) are read relative to the
// kubeconfig's directory.
Result<KubeConfig> loadKubeConfig(const std::string& path, const std::string& context = "");
// Parses kubeconfig YAML text; `base_dir` resolves relative file references.
Result<KubeConfig> parseKubeConfig(const std::string& yaml, const std::string& base_dir = "",
                                   const std::string& context = "");

}  // namespace berth::client
