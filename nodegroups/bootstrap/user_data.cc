#include "nodegroups/bootstrap/user_data.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/strings.h"

namespace berth::nodegroups::bootstrap {

namespace {

constexpr const char* kBoundary = "==BERTHBOUNDARY==";

// ---- YAML adapter (yaml-cpp exceptions stop here) ----

bool isYamlBool(std::string_view s, bool* v) {
  static const char* kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
  static const char* kFalse[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
  for (const char* t : kTrue)
    if (s == t) return *v = true, true;
  for (const char* f : kFalse)
    if (s == f) return *v = false, true;
  return false;
}

bool isYamlInt(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  std::string str(s);
  size_t start = (str[0] == '-' || str[0] == '+') ? 1 : 0;
  if (start == str.size()) return false;
  int base = 10;
  if (str.compare(start, 2, "0x") == 0) base = 16;
  for (size_t i = start + (base == 16 ? 2 : 0); i < str.size(); ++i) {
    char c = str[i];
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c));
    if (!ok) return false;
  }
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(str.c_str(), &end, base == 16 ? 0 : 10);
  if (errno != 0 || *end != '\0') return false;
  *v = n;
  return true;
}

bool isYamlFloat(std::string_view s, double* v) {
  if (s.empty() || s.find_first_of("0123456789") == std::string_view::npos) return false;
  if (s.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return false;
  std::string str(s);
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(str.c_str(), &end);
  if (errno != 0 || *end != '\0') return false;
  *v = d;
  return true;
}

// A plain (unquoted) scalar as YAML 1.1 reads it, as sigs.k8s.io/yaml does.
json plainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  bool b;
  if (isYamlBool(s, &b)) return b;
  int64_t i;
  if (isYamlInt(s, &i)) return i;
  double d;
  if (isYamlFloat(s, &d)) return d;
  return s;
}

Status yamlNodeToJson(const YAML::Node& n, int depth, json* out) {
  if (depth > 100) return badRequest("nesting too deep");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      *out = nullptr;
      return Status::ok();
    case YAML::NodeType::Scalar:
      *out = n.Tag() == "!" ? json(n.Scalar()) : plainScalar(n.Scalar());
      return Status::ok();
    case YAML::NodeType::Sequence: {
      *out = json::array();
      for (const auto& item : n) {
        json v;
        BERTH_RETURN_IF_ERROR(yamlNodeToJson(item, depth + 1, &v));
        out->push_back(std::move(v));
      }
      return Status::ok();
    }
    case YAML::NodeType::Map: {
      *out = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return badRequest("map keys must be strings");
        json v;
        BERTH_RETURN_IF_ERROR(yamlNodeToJson(kv.second, depth + 1, &v));
        (*out)[kv.first.Scalar()] = std::move(v);
      }
      return Status::ok();
    }
  }
  return badRequest("unsupported YAML node");
}

// Every YAML document in `text` (separated by ---), skipping empty ones.
Result<std::vector<json>> parseYamlDocs(std::string_view text) {
  try {
    std::vector<json> out;
    for (const auto& doc : YAML::LoadAll(std::string(text))) {
      if (doc.IsNull()) continue;
      json j;
      BERTH_RETURN_IF_ERROR(yamlNodeToJson(doc, 0, &j));
      out.push_back(std::move(j));
    }
    return out;
  } catch (const YAML::Exception& e) {
    return badRequest("yaml: line " + std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

void emitJson(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key << it.key() << YAML::Value;
        emitJson(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& e : v) emitJson(out, e);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.find('\n') != std::string::npos) out << YAML::Literal << s;
      else if (!plainScalar(s).is_string()) out << YAML::DoubleQuoted << s;
      else out << s;
      break;
    }
    case json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      break;
    case json::value_t::null:
      out << YAML::Null;
      break;
    default:
      out << v.dump();
  }
}

std::string toYaml(const json& v) {
  YAML::Emitter out;
  emitJson(out, v);
  return std::string(out.c_str()) + "\n";
}

