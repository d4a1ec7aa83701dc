// Requests for resources that are not stored kinds: the access reviews (`kubectl auth can-i`,
// `auth whoami`) and the pod subresources that act on a pod (binding, eviction).
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/schema/protobuf.h"
#include "apiserver/schema/validate.h"
#include "common/json_parse.h"
#include "common/strings.h"
#include "common/time_util.h"

namespace berth::apiserver {

namespace {
Result<json> decodeAny(const http::Request& req) {
  std::string ct = toLower(req.header("content-type"));
  if (ct.find("protobuf") != std::string::npos) return schema::decodeKubernetesProtobuf(req.body);
  if (ct.find("yaml") != std::string::npos) return schema::yamlToJson(req.body);
  auto r = schema::parseJsonStrict(req.body, nullptr);
  if (r.isOk() && !r->is_object()) return badRequest("the body of the request must be a JSON object");
  return r;
}
// What binding and eviction answer: a Success Status with code 201.
json createdStatus() {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Success"}, {"code", 201}};
}
// A bound pod's PodScheduled condition becomes True, as upstream's binding storage sets it.
void setPodScheduled(json* pod) {
  json& status = (*pod)["status"];
  if (!status.is_object()) status = json::object();
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  std::string now = formatRfc3339(std::chrono::system_clock::now());
  for (auto& c : conds) {
    if (!c.is_object() || c.value("type", "") != "PodScheduled") continue;
    if (c.value("status", "") != "True") c["lastTransitionTime"] = now;
    c["status"] = "True";
    c.erase("reason");
    c.erase("message");
    return;
  }
  conds.push_back({{"type", "PodScheduled"}, {"status", "True"}, {"lastProbeTime", nullptr},
                   {"lastTransitionTime", now}});
}

// pods/NAME/binding as upstream's binding storage: a compare-and-swap of the stored pod that
// sets spec.nodeName, the binding's annotations and the PodScheduled condition. The assignment
// is the only change, so the generic update path (defaulting, validation of the whole pod,
// managedFields) is not run: it cost most of a bind's server time. 409 Conflict when the pod
// is already assigned, is being deleted, or is not the one the binding's uid names.
Status bindPod(ApiServer::Impl& s, const KindSpec& pods, const std::string& ns,
               const std::string& name, const json& binding, const std::string& node) {
  constexpr int kMaxCasRetries = 16;
  const json& bmeta = binding.contains("metadata") && binding["metadata"].is_object()
                          ? binding["metadata"] : json::object();
  std::string want_uid = bmeta.value("uid", "");
  auto conflict = [&](const std::string& why) {
    return Status(Code::kConflict, "Operation cannot be fulfilled on pods/binding \"" + name + "\": " + why);
  };
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    BERTH_ASSIGN_OR_RETURN(ObjPtr cur, s.readCurrent(pods, ns, name));
    // One parse of the cached bytes into the object to write (the cache's own tree is neither
    // built nor copied).
    json next = parseJson(cur->raw());
    if (!next.is_object() || !next["metadata"].is_object() || !next["spec"].is_object())
      return Status(Code::kInternal, "stored pod " + ns + "/" + name + " is not a valid object");
    const json& old = next;
    std::string uid = old["metadata"].value("uid", "");
    if (!want_uid.empty() && want_uid != uid)
      return conflict("the UID in the precondition (" + want_uid + ") does not match the UID in record (" +
                      uid + "). The object might have been deleted and then recreated");
    std::string assigned = old["spec"].value("nodeName", "");
    if (!assigned.empty())
      return conflict("pod " + name + " is already assigned to node \"" + assigned + "\"");
    if (old["metadata"].contains("deletionTimestamp"))
      return Status(Code::kConflict, "pod " + name + " is being deleted, cannot be assigned to a host");
    next["spec"]["nodeName"] = node;
    if (bmeta.contains("annotations") && bmeta["annotations"].is_object())
      for (const auto& [k, v] : bmeta["annotations"].items()) next["metadata"]["annotations"][k] = v;
    setPodScheduled(&next);
    next["metadata"].erase("resourceVersion");  // the row's revision is the resourceVersion
    auto rev = s.store->update(objectKey(pods, ns, name), next.dump(), cur->mod_revision);
    if (rev.isOk()) return Status::ok();
    if (rev.status().code() == Code::kConflict || rev.status().code() == Code::kNotFound) continue;
    return rev.status();
  }
  return conflictError(pods, name);
}
}  // namespace

