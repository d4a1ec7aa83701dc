// Name validation helpers with upstream's messages (apimachinery's util/validation), for the
// generic metadata checks and for kinds whose fields hold names.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::apiserver {

// RFC 1123 label: at most 63 characters of [a-z0-9-], alphanumeric at both ends (namespace
// names, container names, port names). Returns the problems; empty means valid.
std::vector<std::string> validateDns1123Label(std::string_view value);
// RFC 1123 subdomain: at most 253 characters, dot-separated labels (most object names).
std::vector<std::string> validateDns1123Subdomain(std::string_view value);
// A name that is one URL path segment (RBAC roles and bindings): not "." or "..", no '/' or '%'.
std::vector<std::string> validatePathSegmentName(std::string_view value);
// IANA service name, as container and service port names (at most 15 characters, a letter).
std::vector<std::string> validateIanaSvcName(std::string_view value);
// A ConfigMap / Secret data key: [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..".
std::vector<std::string> validateConfigMapKey(std::string_view value);

}  // namespace berth::apiserver
