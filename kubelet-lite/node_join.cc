#include "kubelet-lite/node_join.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apiserver/http/pki.h"
#include "client/rest_client.h"
#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/csr.h"
#include "nodegroups/bootstrap/user_data.h"

namespace berth::kubelet {

namespace fs = std::filesystem;
namespace nb = nodegroups::bootstrap;
using json = nlohmann::json;

namespace {

const client::Resource& csrs() {
  static const client::Resource r{"certificates.k8s.io", "v1", "certificatesigningrequests",
                                  "CertificateSigningRequest", false, {}};
  return r;
}

std::string hostName() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Runs one shell part with its output in the log, line by line.
Status runShellPart(const nb::ShellPart& part, const fs::path& dir, size_t index) {
  fs::path script = dir / ("part-" + std::to_string(index + 1));
  {
    std::ofstream f(script, std::ios::trunc);
    f << part.script << "\n";
    if (!f) return internalError("writing " + script.string());
  }
  fs::permissions(script, fs::perms::owner_all);
  bool has_shebang = startsWith(part.script, "#!");
  std::string cmd = (has_shebang ? "'" + script.string() + "'" : "/bin/sh '" + script.string() + "'") + " 2>&1";
  BLOG(0, "running pre-bootstrap part").kv("part", part.name);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return internalError("starting pre-bootstrap " + part.name + ": " + strerror(errno));
  char line[4096];
  while (fgets(line, sizeof line, p)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    BLOG(0, "pre-bootstrap output").kv("part", part.name).kv("line", s);
  }
  int rc = pclose(p);
  if (rc == -1) return internalError("waiting for pre-bootstrap " + part.name);
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 0) return Status::ok();
  std::string how = WIFEXITED(rc) ? "exited with status " + std::to_string(WEXITSTATUS(rc))
                                  : "was killed by signal " + std::to_string(WTERMSIG(rc));
  return badRequest("user-data pre-bootstrap " + part.name + " " + how + "; the node does not join");
}

bool condition(const json& csr, const char* type, std::string* message) {
  if (!csr.contains("status") || !csr["status"].contains("conditions")) return false;
  for (const auto& c : csr["status"]["conditions"])
    if (c.value("type", "") == type) {
      *message = c.value("reason", "") + ": " + c.value("message", "");
      return true;
    }
  return false;
}

// Done when the certificate is there; an error when the CSR was denied or failed.
Result<bool> csrDone(const json& csr, std::string* cert_pem) {
  std::string why;
  std::string name = csr["metadata"].value("name", "");
  if (condition(csr, "Denied", &why)) return Status(Code::kForbidden, "certificate signing request " + name + " was denied (" + why + ")");
  if (condition(csr, "Failed", &why)) return Status(Code::kForbidden, "certificate signing request " + name + " failed (" + why + ")");
  std::string b64 = csr.contains("status") ? csr["status"].value("certificate", "") : "";
  if (b64.empty()) return false;
  if (!base64Decode(b64, cert_pem)) return badRequest("status.certificate of " + name + " is not base64");
  return true;
}

// Waits (a watch on the one CSR) until it is issued; the deadline bounds the whole wait.
Result<std::string> waitForCertificate(client::Client& c, const std::string& name,
                                       std::chrono::steady_clock::time_point deadline) {
  std::string cert;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(json csr, c.get(csrs(), "", name));
    BERTH_ASSIGN_OR_RETURN(bool done, csrDone(csr, &cert));
    if (done) return cert;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Status(Code::kTimeout, "timed out waiting for certificate signing request " + name +
                                        " to be approved and issued (is the csr controller running? "
                                        "kubectl certificate approve " + name + " approves it by hand)");
    client::WatchOptions wo;
    wo.field_selector = "metadata.name=" + name;
    wo.resource_version = csr["metadata"].value("resourceVersion", "");
    wo.timeout_seconds = static_cast<int>(std::max<int64_t>(1, left.count()));
    Status failure;
    client::CancelToken cancel;
    Status st = c.watch(csrs(), "", wo, [&](const json& ev) {
      if (ev.value("type", "") == "ERROR") return false;
      auto d = csrDone(ev["object"], &cert);
      if (!d.isOk()) failure = d.status();
      return !(d.isOk() && *d) && failure.isOk();
    }, &cancel);
    BERTH_RETURN_IF_ERROR(failure);
    if (!cert.empty()) return cert;
    if (!st.isOk()) BLOG(2, "csr watch ended").kv("csr", name).kv("err", st.message());
  }
}

Status writeFile(const fs::path& path, const std::string& data, int mode) {
  return http::writeFileAtomic(path.string(), data, mode);
}