// ---- validation helpers ----

bool validCidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string ip = cidr.substr(0, slash), bits = cidr.substr(slash + 1);
  int64_t n;
  if (!isYamlInt(bits, &n) || bits[0] == '-' || bits[0] == '+') return false;
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return n <= 32;
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return n <= 128;
  return false;
}

// The .10 address of a service CIDR, as nodeadm derives the cluster DNS address.
std::string dnsAddressOf(const std::string& cidr) {
  std::string ip = cidr.substr(0, cidr.find('/'));
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    buf[3] = static_cast<unsigned char>(buf[3] + 10);
    return inet_ntop(AF_INET, buf, text, sizeof text) ? text : "";
  }
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    buf[15] = static_cast<unsigned char>(buf[15] + 10);
    return inet_ntop(AF_INET6, buf, text, sizeof text) ? text : "";
  }
  return "";
}

bool validLabelName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back())))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool validLabelKey(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return validLabelName(key);
  std::string_view prefix = key.substr(0, slash);
  if (prefix.empty() || prefix.size() > 253) return false;
  for (const auto& part : split(prefix, '.')) {
    if (part.empty() || part.size() > 63 || part.front() == '-' || part.back() == '-') return false;
    for (char c : part)
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
        return false;
  }
  return validLabelName(key.substr(slash + 1));
}

bool validLabelValue(std::string_view v) { return v.empty() || validLabelName(v); }

const json* at(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

Status fieldError(const std::string& field, const std::string& what) {
  return Status(Code::kInvalid, field + ": " + what).withCause({"FieldValueInvalid", what, field});
}

// The shape a single NodeConfig document must have (before merging): identity and types.
Status checkDocShape(const json& doc) {
  if (!doc.is_object()) return badRequest("not a YAML mapping");
  std::string av = doc.value("apiVersion", std::string());
  if (av != kNodeConfigApiVersion)
    return fieldError("apiVersion", "must be " + std::string(kNodeConfigApiVersion) + ", got \"" + av + "\"");
  std::string kind = doc.value("kind", std::string());
  if (kind != kNodeConfigKind) return fieldError("kind", "must be NodeConfig, got \"" + kind + "\"");
  struct Want {
    std::initializer_list<const char*> path;
    const char* name;
    json::value_t type;
  };
  const Want wants[] = {
      {{"metadata"}, "metadata", json::value_t::object},
      {{"metadata", "annotations"}, "metadata.annotations", json::value_t::object},
      {{"spec"}, "spec", json::value_t::object},
      {{"spec", "cluster"}, "spec.cluster", json::value_t::object},
      {{"spec", "cluster", "name"}, "spec.cluster.name", json::value_t::string},
      {{"spec", "cluster", "apiServerEndpoint"}, "spec.cluster.apiServerEndpoint", json::value_t::string},
      {{"spec", "cluster", "certificateAuthority"}, "spec.cluster.certificateAuthority", json::value_t::string},
      {{"spec", "cluster", "cidr"}, "spec.cluster.cidr", json::value_t::string},
      {{"spec", "kubelet"}, "spec.kubelet", json::value_t::object},
      {{"spec", "kubelet", "config"}, "spec.kubelet.config", json::value_t::object},
      {{"spec", "kubelet", "flags"}, "spec.kubelet.flags", json::value_t::array},
      {{"spec", "instance"}, "spec.instance", json::value_t::object},
      {{"spec", "featureGates"}, "spec.featureGates", json::value_t::object},
  };
  for (const auto& w : wants) {
    const json* v = at(doc, w.path);
    if (!v || v->is_null()) continue;
    if (v->type() != w.type) {
      const char* t = w.type == json::value_t::object ? "a map"
                      : w.type == json::value_t::array ? "a list"
                                                       : "a string";
      return fieldError(w.name, std::string("must be ") + t + ", got " + v->dump());
    }
  }
  if (const json* flags = at(doc, {"spec", "kubelet", "flags"}); flags && flags->is_array()) {
    for (size_t i = 0; i < flags->size(); ++i)
      if (!(*flags)[i].is_string())
        return fieldError("spec.kubelet.flags[" + std::to_string(i) + "]",
                          "must be a string, got " + (*flags)[i].dump());
  }
  if (const json* ann = at(doc, {"metadata", "annotations"}); ann && ann->is_object()) {
    for (auto it = ann->begin(); it != ann->end(); ++it)
      if (!it.value().is_string())
        return fieldError("metadata.annotations." + it.key(), "must be a string");
  }
  if (const json* mp = at(doc, {"spec", "kubelet", "config", "maxPods"}); mp && !mp->is_null()) {
    if (!mp->is_number_integer() || mp->get<int64_t>() < 1 || mp->get<int64_t>() > 100000)
      return fieldError("spec.kubelet.config.maxPods", "must be a positive integer, got " + mp->dump());
  }
  return Status::ok();
}

std::string str(const json& doc, std::initializer_list<const char*> path) {
  const json* v = at(doc, path);
  return v && v->is_string() ? v->get<std::string>() : "";
}

// ---- MIME ----

struct MimeHeaders {
  std::map<std::string, std::string> fields;  // lower-case name -> value
  std::string get(const std::string& name) const {
    auto it = fields.find(name);
    return it == fields.end() ? "" : it->second;
  }
};

std::vector<std::string> splitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return lines;
}

