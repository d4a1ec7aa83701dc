// Bootstrap tokens, as kubeadm defines them: "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}) stored
// as the Secret kube-system/bootstrap-token-<id> (type bootstrap.kubernetes.io/token). A token
// authenticates as user system:bootstrap:<id> in group system:bootstrappers plus the Secret's
// auth-extra-groups, while it is unexpired and its usage-bootstrap-authentication is "true".
//
// This module owns the token format, the Secret's shape, the authentication decision (used by
// the API server) and a helper that creates a token through the API.
// Thread-safety: pure functions, except that generation reads the OS CSPRNG.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::client {
class Client;
}

namespace berth::nodegroups::bootstrap {

using json = nlohmann::json;

inline constexpr const char* kBootstrapTokenSecretType = "bootstrap.kubernetes.io/token";
inline constexpr const char* kBootstrapTokenSecretPrefix = "bootstrap-token-";
inline constexpr const char* kBootstrappersGroup = "system:bootstrappers";
inline constexpr const char* kBootstrapUserPrefix = "system:bootstrap:";
inline constexpr std::chrono::hours kDefaultTokenTtl{24};

struct BootstrapToken {
  std::string id;      // 6 characters, public
  std::string secret;  // 16 characters
  std::string str() const { return id + "." + secret; }
};

// Parses "<id>.<secret>"; kBadRequest naming what is wrong when it is not that shape.
Result<BootstrapToken> parseBootstrapToken(std::string_view token);
// True when `token` has the bootstrap token shape (cheap; no allocation of errors).
bool looksLikeBootstrapToken(std::string_view token);
// A fresh token from the OS CSPRNG (OpenSSL RAND_bytes, unbiased by rejection sampling).
Result<BootstrapToken> generateBootstrapToken();

// "bootstrap-token-<id>".
std::string bootstrapTokenSecretName(const std::string& id);

struct TokenOptions {
  std::chrono::seconds ttl = kDefaultTokenTtl;  // 0: never expires
  std::string description;
  std::vector<std::string> extra_groups;  // each must start with "system:bootstrappers:"
  bool usage_authentication = true;
  bool usage_signing = true;
};

// The Secret for `token` (stringData-free: every value base64 in `data`). Fails when an extra
// group does not start with system:bootstrappers:.
Result<json> bootstrapTokenSecret(const BootstrapToken& token, const TokenOptions& opts, TimePoint now);

// Who a presented token is.
struct BootstrapIdentity {
  std::string user;                 // system:bootstrap:<id>
  std::vector<std::string> groups;  // system:bootstrappers, the extra groups
};

// Checks a presented token against its Secret (`secret` null when there is none). kUnauthorized
// with a message saying why: unknown, expired, wrong secret, not for authentication.
// The secret comparison is constant-time.
Result<BootstrapIdentity> authenticateBootstrapToken(const BootstrapToken& presented,
                                                     const json* secret, TimePoint now);

// True when the Secret is a bootstrap token whose expiration is at or before `now`.
bool bootstrapTokenExpired(const json& secret, TimePoint now);

// Generates a token and creates its Secret through the API; returns the token.
Result<BootstrapToken> createBootstrapToken(client::Client& client, const TokenOptions& opts,
                                            const Clock& clock);

}  // namespace berth::nodegroups::bootstrap
