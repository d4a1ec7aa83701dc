#include "client/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace berth::client {

namespace {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

YAML::Node findNamed(const YAML::Node& list, const std::string& name, const char* field) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list)
    if (item["name"] && item["name"].as<std::string>() == name) return item[field];
  return YAML::Node();
}

std::string str(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap() || !n[key] || !n[key].IsScalar()) return "";
  return n[key].as<std::string>();
}

// Either the inline base64 `<key>-data` or the file named by `<key>`.
Result<std::string> dataOrFile(const YAML::Node& n, const std::string& key, const std::string& base_dir) {
  std::string data = str(n, (key + "-data").c_str());
  if (!data.empty()) {
    std::string out;
    if (!base64Decode(data, &out)) return badRequest("kubeconfig: " + key + "-data is not valid base64");
    return out;
  }
  std::string file = str(n, key.c_str());
  if (file.empty()) return std::string();
  std::filesystem::path p(file);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  return readFile(p.string());
}

}  // namespace

Result<KubeConfig> parseKubeConfig(const std::string& yaml, const std::string& base_dir,
                                   const std::string& context) {
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return badRequest("kubeconfig: not a YAML mapping");
    std::string ctx_name = context.empty() ? str(root, "current-context") : context;
    YAML::Node ctx;
    if (ctx_name.empty()) {
      if (root["contexts"] && root["contexts"].IsSequence() && root["contexts"].size() == 1)
        ctx = root["contexts"][0]["context"];
    } else {
      ctx = findNamed(root["contexts"], ctx_name, "context");
    }
    if (!ctx) return badRequest("kubeconfig: context \"" + ctx_name + "\" not found");
    YAML::Node cluster = findNamed(root["clusters"], str(ctx, "cluster"), "cluster");
    if (!cluster) return badRequest("kubeconfig: cluster \"" + str(ctx, "cluster") + "\" not found");
    YAML::Node user = findNamed(root["users"], str(ctx, "user"), "user");
    KubeConfig kc;
    kc.server = str(cluster, "server");
    if (kc.server.empty()) return badRequest("kubeconfig: cluster has no server");
    while (!kc.server.empty() && kc.server.back() == '/') kc.server.pop_back();
    kc.insecure_skip_tls_verify = str(cluster, "insecure-skip-tls-verify") == "true";
    BERTH_ASSIGN_OR_RETURN(kc.ca_pem, dataOrFile(cluster, "certificate-authority", base_dir));
    if (user) {
      BERTH_ASSIGN_OR_RETURN(kc.cert_pem, dataOrFile(user, "client-certificate", base_dir));
      BERTH_ASSIGN_OR_RETURN(kc.key_pem, dataOrFile(user, "client-key", base_dir));
      kc.token = str(user, "token");
      std::string token_file = str(user, "tokenFile");
      if (kc.token.empty() && !token_file.empty()) {
        BERTH_ASSIGN_OR_RETURN(std::string t, readFile(token_file));
        kc.token = std::string(trim(t));
      }
    }
    return kc;
  } catch (const std::exception& e) {
    return badRequest(std::string("kubeconfig: ") + e.what());
  }
}

Result<KubeConfig> loadKubeConfig(const std::string& path, const std::string& context) {
  auto text = readFile(path);
  if (!text.isOk()) return text.status();
  auto dir = std::filesystem::path(path).parent_path().string();
  auto r = parseKubeConfig(*text, dir, context);
  if (!r.isOk()) return r.status().withContext(path);
  return r;
}

}  // namespace berth::client