// The TLS bootstrap: key, CSR with the bootstrap token, certificate, kubeconfig.
Status bootstrapCredentials(const nb::NodeConfig& cfg, const std::string& node, const fs::path& kubeconfig,
                            std::chrono::seconds timeout) {
  std::string token = cfg.bootstrapToken();
  if (token.empty())
    return badRequest("no kubeconfig at " + kubeconfig.string() + " and the NodeConfig has no bootstrap token "
                      "(annotation " + std::string(nb::kBootstrapTokenAnnotation) + ")");
  BERTH_ASSIGN_OR_RETURN(std::string ca, cfg.caPem());
  client::KubeConfig kc;
  kc.server = cfg.api_server_endpoint;
  kc.ca_pem = ca;
  kc.token = token;
  client::RestClient::Options co;
  co.user_agent = "berth-agent/bootstrap";
  client::RestClient c(kc, co);
  BERTH_ASSIGN_OR_RETURN(nb::KeyAndCsr kcsr, nb::makeNodeClientCsr(node));
  json csr = {{"apiVersion", "certificates.k8s.io/v1"},
              {"kind", "CertificateSigningRequest"},
              {"metadata", {{"generateName", "node-csr-"}}},
              {"spec",
               {{"request", base64Encode(kcsr.csr_pem)},
                {"signerName", nb::kKubeletClientSigner},
                {"usages", {"digital signature", "client auth"}}}}};
  auto created = c.create(csrs(), "", csr);
  if (!created.isOk()) return created.status().withContext("creating the node's certificate signing request as the bootstrap token");
  std::string name = (*created)["metadata"].value("name", "");
  BLOG(0, "certificate signing request created").kv("csr", name).kv("node", node);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  BERTH_ASSIGN_OR_RETURN(std::string cert, waitForCertificate(c, name, deadline));
  BERTH_ASSIGN_OR_RETURN(std::string text, http::renderKubeconfig(cfg.api_server_endpoint, ca, cert, kcsr.key_pem,
                                                                  cfg.cluster_name, "system:node:" + node));
  BERTH_RETURN_IF_ERROR(writeFile(kubeconfig, text, 0600));
  BLOG(0, "node client certificate issued").kv("csr", name).kv("kubeconfig", kubeconfig.string());
  return Status::ok();
}

bool inNamespace(const std::string& prefix, const std::string& ns) {
  return prefix == ns || endsWith(prefix, "." + ns);
}

}  // namespace

Status checkSelfLabels(const std::map<std::string, std::string>& labels) {
  static const std::set<std::string> kAllowed = {
      "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
      "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
      "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
      "topology.kubernetes.io/region", "topology.kubernetes.io/zone"};
  std::vector<std::string> refused;
  for (const auto& [k, v] : labels) {
    auto slash = k.find('/');
    if (slash == std::string::npos) continue;
    std::string prefix = k.substr(0, slash);
    if (!inNamespace(prefix, "kubernetes.io") && !inNamespace(prefix, "k8s.io")) continue;
    if (kAllowed.count(k) || inNamespace(prefix, "kubelet.kubernetes.io") || inNamespace(prefix, "node.kubernetes.io"))
      continue;
    refused.push_back(k);
  }
  if (refused.empty()) return Status::ok();
  return badRequest("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [" + join(refused, " ") +
                    "]; a node may only set labels in those namespaces that begin with kubelet.kubernetes.io/ or "
                    "node.kubernetes.io/, or are one of kubernetes.io/hostname|arch|os and "
                    "topology.kubernetes.io/region|zone (node-role.kubernetes.io/* is set by the cluster, not the node)");
}

Status joinFromUserData(AgentOptions& opts, std::chrono::seconds timeout) {
  std::ifstream in(opts.user_data);
  if (!in) return badRequest("--user-data: cannot read " + opts.user_data);
  std::stringstream ss;
  ss << in.rdbuf();
  BERTH_ASSIGN_OR_RETURN(nb::UserData ud, nb::parseUserData(ss.str()));
  for (const auto& w : ud.warnings) BLOG(0, "user-data warning").kv("warning", w);
  BERTH_ASSIGN_OR_RETURN(nb::KubeletSettings ks, nb::kubeletSettings(ud.config));
  for (const auto& w : ks.warnings) BLOG(0, "user-data warning").kv("warning", w);
  BERTH_RETURN_IF_ERROR(checkSelfLabels(ks.labels));
  // The NodeConfig's --hostname-override names the node, over the host name (or the name the
  // instance's supervisor gives, which stands for it).
  if (!ks.hostname_override.empty()) opts.node_name = ks.hostname_override;
  if (opts.node_name.empty()) opts.node_name = hostName();
  fs::path node_dir = fs::path(opts.root_dir) / opts.node_name;
  std::error_code ec;
  fs::create_directories(node_dir / "user-data", ec);
  if (ec) return internalError("creating " + (node_dir / "user-data").string() + ": " + ec.message());
  for (size_t i = 0; i < ud.scripts.size(); ++i)
    BERTH_RETURN_IF_ERROR(runShellPart(ud.scripts[i], node_dir / "user-data", i));
  for (const auto& [k, v] : ks.labels) opts.labels[k] = v;
  for (const auto& t : ks.taints) opts.taints.push_back({t.key, t.value, t.effect});
  if (ks.max_pods > 0) opts.max_pods = ks.max_pods;
  if (!ks.provider_id.empty() && opts.provider_id.empty()) opts.provider_id = ks.provider_id;  // --provider-id wins
  if (!opts.kubeconfig.empty()) return Status::ok();  // credentials given; the NodeConfig only configures
  fs::path kubeconfig = node_dir / "kubelet.kubeconfig";
  if (!fs::exists(kubeconfig)) {
    BERTH_RETURN_IF_ERROR(bootstrapCredentials(ud.config, opts.node_name, kubeconfig, timeout)
                              .withContext("joining cluster " + ud.config.cluster_name + " at " +
                                           ud.config.api_server_endpoint));
  }
  opts.kubeconfig = kubeconfig.string();
  return Status::ok();
}

}  // namespace berth::kubelet
