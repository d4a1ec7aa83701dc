// Parses an API request path into what it addresses, as upstream's RequestInfoResolver.
//
//   /api/v1/namespaces/default/pods/web/status   -> group "", version v1, ns default, pods, web, status
//   /apis/apps/v1/deployments                     -> list across namespaces
//   /api/v1/namespaces/default                    -> the namespace object "default"
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace berth::apiserver {

struct RequestInfo {
  bool is_resource_request = false;
  std::string api_prefix;   // "api" or "apis"
  std::string group;        // "" for core
  std::string version;
  std::string namespace_;   // "" for cluster scope or all namespaces
  std::string resource;     // plural, e.g. "pods"
  std::string name;
  std::string subresource;  // "status", "scale", "log", ...
  // get, list, watch, create, update, patch, delete, deletecollection
  std::string verb;
  // Path segments after the group/version (for discovery paths that are not resources).
  bool is_group_version_root = false;  // /api/v1 or /apis/apps/v1
};

// `watch` tells whether the query asked for watch=true/1.
RequestInfo parseRequestInfo(const std::string& method, const std::string& path, bool watch);

// A boolean query parameter's value as upstream converts it: false for "0" and "false" (any
// case), true for anything else, "" included.
bool queryFlag(std::string_view value);

}  // namespace berth::apiserver
