#include "nodegroups/bootstrap/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/strings.h"

namespace berth::nodegroups::bootstrap {

namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

bool tokenChars(std::string_view s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

Result<std::string> randomChars(size_t n) {
  std::string out;
  // 252 = 7 * 36: bytes at or above it are dropped so every character is equally likely.
  while (out.size() < n) {
    unsigned char buf[32];
    if (RAND_bytes(buf, sizeof buf) != 1) return internalError("RAND_bytes failed");
    for (unsigned char b : buf)
      if (b < 252 && out.size() < n) out += kAlphabet[b % kAlphabet.size()];
  }
  return out;
}

// A Secret's value for `key`: data (base64) first, then stringData.
std::string secretValue(const json& secret, const std::string& key) {
  if (auto d = secret.find("data"); d != secret.end() && d->is_object()) {
    if (auto v = d->find(key); v != d->end() && v->is_string()) {
      std::string out;
      if (base64Decode(v->get<std::string>(), &out)) return out;
    }
  }
  if (auto d = secret.find("stringData"); d != secret.end() && d->is_object()) {
    if (auto v = d->find(key); v != d->end() && v->is_string()) return v->get<std::string>();
  }
  return "";
}

Status unauthorized(std::string msg) { return Status(Code::kUnauthorized, std::move(msg)); }

}  // namespace

bool looksLikeBootstrapToken(std::string_view t) {
  return t.size() == 23 && t[6] == '.' && tokenChars(t.substr(0, 6)) && tokenChars(t.substr(7));
}

Result<BootstrapToken> parseBootstrapToken(std::string_view t) {
  auto dot = t.find('.');
  if (dot == std::string_view::npos)
    return badRequest("bootstrap token is malformed: want <id>.<secret> ([a-z0-9]{6}.[a-z0-9]{16})");
  std::string_view id = t.substr(0, dot), secret = t.substr(dot + 1);
  if (id.size() != 6 || !tokenChars(id))
    return badRequest("bootstrap token is malformed: the id must be 6 characters [a-z0-9]");
  if (secret.size() != 16 || !tokenChars(secret))
    return badRequest("bootstrap token " + std::string(id) +
                      " is malformed: the secret must be 16 characters [a-z0-9]");
  return BootstrapToken{std::string(id), std::string(secret)};
}

Result<BootstrapToken> generateBootstrapToken() {
  BERTH_ASSIGN_OR_RETURN(std::string id, randomChars(6));
  BERTH_ASSIGN_OR_RETURN(std::string secret, randomChars(16));
  return BootstrapToken{id, secret};
}

std::string bootstrapTokenSecretName(const std::string& id) { return kBootstrapTokenSecretPrefix + id; }

Result<json> bootstrapTokenSecret(const BootstrapToken& token, const TokenOptions& opts, TimePoint now) {
  std::string prefix = std::string(kBootstrappersGroup) + ":";
  for (const auto& g : opts.extra_groups)
    if (!startsWith(g, prefix) || g.size() == prefix.size())
      return invalid("bootstrap token extra group \"" + g + "\" must start with " + prefix);
  json data = {{"token-id", base64Encode(token.id)},
               {"token-secret", base64Encode(token.secret)},
               {"usage-bootstrap-authentication", base64Encode(opts.usage_authentication ? "true" : "false")},
               {"usage-bootstrap-signing", base64Encode(opts.usage_signing ? "true" : "false")}};
  if (opts.ttl.count() > 0) data["expiration"] = base64Encode(formatRfc3339(now + opts.ttl));
  if (!opts.extra_groups.empty()) data["auth-extra-groups"] = base64Encode(join(opts.extra_groups, ","));
  if (!opts.description.empty()) data["description"] = base64Encode(opts.description);
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", bootstrapTokenSecretName(token.id)}, {"namespace", "kube-system"}}},
              {"type", kBootstrapTokenSecretType},
              {"data", data}};
}

bool bootstrapTokenExpired(const json& secret, TimePoint now) {
  if (secret.value("type", std::string()) != kBootstrapTokenSecretType) return false;
  std::string exp = secretValue(secret, "expiration");
  TimePoint t;
  return !exp.empty() && parseRfc3339(exp, &t) && t <= now;
}

Result<BootstrapIdentity> authenticateBootstrapToken(const BootstrapToken& presented,
                                                     const json* secret, TimePoint now) {
  const std::string& id = presented.id;
  if (!secret || secret->value("type", std::string()) != kBootstrapTokenSecretType ||
      secretValue(*secret, "token-id") != id)
    return unauthorized("bootstrap token " + id + " is unknown");
  std::string want = secretValue(*secret, "token-secret");
  if (want.size() != presented.secret.size() ||
      CRYPTO_memcmp(want.data(), presented.secret.data(), want.size()) != 0)
    return unauthorized("bootstrap token " + id + " has a wrong secret");
  std::string exp = secretValue(*secret, "expiration");
  if (!exp.empty()) {
    TimePoint t;
    if (!parseRfc3339(exp, &t)) return unauthorized("bootstrap token " + id + " has an unreadable expiration");
    if (t <= now) return unauthorized("bootstrap token " + id + " has expired");
  }
  if (secretValue(*secret, "usage-bootstrap-authentication") != "true")
    return unauthorized("bootstrap token " + id + " may not be used for authentication");
  BootstrapIdentity who{kBootstrapUserPrefix + id, {kBootstrappersGroup}};
  std::string prefix = std::string(kBootstrappersGroup) + ":";
  for (const auto& g : split(secretValue(*secret, "auth-extra-groups"), ',')) {
    std::string group(trim(g));
    if (startsWith(group, prefix)) who.groups.push_back(group);
  }
  return who;
}

}  // namespace berth::nodegroups::bootstrap