bool ApiServer::Impl::handleVirtual(RequestCtx& ctx) {
  const auto& info = ctx.info;
  if (handlePodProxy(ctx)) return true;
  if (info.group == "authorization.k8s.io" && info.version == "v1" && info.name.empty() &&
      (info.resource == "selfsubjectaccessreviews" || info.resource == "selfsubjectrulesreviews")) {
    if (info.verb != "create") {
      sendError(ctx, Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
      return true;
    }
    auto body = decodeAny(ctx.req);
    if (!body.isOk()) {
      sendError(ctx, body.status());
      return true;
    }
    json review = std::move(body).value();
    review["apiVersion"] = "authorization.k8s.io/v1";
    if (!review["metadata"].is_object()) review["metadata"] = json::object();
    review["metadata"]["creationTimestamp"] = nullptr;
    // Authorization is not enforced yet: every authenticated user may do everything.
    if (info.resource == "selfsubjectaccessreviews") {
      review["kind"] = "SelfSubjectAccessReview";
      review["status"] = {{"allowed", true}, {"reason", "berth does not enforce authorization yet"}};
    } else {
      review["kind"] = "SelfSubjectRulesReview";
      review["status"] = {
          {"resourceRules", {{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}}},
          {"nonResourceRules", {{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}}},
          {"incomplete", false}};
    }
    sendJson(ctx, 201, review);
    return true;
  }
  if (info.group == "authentication.k8s.io" && info.version == "v1" &&
      info.resource == "selfsubjectreviews" && info.verb == "create") {
    json groups = ctx.user.groups;
    json review = {{"kind", "SelfSubjectReview"},
                   {"apiVersion", "authentication.k8s.io/v1"},
                   {"metadata", {{"creationTimestamp", nullptr}}},
                   {"status", {{"userInfo", {{"username", ctx.user.name}, {"groups", groups}}}}}};
    if (!ctx.user.uid.empty()) review["status"]["userInfo"]["uid"] = ctx.user.uid;
    sendJson(ctx, 201, review);
    return true;
  }
  if (info.group.empty() && info.resource == "serviceaccounts" && info.subresource == "token" &&
      !info.name.empty() && info.verb == "create") {
    handleTokenRequest(ctx);
    return true;
  }
  const KindSpec* pods = kinds->byResource("", "v1", "pods");
  if (pods && info.group.empty() && info.resource == "pods" && !info.name.empty() &&
      (info.subresource == "binding" || info.subresource == "eviction") && info.verb == "create") {
    ctx.kind = pods;
    auto body = decodeAny(ctx.req);
    if (!body.isOk()) {
      sendError(ctx, body.status(), info.name);
      return true;
    }
    if (info.subresource == "binding") {
      const json& b = *body;
      std::string node = b.contains("target") && b["target"].is_object() ? b["target"].value("name", "") : "";
      if (node.empty()) {
        sendError(ctx, invalidError(*pods, info.name, {{"FieldValueRequired", "Required value", "target.name"}}), info.name);
        return true;
      }
      Status st = bindPod(*this, *pods, info.namespace_, info.name, b, node);
      if (!st.isOk()) {
        sendError(ctx, st, info.name);
        return true;
      }
      sendJson(ctx, 201, createdStatus());
      return true;
    }
    handleEviction(ctx, *body);
    return true;
  }
  return false;
}

}  // namespace berth::apiserver
