#include "apiserver/core/discovery.h"

#include <nlohmann/json.hpp>

#include "apiserver/schema/openapi.h"
#include "apiserver/schema/openapi_v2.h"
#include "common/strings.h"

namespace berth::apiserver {

using json = nlohmann::json;

namespace {

// Resources served outside the KindRegistry (create-only reviews) and pod subresources
// handled by virtual_resources.cc.
struct ExtraResource {
  std::string group, version, resource, kind, singular;
  bool namespaced;
  std::vector<std::string> verbs;
};

const std::vector<ExtraResource>& extraResources() {
  static const std::vector<ExtraResource> kExtra = {
      {"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
       "selfsubjectaccessreview", false, {"create"}},
      {"authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
       "selfsubjectrulesreview", false, {"create"}},
      {"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
       "selfsubjectreview", false, {"create"}},
  };
  return kExtra;
}

// Group order: as upstream, core first, then these; unknown groups after, sorted.
std::vector<std::string> groupOrder(const KindRegistry& kinds) {
  std::vector<std::string> order = {"apps", "events.k8s.io", "authentication.k8s.io",
                                    "authorization.k8s.io", "autoscaling", "batch",
                                    "certificates.k8s.io", "coordination.k8s.io",
                                    "discovery.k8s.io", "policy", "berth.dev"};
  std::vector<std::string> out;
  auto has = [&](const std::string& g) {
    for (const auto& k : kinds.all())
      if (k.group == g) return true;
    for (const auto& e : extraResources())
      if (e.group == g) return true;
    return false;
  };
  for (const auto& g : order)
    if (has(g)) out.push_back(g);
  std::vector<std::string> rest;
  for (const auto& k : kinds.all())
    if (!k.group.empty() && std::find(out.begin(), out.end(), k.group) == out.end() &&
        std::find(rest.begin(), rest.end(), k.group) == rest.end())
      rest.push_back(k.group);
  std::sort(rest.begin(), rest.end());
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

std::vector<std::string> versionsOf(const KindRegistry& kinds, const std::string& group) {
  std::vector<std::string> v;
  for (const auto& k : kinds.all())
    if (k.group == group && std::find(v.begin(), v.end(), k.version) == v.end())
      v.push_back(k.version);
  for (const auto& e : extraResources())
    if (e.group == group && std::find(v.begin(), v.end(), e.version) == v.end())
      v.push_back(e.version);
  return v;
}

json subresourceList(const KindSpec& k) {
  json subs = json::array();
  json self_kind = {{"group", k.group}, {"version", k.version}, {"kind", k.kind}};
  if (k.has_status)
    subs.push_back({{"subresource", "status"}, {"responseKind", self_kind},
                    {"verbs", {"get", "patch", "update"}}});
  if (k.has_scale)
    subs.push_back({{"subresource", "scale"},
                    {"responseKind", {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}},
                    {"verbs", {"get", "patch", "update"}}});
  if (k.group.empty() && k.resource == "pods") {
    subs.push_back({{"subresource", "binding"},
                    {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "Binding"}}},
                    {"verbs", {"create"}}});
    subs.push_back({{"subresource", "eviction"},
                    {"responseKind", {{"group", "policy"}, {"version", "v1"}, {"kind", "Eviction"}}},
                    {"verbs", {"create"}}});
    // Served through the kubelet (pod_proxy.cc).
    struct ProxySub {
      const char* name;
      const char* kind;
      bool connect;  // exec/attach/portforward: GET (WebSocket) and POST (SPDY)
    };
    for (const ProxySub& p : {ProxySub{"log", "Pod", false}, ProxySub{"exec", "PodExecOptions", true},
                              ProxySub{"attach", "PodAttachOptions", true},
                              ProxySub{"portforward", "PodPortForwardOptions", true}})
      subs.push_back({{"subresource", p.name},
                      {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", p.kind}}},
                      {"verbs", p.connect ? json{"create", "get"} : json{"get"}}});
  }
  if (k.group.empty() && k.resource == "namespaces")
    subs.push_back({{"subresource", "finalize"}, {"responseKind", self_kind}, {"verbs", {"update"}}});
  return subs;
}

json aggregatedResource(const KindSpec& k) {
  json r = {{"resource", k.resource},
            {"responseKind", {{"group", k.group}, {"version", k.version}, {"kind", k.kind}}},
            {"scope", k.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", k.singular},
            {"verbs", k.verbs}};
  if (!k.short_names.empty()) r["shortNames"] = k.short_names;
  if (!k.categories.empty()) r["categories"] = k.categories;
  json subs = subresourceList(k);
  if (!subs.empty()) r["subresources"] = subs;
  return r;
}

json aggregatedGroup(const KindRegistry& kinds, const std::string& group) {
  json versions = json::array();
  for (const auto& v : versionsOf(kinds, group)) {
    json resources = json::array();
    for (const auto& k : kinds.all())
      if (k.group == group && k.version == v) resources.push_back(aggregatedResource(k));
    for (const auto& e : extraResources())
      if (e.group == group && e.version == v)
        resources.push_back({{"resource", e.resource},
                             {"responseKind", {{"group", e.group}, {"version", e.version}, {"kind", e.kind}}},
                             {"scope", e.namespaced ? "Namespaced" : "Cluster"},
                             {"singularResource", e.singular},
                             {"verbs", e.verbs}});
    std::sort(resources.begin(), resources.end(),
              [](const json& a, const json& b) { return a["resource"] < b["resource"]; });
    versions.push_back({{"version", v}, {"freshness", "Current"}, {"resources", resources}});
  }
  return {{"metadata", {{"name", group}}}, {"versions", versions}};
}

json legacyResourceList(const KindRegistry& kinds, const std::string& group,
                        const std::string& version) {
  json resources = json::array();
  for (const auto& k : kinds.all()) {
    if (k.group != group || k.version != version) continue;
    json r = {{"name", k.resource}, {"singularName", k.singular}, {"namespaced", k.namespaced},
              {"kind", k.kind}, {"verbs", k.verbs}};
    if (!k.short_names.empty()) r["shortNames"] = k.short_names;
    if (!k.categories.empty()) r["categories"] = k.categories;
    resources.push_back(r);
    for (const auto& sub : subresourceList(k)) {
      json s = {{"name", k.resource + "/" + sub["subresource"].get<std::string>()},
                {"singularName", ""},
                {"namespaced", k.namespaced},
                {"kind", sub["responseKind"]["kind"]},
                {"verbs", sub["verbs"]}};
      if (sub["responseKind"]["group"] != k.group) {
        s["group"] = sub["responseKind"]["group"];
        s["version"] = sub["responseKind"]["version"];
      }
      resources.push_back(s);
    }
  }
  for (const auto& e : extraResources())
    if (e.group == group && e.version == version)
      resources.push_back({{"name", e.resource}, {"singularName", e.singular},
                           {"namespaced", e.namespaced}, {"kind", e.kind}, {"verbs", e.verbs}});
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

}  // namespace

json groupObject(const KindRegistry& kinds, const std::string& group) {
  auto versions = versionsOf(kinds, group);
  if (versions.empty() || group.empty()) return nullptr;
  json vs = json::array();
  for (const auto& v : versions) vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  return {{"kind", "APIGroup"},
          {"apiVersion", "v1"},
          {"name", group},
          {"versions", vs},
          {"preferredVersion", vs[0]}};
}

DiscoveryDocuments buildDiscovery(const KindRegistry& kinds, const std::string& version) {
  DiscoveryDocuments d;
  json core_list = {{"kind", "APIGroupDiscoveryList"},
                    {"apiVersion", "apidiscovery.k8s.io/v2"},
                    {"metadata", json::object()},
                    {"items", json::array({aggregatedGroup(kinds, "")})}};
  d.aggregated_api = core_list.dump();
  json items = json::array();
  json groups = json::array();
  for (const auto& g : groupOrder(kinds)) {
    items.push_back(aggregatedGroup(kinds, g));
    groups.push_back(groupObject(kinds, g));
  }
  d.aggregated_apis = json{{"kind", "APIGroupDiscoveryList"},
                           {"apiVersion", "apidiscovery.k8s.io/v2"},
                           {"metadata", json::object()},
                           {"items", items}}
                          .dump();
  d.legacy_api = json{{"kind", "APIVersions"},
                      {"versions", {"v1"}},
                      {"serverAddressByClientCIDRs",
                       {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}}}}
                     .dump();
  d.legacy_apis = json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}.dump();
  d.group_versions["v1"] = legacyResourceList(kinds, "", "v1").dump();
  for (const auto& g : groupOrder(kinds))
    for (const auto& v : versionsOf(kinds, g))
      d.group_versions[g + "/" + v] = legacyResourceList(kinds, g, v).dump();

  // OpenAPI v3.
  std::vector<schema::ResourceInfo> infos;
  for (const auto& k : kinds.all())
    infos.push_back({k.group, k.version, k.kind, k.resource, k.namespaced, k.has_status, k.has_scale});
  d.openapi_index = schema::openApiIndex(infos).dump();
  std::vector<json> v3_docs;
  for (const auto& [gv, _] : d.group_versions) {
    std::string path = gv == "v1" ? "api/v1" : "apis/" + gv;
    v3_docs.push_back(schema::openApiDocument(gv, infos));
    d.openapi_docs[path] = v3_docs.back().dump();
  }
  json v2 = schema::openApiV2Document(v3_docs, version);
  d.openapi_v2_json = v2.dump();
  d.openapi_v2_proto = schema::encodeOpenApiV2(v2);
  return d;
}

}  // namespace berth::apiserver
