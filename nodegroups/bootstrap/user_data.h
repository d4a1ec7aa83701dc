// User-data for joining a node: the AL2023 nodeadm `NodeConfig` document (node.eks.aws/v1alpha1)
// and the MIME multipart/mixed envelope EC2 user-data uses, rendered and parsed.
//
// A user-data document is either a plain NodeConfig YAML document or a MIME multipart/mixed
// document whose `text/x-shellscript` parts are pre-bootstrap commands (run in order before the
// agent starts) and whose `application/node.eks.aws` parts are NodeConfig documents merged in
// order as nodeadm does: later wins, maps merge, lists replace. Berth carries the bootstrap token
// in the NodeConfig annotation `berth.dev/bootstrap-token` (nodeadm ignores annotations).
//
// The kubelet flags Berth honours are --node-labels, --register-with-taints, --max-pods and
// --provider-id; any other flag is reported as a warning naming it. Errors name the part and the
// field that is wrong. Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace berth::nodegroups::bootstrap {

using json = nlohmann::json;

inline constexpr const char* kNodeConfigApiVersion = "node.eks.aws/v1alpha1";
inline constexpr const char* kNodeConfigKind = "NodeConfig";
inline constexpr const char* kNodeConfigContentType = "application/node.eks.aws";
inline constexpr const char* kShellContentType = "text/x-shellscript";
inline constexpr const char* kBootstrapTokenAnnotation = "berth.dev/bootstrap-token";

struct Taint {
  std::string key;
  std::string value;   // may be empty
  std::string effect;  // NoSchedule, PreferNoSchedule or NoExecute
  bool operator==(const Taint&) const = default;
};

// A NodeConfig's typed view. `kubelet_config`, `instance` and `feature_gates` stay JSON so the
// fields Berth does not interpret round-trip.
struct NodeConfig {
  std::map<std::string, std::string> annotations;  // metadata.annotations
  // spec.cluster
  std::string cluster_name;
  std::string api_server_endpoint;    // https URL
  std::string certificate_authority;  // base64 of a PEM bundle, as nodeadm wants it
  std::string cidr;                   // the service CIDR
  // spec.kubelet
  json kubelet_config = json::object();  // partial KubeletConfiguration (maxPods, clusterDNS...)
  std::vector<std::string> kubelet_flags;
  json instance = json::object();       // spec.instance
  json feature_gates = json::object();  // spec.featureGates

  // The bootstrap token from the annotation, "" when absent.
  std::string bootstrapToken() const;
  // The decoded CA bundle (PEM).
  Result<std::string> caPem() const;
};

// A `text/x-shellscript` part: a pre-bootstrap command.
struct ShellPart {
  std::string name;    // "part 1" or the part's filename
  std::string script;  // the body, starting with #! as a rule
};

struct UserData {
  std::vector<ShellPart> scripts;  // in document order
  NodeConfig config;               // all NodeConfig parts merged
  std::vector<std::string> warnings;  // parts Berth skips (e.g. text/cloud-config)
};

// The NodeConfig document as JSON (apiVersion, kind, metadata, spec); empty fields omitted.
json nodeConfigToJson(const NodeConfig& c);
// The typed view of a (merged) document, validated: apiVersion/kind, the four cluster fields
// (https endpoint, base64 PEM CA, CIDR), kubelet.config a map, kubelet.flags strings.
Result<NodeConfig> nodeConfigFromJson(const json& doc);
// YAML text of one NodeConfig document.
std::string renderNodeConfigYaml(const NodeConfig& c);

// nodeadm's merge of two NodeConfig documents: `over` wins; maps merge key by key, lists and
// scalars replace.
json mergeNodeConfigDocs(json base, const json& over);

// Parses user-data (MIME multipart or a plain NodeConfig YAML document).
Result<UserData> parseUserData(std::string_view text);

// What renderUserData needs. Keep this struct stable: the NodeGroup controller and the CLI use it.
struct UserDataParams {
  std::string cluster_name;
  std::string api_server_endpoint;  // https://host:port
  std::string ca_pem;               // cluster CA bundle, PEM (rendered base64)
  std::string service_cidr;         // e.g. 10.96.0.0/12
  std::string bootstrap_token;      // "<id>.<secret>"; empty: none (the node has a kubeconfig)
  std::map<std::string, std::string> labels;  // rendered as --node-labels
  std::vector<Taint> taints;                  // rendered as --register-with-taints
  int32_t max_pods = 0;                       // 0: not set
  std::string provider_id;                    // rendered as --provider-id when set
  std::string hostname_override;              // rendered as --hostname-override: the Node's name
  std::vector<std::string> pre_bootstrap_commands;  // each one shell part, in order
  // The group's own user-data (NodeGroup spec.userData, as a launch template's): its parts go
  // first (see parseUserDataTemplate). Empty: none.
  std::string user_data;
};

// A MIME multipart/mixed document: the parts of params.user_data, then one shell part per
// pre-bootstrap command, then Berth's NodeConfig part (last, so that its cluster fields and
// kubelet flags win the merge, as EKS puts its own NodeConfig after a launch template's).
// Deterministic (fixed boundary, sorted labels). Fails when a required field is missing or the
// group's user-data is not valid.
Result<std::string> renderUserData(const UserDataParams& params);

// One part of a node group's own user-data.
struct UserDataPart {
  std::string content_type;  // kShellContentType or kNodeConfigContentType
  std::string name;          // "part 1", "script" or "NodeConfig" (for messages)
  std::string body;          // decoded
};
// A node group's own user-data (at most 16 KiB, as EC2's): a shell script (starts with #!), a
// NodeConfig document (partial: the cluster fields may be left to Berth), or a MIME
// multipart/mixed of text/x-shellscript and application/node.eks.aws parts. Other part types
// and malformed NodeConfig documents are refused, naming the part and field.
Result<std::vector<UserDataPart>> parseUserDataTemplate(std::string_view text);

// What the agent applies from a NodeConfig: the honoured kubelet flags and config.
struct KubeletSettings {
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
  int32_t max_pods = 0;  // 0: not set
  std::string provider_id;
  std::string hostname_override;         // --hostname-override: the Node's name, over the host's
  std::vector<std::string> cluster_dns;  // config.clusterDNS, else .10 of the service CIDR
  std::vector<std::string> warnings;     // flags Berth ignores, named
};
Result<KubeletSettings> kubeletSettings(const NodeConfig& c);

// "k=v,k2=v2" and "k=v:Effect,k2:Effect" as the kubelet flags spell them.
Result<std::map<std::string, std::string>> parseNodeLabels(std::string_view s);
Result<std::vector<Taint>> parseTaints(std::string_view s);

}  // namespace berth::nodegroups::bootstrap
