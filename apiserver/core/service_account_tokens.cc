// Service account tokens: the serviceaccounts/token subresource (TokenRequest, what
// `kubectl create token` calls) issues a JWT for the service account, and such tokens
// authenticate as system:serviceaccount:<namespace>:<name> while they are unexpired and the
// service account (same uid) exists. Tokens are signed with HMAC-SHA256 (HS256) under a key
// kept in DATA_DIR/pki/sa-signing.key, so they survive restarts of the server.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/schema/protobuf.h"
#include "apiserver/schema/validate.h"
#include "common/strings.h"
#include "common/time_util.h"

namespace berth::apiserver {

namespace {

constexpr const char* kIssuer = "https://kubernetes.default.svc.cluster.local";
constexpr int64_t kDefaultExpirationSeconds = 3600;
constexpr int64_t kMinExpirationSeconds = 600;
constexpr int64_t kMaxExpirationSeconds = int64_t{1} << 32;

std::string base64Url(std::string_view data) {
  std::string s = base64Encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

bool fromBase64Url(std::string_view in, std::string* out) {
  std::string s(in);
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return base64Decode(s, out);
}

std::string hmacSha256(const std::string& key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<json> decodeTokenRequest(const http::Request& req) {
  std::string ct = req.header("content-type");
  if (startsWith(ct, "application/vnd.kubernetes.protobuf")) return schema::decodeKubernetesProtobuf(req.body);
  if (startsWith(ct, "application/yaml")) return schema::yamlToJson(req.body);
  if (trim(req.body).empty()) return json::object();
  return schema::parseJsonStrict(req.body, nullptr);
}

}  // namespace

Status ApiServer::Impl::loadServiceAccountKey() {
  std::string path = (std::filesystem::path(options.data_dir) / "pki" / "sa-signing.key").string();
  auto existing = http::readFile(path);
  if (existing.isOk() && existing->size() >= 64) {
    sa_signing_key = trim(*existing);
    return Status::ok();
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return internalError("generating the service account signing key");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : raw) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  BERTH_RETURN_IF_ERROR(http::writeFileAtomic(path, hex + "\n", 0600));
  sa_signing_key = hex;
  return Status::ok();
}

void ApiServer::Impl::handleTokenRequest(RequestCtx& ctx) {
  const RequestInfo& info = ctx.info;
  const KindSpec* sas = kinds->byResource("", "v1", "serviceaccounts");
  ctx.kind = sas;
  auto body = decodeTokenRequest(ctx.req);
  if (!body.isOk()) return sendError(ctx, body.status(), info.name);
  json tr = std::move(body).value();
  if (!tr.is_object()) return sendError(ctx, badRequest("the body of the request must be a TokenRequest object"), info.name);
  auto sa = readCurrent(*sas, info.namespace_, info.name);
  if (!sa.isOk()) return sendError(ctx, sa.status(), info.name);
  json spec = tr.value("spec", json::object());
  int64_t seconds = kDefaultExpirationSeconds;
  if (spec.contains("expirationSeconds") && !spec["expirationSeconds"].is_null()) {
    if (!spec["expirationSeconds"].is_number_integer())
      return sendError(ctx, invalid("TokenRequest.authentication.k8s.io \"" + info.name +
                                    "\" is invalid: spec.expirationSeconds: Invalid value: must be an integer"));
    seconds = spec["expirationSeconds"].get<int64_t>();
  }
  if (seconds < kMinExpirationSeconds || seconds > kMaxExpirationSeconds)
    return sendError(ctx, invalid("TokenRequest.authentication.k8s.io \"" + info.name +
                                  "\" is invalid: spec.expirationSeconds: Invalid value: " +
                                  (seconds < kMinExpirationSeconds
                                       ? "may not specify a duration less than 10 minutes"
                                       : "may not specify a duration larger than 2^32 seconds"))
                              .withCause({"FieldValueInvalid", "Invalid value", "spec.expirationSeconds"}));
  json audiences = spec.value("audiences", json::array());
  if (!audiences.is_array() || audiences.empty()) audiences = json::array({kIssuer});
  const json& sa_obj = (*sa)->obj.get();
  std::string uid = sa_obj["metadata"].value("uid", "");
  int64_t now = unixNow();
  json claims = {{"iss", kIssuer},
                 {"sub", "system:serviceaccount:" + info.namespace_ + ":" + info.name},
                 {"aud", audiences},
                 {"iat", now},
                 {"nbf", now},
                 {"exp", now + seconds},
                 {"kubernetes.io", {{"namespace", info.namespace_},
                                    {"serviceaccount", {{"name", info.name}, {"uid", uid}}}}}};
  std::string signing_input = base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64Url(claims.dump());
  std::string token = signing_input + "." + base64Url(hmacSha256(sa_signing_key, signing_input));
  for (auto it = spec.begin(); it != spec.end();) it = it->is_null() ? spec.erase(it) : std::next(it);
  spec["audiences"] = audiences;
  spec["expirationSeconds"] = seconds;
  json out = {{"kind", "TokenRequest"},
              {"apiVersion", "authentication.k8s.io/v1"},
              {"metadata", {{"name", info.name}, {"namespace", info.namespace_},
                            {"creationTimestamp", formatRfc3339(std::chrono::system_clock::now())}}},
              {"spec", spec},
              {"status", {{"token", token},
                          {"expirationTimestamp",
                           formatRfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(now + seconds)))}}}};
  sendJson(ctx, 201, out);
}

Result<UserInfo> ApiServer::Impl::authenticateServiceAccountToken(const std::string& token) {
  auto parts = split(token, '.');
  Status bad(Code::kUnauthorized, "Unauthorized");
  if (parts.size() != 3 || sa_signing_key.empty()) return bad;
  std::string want = base64Url(hmacSha256(sa_signing_key, parts[0] + "." + parts[1]));
  if (want.size() != parts[2].size() || CRYPTO_memcmp(want.data(), parts[2].data(), want.size()) != 0) return bad;
  std::string text;
  if (!fromBase64Url(parts[1], &text)) return bad;
  json claims = json::parse(text, nullptr, false);
  if (!claims.is_object() || !claims["exp"].is_number_integer() || claims["exp"].get<int64_t>() <= unixNow())
    return Status(Code::kUnauthorized, "Unauthorized: the service account token has expired");
  const json& k8s = claims.value("kubernetes.io", json::object());
  std::string ns = k8s.value("namespace", "");
  const json& sa_claim = k8s.value("serviceaccount", json::object());
  std::string name = sa_claim.value("name", ""), uid = sa_claim.value("uid", "");
  const KindSpec* sas = kinds->byResource("", "v1", "serviceaccounts");
  auto sa = readCurrent(*sas, ns, name);
  if (!sa.isOk() || (*sa)->obj.get()["metadata"].value("uid", "") != uid)
    return Status(Code::kUnauthorized, "Unauthorized: the service account of the token no longer exists");
  return UserInfo{"system:serviceaccount:" + ns + ":" + name, uid,
                  {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}};
}

}  // namespace berth::apiserver