// Reads header lines from lines[*i] up to the blank line (continuations folded); *i ends past it.
Result<MimeHeaders> readHeaders(const std::vector<std::string>& lines, size_t* i) {
  MimeHeaders h;
  std::string last;
  for (; *i < lines.size(); ++*i) {
    const std::string& line = lines[*i];
    if (line.empty()) {
      ++*i;
      return h;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !last.empty()) {
      h.fields[last] += " " + std::string(trim(line));
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return badRequest("malformed header line \"" + line + "\"");
    last = toLower(trim(std::string_view(line).substr(0, colon)));
    h.fields[last] = std::string(trim(std::string_view(line).substr(colon + 1)));
  }
  return h;
}

// "multipart/mixed; boundary=\"x\"" -> media type and parameters.
std::string mediaType(const std::string& content_type, std::map<std::string, std::string>* params) {
  auto parts = split(content_type, ';');
  std::string type = parts.empty() ? "" : toLower(trim(parts[0]));
  for (size_t i = 1; params && i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos) continue;
    std::string v(trim(std::string_view(parts[i]).substr(eq + 1)));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    (*params)[toLower(trim(std::string_view(parts[i]).substr(0, eq)))] = v;
  }
  return type;
}

struct MimePart {
  MimeHeaders headers;
  std::string body;
};

Result<std::vector<MimePart>> splitMultipart(const std::vector<std::string>& lines, size_t start,
                                             const std::string& boundary) {
  std::string delim = "--" + boundary, close = delim + "--";
  std::vector<MimePart> parts;
  std::vector<std::vector<std::string>> raw;
  bool in_part = false, closed = false;
  for (size_t i = start; i < lines.size() && !closed; ++i) {
    std::string line(trim(lines[i]));
    if (line == close) {
      closed = true;
    } else if (line == delim) {
      raw.emplace_back();
      in_part = true;
    } else if (in_part) {
      raw.back().push_back(lines[i]);
    }
  }
  if (raw.empty()) return badRequest("MIME multipart has no part delimited by \"" + delim + "\"");
  for (size_t p = 0; p < raw.size(); ++p) {
    size_t i = 0;
    auto h = readHeaders(raw[p], &i);
    if (!h.isOk()) return h.status().withContext("part " + std::to_string(p + 1));
    MimePart part{*h, ""};
    for (size_t j = i; j < raw[p].size(); ++j) part.body += raw[p][j] + (j + 1 < raw[p].size() ? "\n" : "");
    parts.push_back(std::move(part));
  }
  return parts;
}

