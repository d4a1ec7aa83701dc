// Bootstrap-token authentication and the bootstrappers' authorisation, and the
// CertificateSigningRequest rules a node's join depends on: the requestor stamped into
// spec.username/groups/uid on create, and the /approval and /status update semantics.
// Upstream: plugin/pkg/auth/authenticator/token/bootstrap, the system:node-bootstrapper role,
// pkg/registry/certificates/certificates/strategy.go.
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "nodegroups/bootstrap/token.h"

namespace berth::apiserver {

namespace bootstrap = nodegroups::bootstrap;

namespace {

bool isApprovalCondition(const json& c) {
  std::string t = c.is_object() ? c.value("type", "") : "";
  return t == "Approved" || t == "Denied";
}

// The approval conditions (Approved, Denied) of `obj`, or all the others.
json conditionsOf(const json& obj, bool approval) {
  json out = json::array();
  const json* status = obj.contains("status") ? &obj["status"] : nullptr;
  if (status && status->is_object() && status->contains("conditions") && (*status)["conditions"].is_array())
    for (const auto& c : (*status)["conditions"])
      if (isApprovalCondition(c) == approval) out.push_back(c);
  return out;
}

}  // namespace

bool isCsrKind(const KindSpec& k) {
  return k.group == "certificates.k8s.io" && k.resource == "certificatesigningrequests";
}

Result<UserInfo> ApiServer::Impl::authenticateBootstrapToken(const std::string& token) {
  auto parsed = bootstrap::parseBootstrapToken(token);
  if (!parsed.isOk()) return Status(Code::kUnauthorized, parsed.status().message());
  const KindSpec* secrets = kinds->byResource("", "v1", "secrets");
  ObjPtr obj;
  if (secrets)
    obj = cache->resource(resourcePrefix(*secrets))
              ->get(objectKey(*secrets, "kube-system", bootstrap::bootstrapTokenSecretName(parsed->id)));
  auto who = bootstrap::authenticateBootstrapToken(*parsed, obj ? &obj->obj.get() : nullptr,
                                                   std::chrono::system_clock::now());
  if (!who.isOk()) return who.status();
  UserInfo u{who->user, "", who->groups};
  u.groups.push_back("system:authenticated");
  return u;
}

bool isBootstrapper(const UserInfo& u) {
  for (const auto& g : u.groups)
    if (g == bootstrap::kBootstrappersGroup) return true;
  return false;
}

Status ApiServer::Impl::authorizeBootstrapper(const RequestCtx& ctx) {
  const RequestInfo& info = ctx.info;
  const std::string& v = info.verb;
  if (!info.is_resource_request) {
    // system:discovery and system:public-info-viewer: reads of discovery, version and health.
    const std::string& p = ctx.req.path;
    bool discovery = p == "/api" || p == "/apis" || startsWith(p, "/api/") || startsWith(p, "/apis/") ||
                     p == "/version" || startsWith(p, "/openapi/") || p == "/openapi/v3" ||
                     startsWith(p, "/healthz") || startsWith(p, "/livez") || startsWith(p, "/readyz");
    if (ctx.req.method == "GET" && discovery) return Status::ok();
    return Status(Code::kForbidden, "forbidden: User \"" + ctx.user.name + "\" cannot " +
                                        toLower(ctx.req.method) + " path \"" + p + "\"");
  }
  // system:node-bootstrapper: create, get, list and watch CertificateSigningRequests.
  bool csr = info.group == "certificates.k8s.io" && info.resource == "certificatesigningrequests" &&
             info.subresource.empty();
  if (csr && (v == "create" || v == "get" || v == "list" || v == "watch")) return Status::ok();
  std::string qualified = info.group.empty() ? info.resource : info.resource + "." + info.group;
  if (!info.subresource.empty()) qualified += "/" + info.subresource;
  std::string msg = qualified + (info.name.empty() ? "" : " \"" + info.name + "\"") +
                    " is forbidden: User \"" + ctx.user.name + "\" cannot " + v + " resource \"" +
                    info.resource + (info.subresource.empty() ? "" : "/" + info.subresource) +
                    "\" in API group \"" + info.group + "\"" +
                    (info.namespace_.empty() ? " at the cluster scope"
                                             : " in the namespace \"" + info.namespace_ + "\"");
  return Status(Code::kForbidden, msg);
}

void stampCsrRequestor(const UserInfo& user, json& csr) {
  if (!csr.is_object()) return;
  json& spec = csr["spec"];
  if (!spec.is_object()) spec = json::object();
  spec["username"] = user.name;
  if (user.uid.empty()) spec.erase("uid");
  else spec["uid"] = user.uid;
  spec["groups"] = user.groups;
  spec.erase("extra");
  csr.erase("status");
}

json csrSubresourceUpdate(const std::string& sub, const json& old, const json& desired) {
  json result = old;
  json conds = conditionsOf(old, sub == "status");  // what the caller may not change
  json wanted = conditionsOf(desired, sub == "approval");
  // Timestamps the caller left out, as upstream's populateConditionTimestamps: updated now,
  // and transitioned now unless the old condition of that type had the same status.
  const std::string now = formatRfc3339(std::chrono::system_clock::now());
  const json before = old.contains("status") && old["status"].is_object()
                          ? old["status"].value("conditions", json::array())
                          : json::array();
  for (auto& c : wanted) {
    if (!c.is_object()) continue;
    if (!c.contains("lastUpdateTime") || c["lastUpdateTime"].is_null()) c["lastUpdateTime"] = now;
    if (!c.contains("lastTransitionTime") || c["lastTransitionTime"].is_null()) {
      c["lastTransitionTime"] = now;
      for (const json& was : before.is_array() ? before : json::array())
        if (was.is_object() && was.value("type", "") == c.value("type", "") &&
            was.value("status", "") == c.value("status", "") &&
            was.contains("lastTransitionTime") && !was["lastTransitionTime"].is_null())
          c["lastTransitionTime"] = was["lastTransitionTime"];
    }
  }
  for (auto& c : wanted) conds.push_back(std::move(c));
  if (!result["status"].is_object()) result["status"] = json::object();
  if (conds.empty()) result["status"].erase("conditions");
  else result["status"]["conditions"] = conds;
  if (sub == "status") {
    if (desired.contains("status") && desired["status"].is_object() && desired["status"].contains("certificate"))
      result["status"]["certificate"] = desired["status"]["certificate"];
    else
      result["status"].erase("certificate");
  }
  if (result["status"].empty()) result.erase("status");
  return result;
}

std::vector<Cause> validateCsrConditions(const json& csr) {
  bool approved = false, denied = false;
  for (const auto& c : conditionsOf(csr, true)) {
    approved |= c.value("type", "") == "Approved";
    denied |= c.value("type", "") == "Denied";
  }
  if (approved && denied)
    return {{"FieldValueInvalid", "Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive",
             "status.conditions"}};
  return {};
}

}  // namespace berth::apiserver
