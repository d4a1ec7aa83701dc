#include "apiserver/core/request_info.h"

#include "common/strings.h"

namespace berth::apiserver {

RequestInfo parseRequestInfo(const std::string& method, const std::string& path, bool watch) {
  RequestInfo info;
  std::vector<std::string> parts;
  for (auto& p : split(path, '/'))
    if (!p.empty()) parts.push_back(p);
  if (parts.empty()) return info;
  size_t i = 0;
  if (parts[0] == "api") {
    if (parts.size() < 2) return info;
    info.api_prefix = "api";
    info.version = parts[1];
    i = 2;
  } else if (parts[0] == "apis") {
    if (parts.size() < 3) return info;
    info.api_prefix = "apis";
    info.group = parts[1];
    info.version = parts[2];
    i = 3;
  } else {
    return info;
  }
  if (i == parts.size()) {
    info.is_group_version_root = true;
    return info;
  }
  std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
  // The deprecated watch paths (/api/v1/watch/namespaces/x/pods[/name]), still served in 1.32.
  bool legacy_watch =
      rest[0] == "watch" && rest.size() > 1 && (method == "GET" || method == "HEAD");
  if (legacy_watch) {
    rest.erase(rest.begin());
    watch = true;
  }
  // namespaces/<ns>/<resource>/... ; but "namespaces/<ns>" alone (or with status/finalize) is
  // the namespace object itself.
  // As upstream: namespaces/<name>/status and /finalize are the namespace's own
  // subresources; any other third segment is a resource inside the namespace.
  bool ns_subresource = rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize");
  if (rest[0] == "namespaces" && rest.size() >= 3 && !ns_subresource) {
    info.namespace_ = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  } else if (rest[0] == "namespaces" && rest.size() == 2) {
    // /api/v1/namespaces/<name>: the namespace object; leave as resource+name.
  }
  info.is_resource_request = true;
  info.resource = rest[0];
  if (rest.size() >= 2) info.name = rest[1];
  if (rest.size() >= 3) info.subresource = rest[2];
  if (rest.size() > 3) {
    // Deeper paths (e.g. proxy/...) are kept in subresource's tail; callers reject them.
    info.subresource += "/" + join(std::vector<std::string>(rest.begin() + 3, rest.end()), "/");
  }
  if (method == "GET" || method == "HEAD") {
    if (info.name.empty()) info.verb = watch ? "watch" : "list";
    else info.verb = watch ? "watch" : "get";
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  } else {
    info.verb = toLower(method);
  }
  return info;
}

bool queryFlag(std::string_view value) { return value != "0" && toLower(value) != "false"; }

}  // namespace berth::apiserver