Result<std::string> decodeBody(const MimePart& part) {
  std::string enc = toLower(part.headers.get("content-transfer-encoding"));
  if (enc.empty() || enc == "7bit" || enc == "8bit" || enc == "binary") return part.body;
  if (enc == "base64") {
    std::string compact, out;
    for (char c : part.body)
      if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
    if (!base64Decode(compact, &out)) return badRequest("body is not valid base64");
    return out;
  }
  return badRequest("unsupported Content-Transfer-Encoding \"" + enc + "\"");
}

std::string partName(const MimePart& part, size_t index) {
  std::string name = "part " + std::to_string(index + 1);
  std::map<std::string, std::string> params;
  mediaType("x; " + part.headers.get("content-disposition"), &params);
  if (params.count("filename")) name += " \"" + params["filename"] + "\"";
  return name;
}

bool looksLikeMime(std::string_view text) {
  std::string first;
  for (const auto& line : splitLines(text.substr(0, 4096))) {
    if (!trim(line).empty()) {
      first = toLower(line);
      break;
    }
  }
  return startsWith(first, "mime-version:") || startsWith(first, "content-type:");
}

// Parses the NodeConfig documents of one part (or the plain user-data), checked one by one.
Status addConfigDocs(std::string_view text, const std::string& where, std::vector<json>* docs) {
  auto parsed = parseYamlDocs(text);
  if (!parsed.isOk()) return parsed.status().withContext(where);
  if (parsed->empty()) return badRequest(where + ": no NodeConfig document");
  for (auto& d : *parsed) {
    Status st = checkDocShape(d);
    if (!st.isOk()) return st.withContext(where);
    docs->push_back(std::move(d));
  }
  return Status::ok();
}

Result<UserData> finish(std::vector<json> docs, UserData ud) {
  if (docs.empty()) return badRequest("user-data has no application/node.eks.aws NodeConfig part");
  json merged = std::move(docs[0]);
  for (size_t i = 1; i < docs.size(); ++i) merged = mergeNodeConfigDocs(std::move(merged), docs[i]);
  auto cfg = nodeConfigFromJson(merged);
  if (!cfg.isOk()) return cfg.status().withContext(docs.size() > 1 ? "merged NodeConfig" : "NodeConfig");
  ud.config = std::move(cfg).value();
  return ud;
}

Result<UserData> parseMime(std::string_view text) {
  auto lines = splitLines(text);
  size_t i = 0;
  while (i < lines.size() && trim(lines[i]).empty()) ++i;
  auto top = readHeaders(lines, &i);
  if (!top.isOk()) return top.status().withContext("user-data MIME headers");
  std::map<std::string, std::string> params;
  std::string type = mediaType(top->get("content-type"), &params);
  if (type != "multipart/mixed")
    return badRequest("user-data: Content-Type must be multipart/mixed, got \"" + type + "\"");
  if (params["boundary"].empty()) return badRequest("user-data: multipart/mixed without a boundary parameter");
  auto parts = splitMultipart(lines, i, params["boundary"]);
  if (!parts.isOk()) return parts.status().withContext("user-data");
  UserData ud;
  std::vector<json> docs;
  for (size_t p = 0; p < parts->size(); ++p) {
    const MimePart& part = (*parts)[p];
    std::string ptype = mediaType(part.headers.get("content-type"), nullptr);
    if (ptype.empty()) ptype = "text/plain";
    std::string where = "user-data " + partName(part, p) + " (" + ptype + ")";
    auto body = decodeBody(part);
    if (!body.isOk()) return body.status().withContext(where);
    if (ptype == kShellContentType) {
      ud.scripts.push_back({partName(part, p), *body});
    } else if (ptype == kNodeConfigContentType) {
      BERTH_RETURN_IF_ERROR(addConfigDocs(*body, where, &docs));
    } else {
      ud.warnings.push_back(where + " is not supported by Berth and was skipped");
    }
  }
  return finish(std::move(docs), std::move(ud));
}

