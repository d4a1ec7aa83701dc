#include "controllers/workload_util.h"

#include <cmath>
#include <string_view>

#include "client/event_recorder.h"

namespace berth::controllers {

namespace res {
namespace {
const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};
}  // namespace
const client::Resource& services() {
  static const client::Resource r{"", "v1", "services", "Service", true, kVerbs};
  return r;
}
const client::Resource& endpoints() {
  static const client::Resource r{"", "v1", "endpoints", "Endpoints", true, kVerbs};
  return r;
}
const client::Resource& endpointSlices() {
  static const client::Resource r{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true,
                                  kVerbs};
  return r;
}
const client::Resource& nodes() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, kVerbs};
  return r;
}
const client::Resource& daemonSets() {
  static const client::Resource r{"apps", "v1", "daemonsets", "DaemonSet", true, kVerbs};
  return r;
}
const client::Resource& controllerRevisions() {
  static const client::Resource r{"apps", "v1", "controllerrevisions", "ControllerRevision", true, kVerbs};
  return r;
}
const client::Resource& jobs() {
  static const client::Resource r{"batch", "v1", "jobs", "Job", true, kVerbs};
  return r;
}
const client::Resource& statefulSets() {
  static const client::Resource r{"apps", "v1", "statefulsets", "StatefulSet", true, kVerbs};
  return r;
}
}  // namespace res

const json& jsonAt(const json& obj, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(p);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string strAt(const json& obj, std::initializer_list<const char*> path, const std::string& def) {
  const json& v = jsonAt(obj, path);
  return v.is_string() ? v.get<std::string>() : def;
}

int64_t intAt(const json& obj, std::initializer_list<const char*> path, int64_t def) {
  const json& v = jsonAt(obj, path);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}

void recordEvent(client::EventRecorder* recorder, const json& obj, bool warning,
                 const std::string& reason, const std::string& message) {
  if (!recorder) return;
  recorder->event(obj, warning ? client::EventRecorder::Type::kWarning
                               : client::EventRecorder::Type::kNormal,
                  reason, message);
}

std::string nameOf(const json& obj) { return strAt(obj, {"metadata", "name"}); }
std::string namespaceOf(const json& obj) { return strAt(obj, {"metadata", "namespace"}); }
std::string uidOf(const json& obj) { return strAt(obj, {"metadata", "uid"}); }

json controllerRefTo(const std::string& api_version, const std::string& kind, const json& owner) {
  return {{"apiVersion", api_version}, {"kind", kind},         {"name", nameOf(owner)},
          {"uid", uidOf(owner)},       {"controller", true}, {"blockOwnerDeletion", true}};
}

const json* controllerRefOfKind(const json& obj, const std::string& kind) {
  const json& refs = jsonAt(obj, {"metadata", "ownerReferences"});
  if (!refs.is_array()) return nullptr;
  for (const auto& r : refs)
    if (r.is_object() && r.value("controller", false) && r.value("kind", "") == kind) return &r;
  return nullptr;
}

int64_t resolveIntOrPercent(const json& v, int64_t total, bool round_up, int64_t def) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return def;
  std::string s = v.get<std::string>();
  if (s.empty() || s.back() != '%') return def;
  try {
    double pct = std::stod(s.substr(0, s.size() - 1));
    double x = pct * static_cast<double>(total) / 100.0;
    return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
  } catch (...) {
    return def;
  }
}

bool toleratesTaint(const json& tolerations, const json& taint) {
  if (!tolerations.is_array()) return false;
  std::string key = taint.value("key", ""), value = taint.value("value", "");
  std::string effect = taint.value("effect", "");
  for (const auto& t : tolerations) {
    if (!t.is_object()) continue;
    std::string te = t.value("effect", "");
    if (!te.empty() && te != effect) continue;
    std::string tk = t.value("key", "");
    std::string op = t.value("operator", "Equal");
    // An empty key with Exists tolerates every taint.
    if (tk.empty()) {
      if (op == "Exists") return true;
      continue;
    }
    if (tk != key) continue;
    if (op == "Exists") return true;
    if (op == "Equal" && t.value("value", "") == value) return true;
  }
  return false;
}

namespace {

bool requirementMatches(const json& req, const std::string& value, bool present) {
  std::string op = req.value("operator", "");
  const json& values = req.contains("values") ? req["values"] : json();
  auto inValues = [&] {
    if (!values.is_array()) return false;
    for (const auto& v : values)
      if (v.is_string() && v.get<std::string>() == value) return true;
    return false;
  };
  auto compare = [&](bool greater) {
    if (!present || !values.is_array() || values.size() != 1 || !values[0].is_string()) return false;
    try {
      int64_t have = std::stoll(value), want = std::stoll(values[0].get<std::string>());
      return greater ? have > want : have < want;
    } catch (...) {
      return false;
    }
  };
  if (op == "In") return present && inValues();
  if (op == "NotIn") return !present || !inValues();
  if (op == "Exists") return present;
  if (op == "DoesNotExist") return !present;
  if (op == "Gt") return compare(true);
  if (op == "Lt") return compare(false);
  return false;
}

// A NodeSelectorTerm: every expression and field requirement holds; an empty term matches
// nothing, as upstream.
bool termMatches(const json& term, const json& node) {
  const json& exprs = jsonAt(term, {"matchExpressions"});
  const json& fields = jsonAt(term, {"matchFields"});
  bool any = false;
  const json& labels = jsonAt(node, {"metadata", "labels"});
  if (exprs.is_array()) {
    for (const auto& e : exprs) {
      any = true;
      std::string key = e.value("key", "");
      bool present = labels.is_object() && labels.contains(key) && labels[key].is_string();
      if (!requirementMatches(e, present ? labels[key].get<std::string>() : "", present)) return false;
    }
  }
  if (fields.is_array()) {
    for (const auto& f : fields) {
      any = true;
      if (f.value("key", "") != "metadata.name") return false;
      if (!requirementMatches(f, nameOf(node), true)) return false;
    }
  }
  return any;
}

}  // namespace

bool nodeMatchesPodSpec(const json& pod_spec, const json& node) {
  const json& labels = jsonAt(node, {"metadata", "labels"});
  const json& sel = jsonAt(pod_spec, {"nodeSelector"});
  if (sel.is_object()) {
    for (auto it = sel.begin(); it != sel.end(); ++it)
      if (!labels.is_object() || !labels.contains(it.key()) || labels[it.key()] != it.value())
        return false;
  }
  const json& terms = jsonAt(pod_spec, {"affinity", "nodeAffinity",
                                        "requiredDuringSchedulingIgnoredDuringExecution",
                                        "nodeSelectorTerms"});
  if (!terms.is_array()) return true;
  for (const auto& t : terms)
    if (termMatches(t, node)) return true;
  return false;
}

}  // namespace berth::controllers
