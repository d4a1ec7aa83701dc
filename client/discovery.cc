#include "client/discovery.h"

namespace berth::client {

namespace {

Status addResourceList(const json& list, const std::string& group, const std::string& version,
                       std::vector<Resource>* out) {
  if (!list.contains("resources") || !list["resources"].is_array())
    return internalError("discovery: " + group + "/" + version + " has no resources");
  for (const auto& r : list["resources"]) {
    if (!r.is_object()) continue;
    std::string name = r.value("name", "");
    if (name.empty() || name.find('/') != std::string::npos) continue;
    Resource res;
    res.group = group;
    res.version = version;
    res.resource = name;
    res.kind = r.value("kind", "");
    res.namespaced = r.value("namespaced", false);
    if (r.contains("verbs") && r["verbs"].is_array())
      for (const auto& v : r["verbs"])
        if (v.is_string()) res.verbs.push_back(v);
    out->push_back(std::move(res));
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<Resource>> discoverResources(Client* client) {
  std::vector<Resource> out;
  auto core = client->request("GET", "/api/v1");
  if (!core.isOk()) return core.status().withContext("discovery /api/v1");
  BERTH_RETURN_IF_ERROR(addResourceList(*core, "", "v1", &out));
  auto groups = client->request("GET", "/apis");
  if (!groups.isOk()) return groups.status().withContext("discovery /apis");
  if (!groups->contains("groups") || !(*groups)["groups"].is_array())
    return internalError("discovery /apis: no groups");
  for (const auto& g : (*groups)["groups"]) {
    std::string name = g.value("name", "");
    std::string gv;
    if (g.contains("preferredVersion") && g["preferredVersion"].is_object())
      gv = g["preferredVersion"].value("groupVersion", "");
    if (gv.empty() && g.contains("versions") && g["versions"].is_array() && !g["versions"].empty())
      gv = g["versions"][0].value("groupVersion", "");
    if (name.empty() || gv.empty()) continue;
    auto list = client->request("GET", "/apis/" + gv);
    if (!list.isOk()) return list.status().withContext("discovery /apis/" + gv);
    BERTH_RETURN_IF_ERROR(addResourceList(*list, name, gv.substr(gv.find('/') + 1), &out));
  }
  return out;
}

std::vector<Resource> withVerbs(const std::vector<Resource>& all, const std::vector<std::string>& verbs) {
  std::vector<Resource> out;
  for (const auto& r : all) {
    bool ok = true;
    for (const auto& v : verbs) ok = ok && r.hasVerb(v);
    if (ok) out.push_back(r);
  }
  return out;
}

}  // namespace berth::client
