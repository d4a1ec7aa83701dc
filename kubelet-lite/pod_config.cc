#include "kubelet-lite/pod_config.h"

#include <filesystem>
#include <fstream>

#include "common/strings.h"
#include "kubelet-lite/node_status.h"

namespace berth::kubelet {
namespace fs = std::filesystem;

namespace {

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}
std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : ""; }
std::string kindName(const std::string& kind) { return kind == "secrets" ? "secret" : "configmap"; }

// Data of a ConfigMap or Secret, decoded: key -> bytes.
Result<std::vector<std::pair<std::string, std::string>>> dataOf(const std::string& kind,
                                                                const json& obj) {
  std::vector<std::pair<std::string, std::string>> out;
  const json& data = at(obj, "data");
  if (data.is_object())
    for (auto it = data.begin(); it != data.end(); ++it) {
      std::string v = str(it.value());
      if (kind == "secrets") {
        std::string dec;
        if (!base64Decode(v, &dec)) return invalid("secret key " + it.key() + " is not base64");
        v = dec;
      }
      out.emplace_back(it.key(), v);
    }
  const json& bin = at(obj, kind == "secrets" ? "stringData" : "binaryData");
  if (bin.is_object())
    for (auto it = bin.begin(); it != bin.end(); ++it) {
      std::string v = str(it.value()), dec;
      if (kind != "secrets" && base64Decode(v, &dec)) v = dec;
      out.emplace_back(it.key(), v);
    }
  return out;
}

Status writeFile(const std::string& path, const std::string& data) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::ofstream f(path, std::ios::trunc | std::ios::binary);
  f << data;
  if (!f.flush()) return internalError("writing " + path);
  return Status::ok();
}

Result<std::string> resourceField(const json& pod, const json& container, const json& ref) {
  std::string cname = str(at(ref, "containerName"));
  const json* c = &container;
  if (!cname.empty()) {
    c = nullptr;
    for (const json& x : at(at(pod, "spec"), "containers"))
      if (str(at(x, "name")) == cname) c = &x;
    if (!c) return invalid("resourceFieldRef: no container " + cname);
  }
  std::string res = str(at(ref, "resource"));
  auto dot = res.find('.');
  if (dot == std::string::npos) return invalid("resourceFieldRef: unsupported resource " + res);
  std::string group = res.substr(0, dot), name = res.substr(dot + 1);
  std::string q = str(at(at(at(*c, "resources"), group.c_str()), name.c_str()));
  std::string divisor = str(at(ref, "divisor"));
  if (name == "cpu") {
    // Unset limits report the node's capacity upstream; 0 stands in for "unbounded" here.
    int64_t m = 0;
    if (!q.empty()) {
      auto r = parseCpuMillis(q);
      if (!r.isOk()) return r.status();
      m = *r;
    }
    int64_t div = 1000;
    if (!divisor.empty()) {
      auto d = parseCpuMillis(divisor);
      if (d.isOk() && *d > 0) div = *d;
    }
    return std::to_string((m + div - 1) / div);
  }
  int64_t b = 0;
  if (!q.empty()) {
    auto r = parseBytes(q);
    if (!r.isOk()) return r.status();
    b = *r;
  }
  int64_t div = 1;
  if (!divisor.empty()) {
    auto d = parseBytes(divisor);
    if (d.isOk() && *d > 0) div = *d;
  }
  return std::to_string((b + div - 1) / div);
}

}  // namespace

std::string PodConfigResolver::expand(const std::string& s,
                                      const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    if (s[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = s.substr(i + 2, close - i - 2);
        const std::string* val = nullptr;
        for (const auto& [k, v] : env)
          if (k == name) val = &v;
        if (val) {
          out += *val;
          i = close;
          continue;
        }
      }
    }
    out += s[i];
  }
  return out;
}

Result<std::string> PodConfigResolver::fieldRef(const json& pod, const std::string& path,
                                                const std::string& pod_ip,
                                                const std::string& host_ip) const {
  const json& md = at(pod, "metadata");
  if (path == "metadata.name") return str(at(md, "name"));
  if (path == "metadata.namespace") return str(at(md, "namespace"));
  if (path == "metadata.uid") return str(at(md, "uid"));
  if (path == "spec.nodeName") return str(at(at(pod, "spec"), "nodeName"));
  if (path == "spec.serviceAccountName") return str(at(at(pod, "spec"), "serviceAccountName"));
  if (path == "status.podIP" || path == "status.podIPs") return pod_ip;
  if (path == "status.hostIP" || path == "status.hostIPs") return host_ip;
  for (const char* m : {"labels", "annotations"}) {
    std::string prefix = std::string("metadata.") + m;
    if (path == prefix) {
      std::string out;
      const json& all = at(md, m);
      if (all.is_object())
        for (auto it = all.begin(); it != all.end(); ++it)
          out += it.key() + "=\"" + str(it.value()) + "\"\n";
      return out;
    }
    if (startsWith(path, prefix + "['") && endsWith(path, "']"))
      return str(at(at(md, m), path.substr(prefix.size() + 2, path.size() - prefix.size() - 4).c_str()));
  }
  return invalid("unsupported fieldRef fieldPath \"" + path + "\"");
}