std::string renderFlagLabels(const std::map<std::string, std::string>& labels) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : labels) kv.push_back(k + "=" + v);
  return join(kv, ",");
}

std::string renderFlagTaints(const std::vector<Taint>& taints) {
  std::vector<std::string> out;
  for (const auto& t : taints) out.push_back(t.key + (t.value.empty() ? "" : "=" + t.value) + ":" + t.effect);
  return join(out, ",");
}

}  // namespace

// ---- NodeConfig ----

std::string NodeConfig::bootstrapToken() const {
  auto it = annotations.find(kBootstrapTokenAnnotation);
  return it == annotations.end() ? "" : it->second;
}

Result<std::string> NodeConfig::caPem() const {
  std::string pem;
  std::string compact;
  for (char c : certificate_authority)
    if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
  if (!base64Decode(compact, &pem))
    return fieldError("spec.cluster.certificateAuthority", "is not valid base64");
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return fieldError("spec.cluster.certificateAuthority", "does not hold a PEM certificate");
  return pem;
}

json nodeConfigToJson(const NodeConfig& c) {
  json doc = {{"apiVersion", kNodeConfigApiVersion}, {"kind", kNodeConfigKind}};
  if (!c.annotations.empty()) doc["metadata"]["annotations"] = c.annotations;
  json cluster = json::object();
  if (!c.cluster_name.empty()) cluster["name"] = c.cluster_name;
  if (!c.api_server_endpoint.empty()) cluster["apiServerEndpoint"] = c.api_server_endpoint;
  if (!c.certificate_authority.empty()) cluster["certificateAuthority"] = c.certificate_authority;
  if (!c.cidr.empty()) cluster["cidr"] = c.cidr;
  json spec = {{"cluster", cluster}};
  json kubelet = json::object();
  if (!c.kubelet_config.empty()) kubelet["config"] = c.kubelet_config;
  if (!c.kubelet_flags.empty()) kubelet["flags"] = c.kubelet_flags;
  if (!kubelet.empty()) spec["kubelet"] = kubelet;
  if (!c.instance.empty()) spec["instance"] = c.instance;
  if (!c.feature_gates.empty()) spec["featureGates"] = c.feature_gates;
  doc["spec"] = spec;
  return doc;
}

Result<NodeConfig> nodeConfigFromJson(const json& doc) {
  BERTH_RETURN_IF_ERROR(checkDocShape(doc));
  NodeConfig c;
  if (const json* ann = at(doc, {"metadata", "annotations"}); ann && ann->is_object())
    for (auto it = ann->begin(); it != ann->end(); ++it) c.annotations[it.key()] = it.value();
  c.cluster_name = str(doc, {"spec", "cluster", "name"});
  c.api_server_endpoint = str(doc, {"spec", "cluster", "apiServerEndpoint"});
  c.certificate_authority = str(doc, {"spec", "cluster", "certificateAuthority"});
  c.cidr = str(doc, {"spec", "cluster", "cidr"});
  if (c.cluster_name.empty()) return fieldError("spec.cluster.name", "required");
  if (c.api_server_endpoint.empty()) return fieldError("spec.cluster.apiServerEndpoint", "required");
  if (!startsWith(c.api_server_endpoint, "https://") || c.api_server_endpoint.size() <= 8)
    return fieldError("spec.cluster.apiServerEndpoint",
                      "must be an https:// URL, got \"" + c.api_server_endpoint + "\"");
  if (c.certificate_authority.empty()) return fieldError("spec.cluster.certificateAuthority", "required");
  BERTH_RETURN_IF_ERROR(c.caPem().status());
  if (c.cidr.empty()) return fieldError("spec.cluster.cidr", "required");
  if (!validCidr(c.cidr)) return fieldError("spec.cluster.cidr", "is not a CIDR: \"" + c.cidr + "\"");
  if (const json* v = at(doc, {"spec", "kubelet", "config"}); v && v->is_object()) c.kubelet_config = *v;
  if (const json* v = at(doc, {"spec", "kubelet", "flags"}); v && v->is_array())
    for (const auto& f : *v) c.kubelet_flags.push_back(f.get<std::string>());
  if (const json* v = at(doc, {"spec", "instance"}); v && v->is_object()) c.instance = *v;
  if (const json* v = at(doc, {"spec", "featureGates"}); v && v->is_object()) c.feature_gates = *v;
  return c;
}

