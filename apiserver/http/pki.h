// PKI for the API server: a self-signed cluster CA, the serving certificate, the admin client
// certificate, client certificates for agents, and kubeconfig rendering. ECDSA P-256 keys,
// SHA-256 signatures, OpenSSL 3 EVP APIs. Key files are written 0600, atomically.
// Thread-safety: functions are independent; concurrent ensurePki on one directory is not
// supported (the server calls it once at start-up).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace berth::http {

struct PkiFiles {
  std::string dir, ca_cert, ca_key, serving_cert, serving_key, admin_cert, admin_key;
};

// Creates the CA (10 years), the serving certificate (1 year; SANs from `sans` — each string is
// an IP address or a DNS name — plus localhost, 127.0.0.1, ::1 and the host name) and the admin
// client certificate (CN=admin, O=system:masters) under pki_dir on first use. Later calls reuse
// them, regenerating the serving certificate when it does not cover the requested SANs, was not
// signed by the CA, or expires within 30 days, and the admin certificate when it is unusable.
Result<PkiFiles> ensurePki(const std::string& pki_dir, const std::vector<std::string>& sans);

// A client certificate (1 year, clientAuth) signed by the CA: {PEM certificate, PEM key}.
Result<std::pair<std::string, std::string>> issueClientCert(const PkiFiles& pki,
                                                            const std::string& cn,
                                                            const std::vector<std::string>& orgs);

// The SANs of a PEM certificate, as "DNS:name" / "IP:addr" strings (for tests and diagnostics).
Result<std::vector<std::string>> certificateSans(const std::string& cert_pem);

// A kubeconfig with one cluster, one user and one current context named "<user>@<cluster>".
Result<std::string> renderKubeconfig(const std::string& server_url, const std::string& ca_pem,
                                     const std::string& client_cert_pem,
                                     const std::string& client_key_pem,
                                     const std::string& cluster_name,
                                     const std::string& user_name);

// Whole-file helpers. writeFileAtomic writes a temporary file in the same directory with
// `mode`, fsyncs it and renames it over `path`.
Result<std::string> readFile(const std::string& path);
Status writeFileAtomic(const std::string& path, const std::string& data, int mode = 0644);

}  // namespace berth::http
