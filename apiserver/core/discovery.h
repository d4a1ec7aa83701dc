// Discovery (aggregated apidiscovery.k8s.io/v2 and legacy) and OpenAPI v3 and v2 documents, built
// once from the KindRegistry and the schema registry.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "apiserver/kinds/kind_spec.h"

namespace berth::apiserver {

struct DiscoveryDocuments {
  std::string aggregated_api;   // /api as APIGroupDiscoveryList
  std::string aggregated_apis;  // /apis as APIGroupDiscoveryList
  std::string legacy_api;       // APIVersions
  std::string legacy_apis;      // APIGroupList
  std::map<std::string, std::string> group_versions;  // "v1", "apps/v1" -> APIResourceList
  std::string openapi_index;
  std::map<std::string, std::string> openapi_docs;  // "api/v1", "apis/apps/v1" -> document
  std::string openapi_v2_json;                      // /openapi/v2 as JSON
  std::string openapi_v2_proto;                     // and as gnostic's protobuf
};

// `version` is the server's gitVersion (the v2 document's info.version).
DiscoveryDocuments buildDiscovery(const KindRegistry& kinds, const std::string& version);
// The APIGroup object for /apis/<group>; null when unknown.
nlohmann::json groupObject(const KindRegistry& kinds, const std::string& group);


}  // namespace berth::apiserver
