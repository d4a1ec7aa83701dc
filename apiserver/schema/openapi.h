// OpenAPI v3 documents generated from the schema registry: the `/openapi/v3` index and one
// document per group/version, as `kubectl apply` (fieldValidation support, patch metadata) and
// `kubectl explain` read them.
//
// Thread-safety: pure functions of their arguments and the immutable Registry.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::apiserver::schema {

class Registry;

// What the caller serves for one resource (from its KindSpec).
struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Deployment"
  std::string resource;  // "deployments"
  bool namespaced = true;
  bool has_status = false;
  bool has_scale = false;
};

// `/openapi/v3`: {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=H"}, ...}}
// with one entry per group/version present in `resources`; H is openApiHash of that document.
nlohmann::json openApiIndex(const std::vector<ResourceInfo>& resources);
nlohmann::json openApiIndex(const std::vector<ResourceInfo>& resources, const Registry& registry);

// The OpenAPI 3.0 document of one group/version ("v1", "apps/v1"); resources of other
// group/versions are ignored. Components hold every type reachable from the kinds plus the
// meta types; kinds unknown to the registry get a path but a free-form schema.
nlohmann::json openApiDocument(const std::string& group_version,
                               const std::vector<ResourceInfo>& resources);
nlohmann::json openApiDocument(const std::string& group_version,
                               const std::vector<ResourceInfo>& resources,
                               const Registry& registry);

// A content hash (32 upper-case hex digits, two FNV-1a 64 of the compact JSON) for cache-busting
// URLs; equal documents give equal hashes.
std::string openApiHash(const nlohmann::json& doc);

}  // namespace berth::apiserver::schema
