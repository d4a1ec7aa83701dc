// X.509 for a node's client certificate: the key and CSR a joining node makes, reading a CSR
// the way the approver must (subject, SANs, signature), and signing one with the cluster CA.
// Also the approver's decision for kubernetes.io/kube-apiserver-client-kubelet CSRs.
// ECDSA P-256 keys, SHA-256 signatures, OpenSSL 3. Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::nodegroups::bootstrap {

using json = nlohmann::json;

inline constexpr const char* kKubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet";
inline constexpr const char* kApiServerClientSigner = "kubernetes.io/kube-apiserver-client";
inline constexpr const char* kNodeUserPrefix = "system:node:";
inline constexpr const char* kNodesGroup = "system:nodes";

struct KeyAndCsr {
  std::string key_pem;  // PKCS#8 EC private key
  std::string csr_pem;  // CERTIFICATE REQUEST
};

// A fresh P-256 key and a CSR for CN=system:node:<node_name>, O=system:nodes, no SANs.
Result<KeyAndCsr> makeNodeClientCsr(const std::string& node_name);

struct CsrContent {
  std::string common_name;
  std::vector<std::string> organizations;
  bool has_sans = false;  // DNS, IP, email or URI names
};

// Parses a PEM CSR and checks its self-signature. kBadRequest naming the problem.
Result<CsrContent> parseCsrPem(const std::string& pem);

// A client certificate (clientAuth) for the CSR's subject and key, signed by the CA, valid from
// 5 minutes before `now` for `duration` (capped by the CA's own expiry).
Result<std::string> signClientCsr(const std::string& csr_pem, const std::string& ca_cert_pem,
                                  const std::string& ca_key_pem, std::chrono::seconds duration,
                                  TimePoint now);

// The CN and subject (O) of a PEM certificate, for tests and diagnostics.
Result<CsrContent> certificateSubject(const std::string& cert_pem);

// The PEM of a CSR object's spec.request (base64 in JSON, as every []byte field).
Result<std::string> csrRequestPem(const json& csr);

// What the approver does with a CSR, as upstream's csrapproving controller: approve node client
// CSRs from bootstrappers (new nodes) and from a node for itself (renewals); ignore the rest
// (someone else, e.g. an admin with `kubectl certificate approve`, decides).
struct CsrDecision {
  bool approve = false;
  std::string reason;  // why (logged); for approvals the condition's message
};
CsrDecision decideCsr(const json& csr);

// The certificate lifetime for a CSR: spec.expirationSeconds within [10 minutes, cap], else cap.
std::chrono::seconds certificateDuration(const json& csr, std::chrono::seconds cap);

}  // namespace berth::nodegroups::bootstrap