std::string renderNodeConfigYaml(const NodeConfig& c) { return toYaml(nodeConfigToJson(c)); }

json mergeNodeConfigDocs(json base, const json& over) {
  if (!base.is_object() || !over.is_object()) return over;
  for (auto it = over.begin(); it != over.end(); ++it) {
    auto cur = base.find(it.key());
    if (cur != base.end() && cur->is_object() && it.value().is_object())
      *cur = mergeNodeConfigDocs(std::move(*cur), it.value());
    else
      base[it.key()] = it.value();
  }
  return base;
}

Result<UserData> parseUserData(std::string_view text) {
  if (looksLikeMime(text)) return parseMime(text);
  std::string_view t = trim(text);
  if (startsWith(t, "#!"))
    return badRequest("user-data is a shell script; Berth needs a NodeConfig document, plain or as an "
                      "application/node.eks.aws part of a MIME multipart");
  std::vector<json> docs;
  BERTH_RETURN_IF_ERROR(addConfigDocs(text, "user-data", &docs));
  return finish(std::move(docs), UserData{});
}

Result<std::vector<UserDataPart>> parseUserDataTemplate(std::string_view text) {
  constexpr size_t kMaxUserData = 16 * 1024;
  if (text.size() > kMaxUserData)
    return invalid("user-data is " + std::to_string(text.size()) + " bytes; at most 16384 (as EC2)");
  std::vector<UserDataPart> out;
  if (trim(text).empty()) return out;
  if (!looksLikeMime(text)) {
    if (startsWith(trim(text), "#!")) {
      out.push_back({kShellContentType, "script", std::string(text)});
      return out;
    }
    std::vector<json> docs;
    BERTH_RETURN_IF_ERROR(addConfigDocs(text, "NodeConfig", &docs));
    out.push_back({kNodeConfigContentType, "NodeConfig", std::string(text)});
    return out;
  }
  auto lines = splitLines(text);
  size_t i = 0;
  while (i < lines.size() && trim(lines[i]).empty()) ++i;
  auto top = readHeaders(lines, &i);
  if (!top.isOk()) return top.status().withContext("MIME headers");
  std::map<std::string, std::string> params;
  std::string type = mediaType(top->get("content-type"), &params);
  if (type != "multipart/mixed") return invalid("Content-Type must be multipart/mixed, got \"" + type + "\"");
  if (params["boundary"].empty()) return invalid("multipart/mixed without a boundary parameter");
  BERTH_ASSIGN_OR_RETURN(std::vector<MimePart> parts, splitMultipart(lines, i, params["boundary"]));
  for (size_t n = 0; n < parts.size(); ++n) {
    std::string ptype = mediaType(parts[n].headers.get("content-type"), nullptr);
    std::string where = partName(parts[n], n) + " (" + (ptype.empty() ? "text/plain" : ptype) + ")";
    auto body = decodeBody(parts[n]);
    if (!body.isOk()) return body.status().withContext(where);
    if (ptype == kNodeConfigContentType) {
      std::vector<json> docs;
      BERTH_RETURN_IF_ERROR(addConfigDocs(*body, where, &docs));
    } else if (ptype != kShellContentType) {
      return invalid(where + ": only text/x-shellscript and application/node.eks.aws parts are supported");
    }
    out.push_back({ptype, partName(parts[n], n), *body});
  }
  return out;
}