Result<std::string> PodConfigResolver::keyRef(const std::string& kind, const std::string& ns,
                                              const json& ref, bool* skipped) const {
  *skipped = false;
  std::string name = str(at(ref, "name")), key = str(at(ref, "key"));
  bool optional = at(ref, "optional").is_boolean() && ref["optional"].get<bool>();
  auto obj = get_(kind, ns, name);
  if (!obj.isOk()) {
    if (obj.status().code() == Code::kNotFound) {
      if (optional) {
        *skipped = true;
        return std::string();
      }
      return notFound(kindName(kind) + " \"" + name + "\" not found");
    }
    return obj.status();
  }
  BERTH_ASSIGN_OR_RETURN(auto data, dataOf(kind, *obj));
  for (const auto& [k, v] : data)
    if (k == key) return v;
  if (optional) {
    *skipped = true;
    return std::string();
  }
  return notFound("couldn't find key " + key + " in " + kindName(kind) + " " + ns + "/" + name);
}

Result<std::vector<std::pair<std::string, std::string>>> PodConfigResolver::env(
    const json& pod, const json& container, const std::string& pod_ip,
    const std::string& host_ip) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string ns = str(at(at(pod, "metadata"), "namespace"));
  auto set = [&](const std::string& k, const std::string& v) {
    for (auto& [ek, ev] : out)
      if (ek == k) {
        ev = v;
        return;
      }
    out.emplace_back(k, v);
  };
  const json& from = at(container, "envFrom");
  if (from.is_array())
    for (const json& src : from) {
      std::string prefix = str(at(src, "prefix"));
      for (const char* which : {"configMapRef", "secretRef"}) {
        const json& ref = at(src, which);
        if (!ref.is_object()) continue;
        std::string kind = std::string(which) == "secretRef" ? "secrets" : "configmaps";
        std::string name = str(at(ref, "name"));
        auto obj = get_(kind, ns, name);
        if (!obj.isOk()) {
          bool optional = at(ref, "optional").is_boolean() && ref["optional"].get<bool>();
          if (obj.status().code() == Code::kNotFound && optional) continue;
          if (obj.status().code() == Code::kNotFound)
            return notFound(kindName(kind) + " \"" + name + "\" not found");
          return obj.status();
        }
        BERTH_ASSIGN_OR_RETURN(auto data, dataOf(kind, *obj));
        for (const auto& [k, v] : data) set(prefix + k, v);
      }
    }
  const json& list = at(container, "env");
  if (list.is_array())
    for (const json& e : list) {
      std::string name = str(at(e, "name"));
      const json& vf = at(e, "valueFrom");
      if (!vf.is_object()) {
        set(name, expand(str(at(e, "value")), out));
        continue;
      }
      bool skipped = false;
      std::string v;
      if (at(vf, "configMapKeyRef").is_object()) {
        BERTH_ASSIGN_OR_RETURN(v, keyRef("configmaps", ns, vf["configMapKeyRef"], &skipped));
      } else if (at(vf, "secretKeyRef").is_object()) {
        BERTH_ASSIGN_OR_RETURN(v, keyRef("secrets", ns, vf["secretKeyRef"], &skipped));
      } else if (at(vf, "fieldRef").is_object()) {
        BERTH_ASSIGN_OR_RETURN(v, fieldRef(pod, str(at(vf["fieldRef"], "fieldPath")), pod_ip, host_ip));
      } else if (at(vf, "resourceFieldRef").is_object()) {
        BERTH_ASSIGN_OR_RETURN(v, resourceField(pod, container, vf["resourceFieldRef"]));
      } else {
        return invalid("env " + name + ": valueFrom names no source");
      }
      if (!skipped) set(name, v);
    }
  return out;
}

Status PodConfigResolver::writeKeys(const std::string& kind, const std::string& ns,
                                    const json& src, const std::string& dir) const {
  std::string name = str(at(src, kind == "secrets" ? "secretName" : "name"));
  if (name.empty()) name = str(at(src, "name"));
  bool optional = at(src, "optional").is_boolean() && src["optional"].get<bool>();
  auto obj = get_(kind, ns, name);
  if (!obj.isOk()) {
    if (obj.status().code() == Code::kNotFound && optional) return Status::ok();
    if (obj.status().code() == Code::kNotFound)
      return notFound(kindName(kind) + " \"" + name + "\" not found");
    return obj.status();
  }
  BERTH_ASSIGN_OR_RETURN(auto data, dataOf(kind, *obj));
  const json& items = at(src, "items");
  if (items.is_array() && !items.empty()) {
    for (const json& it : items) {
      std::string key = str(at(it, "key")), path = str(at(it, "path"));
      if (path.find("..") != std::string::npos) return invalid("volume item path " + path + " escapes");
      bool found = false;
      for (const auto& [k, v] : data)
        if (k == key) {
          BERTH_RETURN_IF_ERROR(writeFile(dir + "/" + path, v));
          found = true;
        }
      if (!found && !optional)
        return notFound("couldn't find key " + key + " in " + kindName(kind) + " " + ns + "/" + name);
    }
    return Status::ok();
  }
  for (const auto& [k, v] : data) BERTH_RETURN_IF_ERROR(writeFile(dir + "/" + k, v));
  return Status::ok();
}

Result<std::vector<std::pair<std::string, std::string>>> PodConfigResolver::prepareVolumes(
    const json& pod, const std::string& volumes_dir, const std::string& pod_ip,
    const std::string& host_ip) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string ns = str(at(at(pod, "metadata"), "namespace"));
  const json& vols = at(at(pod, "spec"), "volumes");
  if (!vols.is_array()) return out;
  auto downward = [&](const json& src, const std::string& dir) -> Status {
    for (const json& it : at(src, "items")) {
      std::string path = str(at(it, "path"));
      if (path.find("..") != std::string::npos) return invalid("volume item path " + path + " escapes");
      if (!at(it, "fieldRef").is_object()) continue;
      BERTH_ASSIGN_OR_RETURN(std::string v, fieldRef(pod, str(at(it["fieldRef"], "fieldPath")), pod_ip, host_ip));
      BERTH_RETURN_IF_ERROR(writeFile(dir + "/" + path, v));
    }
    return Status::ok();
  };
  for (const json& v : vols) {
    std::string name = str(at(v, "name"));
    std::string dir = volumes_dir + "/" + name;
    if (at(v, "hostPath").is_object()) {
      out.emplace_back(name, str(at(v["hostPath"], "path")));
      continue;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return internalError("creating volume dir " + dir + ": " + ec.message());
    if (at(v, "configMap").is_object()) {
      BERTH_RETURN_IF_ERROR(writeKeys("configmaps", ns, v["configMap"], dir));
    } else if (at(v, "secret").is_object()) {
      BERTH_RETURN_IF_ERROR(writeKeys("secrets", ns, v["secret"], dir));
    } else if (at(v, "downwardAPI").is_object()) {
      BERTH_RETURN_IF_ERROR(downward(v["downwardAPI"], dir));
    } else if (at(v, "projected").is_object()) {
      for (const json& src : at(v["projected"], "sources")) {
        if (at(src, "configMap").is_object()) BERTH_RETURN_IF_ERROR(writeKeys("configmaps", ns, src["configMap"], dir));
        if (at(src, "secret").is_object()) BERTH_RETURN_IF_ERROR(writeKeys("secrets", ns, src["secret"], dir));
        if (at(src, "downwardAPI").is_object()) BERTH_RETURN_IF_ERROR(downward(src["downwardAPI"], dir));
      }
    } else if (!at(v, "emptyDir").is_object()) {
      return invalid("volume " + name + ": unsupported volume type");
    }
    out.emplace_back(name, dir);
  }
  return out;
}

std::vector<std::string> PodConfigResolver::dockerConfigs(const json& pod) const {
  std::vector<std::string> out;
  std::string ns = str(at(at(pod, "metadata"), "namespace"));
  const json& refs = at(at(pod, "spec"), "imagePullSecrets");
  if (!refs.is_array()) return out;
  for (const json& ref : refs) {
    auto secret = get_("secrets", ns, str(at(ref, "name")));
    if (!secret.isOk()) continue;
    auto data = dataOf("secrets", *secret);
    if (!data.isOk()) continue;
    for (const auto& [k, v] : *data)
      if (k == ".dockerconfigjson" || k == ".dockercfg") out.push_back(v);
  }
  return out;
}

Result<std::vector<Mount>> PodConfigResolver::mounts(
    const json& container, const std::vector<std::pair<std::string, std::string>>& volumes) {
  std::vector<Mount> out;
  const json& vms = at(container, "volumeMounts");
  if (!vms.is_array()) return out;
  for (const json& vm : vms) {
    std::string name = str(at(vm, "name"));
    const std::string* host = nullptr;
    for (const auto& [k, p] : volumes)
      if (k == name) host = &p;
    if (!host) return invalid("volumeMount " + name + ": no volume of that name");
    Mount m;
    m.host_path = *host;
    std::string sub = str(at(vm, "subPath"));
    if (sub.find("..") != std::string::npos) return invalid("subPath " + sub + " escapes its volume");
    if (!sub.empty()) m.host_path += "/" + sub;
    m.container_path = str(at(vm, "mountPath"));
    m.read_only = at(vm, "readOnly").is_boolean() && vm["readOnly"].get<bool>();
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace berth::kubelet