Result<std::string> renderUserData(const UserDataParams& p) {
  auto own = parseUserDataTemplate(p.user_data);
  if (!own.isOk()) return own.status().withContext("the node group's user-data");
  NodeConfig c;
  c.cluster_name = p.cluster_name;
  c.api_server_endpoint = p.api_server_endpoint;
  c.certificate_authority = base64Encode(p.ca_pem);
  c.cidr = p.service_cidr;
  if (!p.bootstrap_token.empty()) c.annotations[kBootstrapTokenAnnotation] = p.bootstrap_token;
  if (p.max_pods > 0) c.kubelet_config["maxPods"] = p.max_pods;
  if (validCidr(p.service_cidr)) c.kubelet_config["clusterDNS"] = {dnsAddressOf(p.service_cidr)};
  for (const auto& [k, v] : p.labels)
    if (!validLabelKey(k) || !validLabelValue(v))
      return invalid("label " + k + "=" + v + " is not a valid Kubernetes label");
  for (const auto& t : p.taints)
    if (!validLabelKey(t.key) || (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute"))
      return invalid("taint " + t.key + ":" + t.effect + " is not a valid taint");
  if (!p.labels.empty()) c.kubelet_flags.push_back("--node-labels=" + renderFlagLabels(p.labels));
  if (!p.taints.empty()) c.kubelet_flags.push_back("--register-with-taints=" + renderFlagTaints(p.taints));
  if (!p.provider_id.empty()) c.kubelet_flags.push_back("--provider-id=" + p.provider_id);
  if (!p.hostname_override.empty()) c.kubelet_flags.push_back("--hostname-override=" + p.hostname_override);
  // Validate what we emit exactly as the agent will read it.
  auto checked = nodeConfigFromJson(nodeConfigToJson(c));
  if (!checked.isOk()) return checked.status().withContext("rendering user-data");
  std::ostringstream out;
  out << "MIME-Version: 1.0\n"
      << "Content-Type: multipart/mixed; boundary=\"" << kBoundary << "\"\n\n";
  for (const UserDataPart& part : *own) {
    std::string delim = std::string("--") + kBoundary;
    if (startsWith(trim(part.body), delim) || part.body.find("\n" + delim) != std::string::npos)
      return invalid("the node group's user-data " + part.name + " contains Berth's MIME boundary " + kBoundary);
    out << "--" << kBoundary << "\n"
        << "Content-Type: " << part.content_type
        << (part.content_type == kShellContentType ? "; charset=\"us-ascii\"" : "") << "\n\n"
        << part.body << (endsWith(part.body, "\n") ? "" : "\n");
  }
  for (const auto& cmd : p.pre_bootstrap_commands) {
    out << "--" << kBoundary << "\n"
        << "Content-Type: " << kShellContentType << "; charset=\"us-ascii\"\n\n";
    std::string body = startsWith(cmd, "#!") ? cmd : "#!/bin/sh\nset -e\n" + cmd;
    out << body << (endsWith(body, "\n") ? "" : "\n");
  }
  out << "--" << kBoundary << "\n"
      << "Content-Type: " << kNodeConfigContentType << "\n\n"
      << renderNodeConfigYaml(c) << "--" << kBoundary << "--\n";
  return out.str();
}

// ---- kubelet flags ----

Result<std::map<std::string, std::string>> parseNodeLabels(std::string_view s) {
  std::map<std::string, std::string> out;
  for (const auto& item : split(s, ',')) {
    std::string_view kv = trim(item);
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    std::string k(kv.substr(0, eq)), v(eq == std::string_view::npos ? "" : kv.substr(eq + 1));
    if (eq == std::string_view::npos) return invalid("node label \"" + std::string(kv) + "\" is not key=value");
    if (!validLabelKey(k)) return invalid("node label key \"" + k + "\" is not a valid label key");
    if (!validLabelValue(v)) return invalid("node label " + k + " has an invalid value \"" + v + "\"");
    out[k] = v;
  }
  return out;
}

Result<std::vector<Taint>> parseTaints(std::string_view s) {
  std::vector<Taint> out;
  for (const auto& item : split(s, ',')) {
    std::string_view t = trim(item);
    if (t.empty()) continue;
    auto colon = t.rfind(':');
    if (colon == std::string_view::npos)
      return invalid("taint \"" + std::string(t) + "\" has no effect (want key=value:Effect)");
    Taint taint;
    taint.effect = std::string(t.substr(colon + 1));
    std::string_view kv = t.substr(0, colon);
    auto eq = kv.find('=');
    taint.key = std::string(kv.substr(0, eq));
    if (eq != std::string_view::npos) taint.value = std::string(kv.substr(eq + 1));
    if (!validLabelKey(taint.key)) return invalid("taint key \"" + taint.key + "\" is not valid");
    if (!validLabelValue(taint.value)) return invalid("taint " + taint.key + " has an invalid value \"" + taint.value + "\"");
    if (taint.effect != "NoSchedule" && taint.effect != "PreferNoSchedule" && taint.effect != "NoExecute")
      return invalid("taint " + taint.key + " has an unknown effect \"" + taint.effect +
                     "\" (want NoSchedule, PreferNoSchedule or NoExecute)");
    out.push_back(std::move(taint));
  }
  return out;
}

Result<KubeletSettings> kubeletSettings(const NodeConfig& c) {
  KubeletSettings s;
  if (const json* mp = at(c.kubelet_config, {"maxPods"}); mp && mp->is_number_integer())
    s.max_pods = mp->get<int32_t>();
  if (const json* dns = at(c.kubelet_config, {"clusterDNS"}); dns && dns->is_array()) {
    for (const auto& d : *dns)
      if (d.is_string()) s.cluster_dns.push_back(d);
  }
  if (s.cluster_dns.empty() && validCidr(c.cidr)) s.cluster_dns.push_back(dnsAddressOf(c.cidr));
  for (auto it = c.kubelet_config.begin(); it != c.kubelet_config.end(); ++it)
    if (it.key() != "maxPods" && it.key() != "clusterDNS")
      s.warnings.push_back("kubelet config field " + it.key() + " is not supported by Berth and was ignored");
  for (size_t i = 0; i < c.kubelet_flags.size(); ++i) {
    const std::string& f = c.kubelet_flags[i];
    std::string field = "spec.kubelet.flags[" + std::to_string(i) + "]";
    if (!startsWith(f, "--")) return fieldError(field, "\"" + f + "\" is not a --flag");
    auto eq = f.find('=');
    std::string name = f.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : f.substr(eq + 1);
    bool honoured = name == "--node-labels" || name == "--register-with-taints" ||
                    name == "--max-pods" || name == "--provider-id" || name == "--hostname-override";
    if (!honoured) {
      s.warnings.push_back("kubelet flag " + name + " is not supported by Berth and was ignored");
      continue;
    }
    if (eq == std::string::npos) return fieldError(field, name + " needs a value (" + name + "=...)");
    if (name == "--node-labels") {
      auto labels = parseNodeLabels(value);
      if (!labels.isOk()) return fieldError(field, labels.status().message());
      for (auto& [k, v] : *labels) s.labels[k] = v;
    } else if (name == "--register-with-taints") {
      auto taints = parseTaints(value);
      if (!taints.isOk()) return fieldError(field, taints.status().message());
      s.taints.insert(s.taints.end(), taints->begin(), taints->end());
    } else if (name == "--max-pods") {
      int64_t n;
      if (!isYamlInt(value, &n) || n < 1 || n > 100000)
        return fieldError(field, "--max-pods must be a positive integer, got \"" + value + "\"");
      s.max_pods = static_cast<int32_t>(n);
    } else if (name == "--hostname-override") {
      s.hostname_override = value;
    } else {
      s.provider_id = value;
    }
  }
  return s;
}

}  // namespace berth::nodegroups::bootstrap
