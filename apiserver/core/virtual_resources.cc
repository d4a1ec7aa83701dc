// Requests for resources that are not stored kinds: the access reviews (`kubectl auth can-i`,
// `auth whoami`) and the pod subresources that act on a pod (binding, eviction).
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/schema/protobuf.h"
#include "apiserver/schema/validate.h"
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
      auto r = updateObject(
          ctx, *pods, info.namespace_, info.name,
          [&](const json* cur) -> Result<json> {
            if (!cur) return notFoundError(*pods, info.name);
            std::string assigned = (*cur)["spec"].value("nodeName", "");
            if (!assigned.empty())
              return Status(Code::kConflict, "Operation cannot be fulfilled on pods/binding \"" + info.name +
                                                 "\": pod " + info.name + " is already assigned to node \"" +
                                                 assigned + "\"");
            if ((*cur)["metadata"].contains("deletionTimestamp"))
              return Status(Code::kConflict, "pod " + info.name + " is being deleted, cannot be assigned to a host");
            json next = *cur;
            next["spec"]["nodeName"] = node;
            next["metadata"].erase("resourceVersion");
            setPodScheduled(&next);
            return next;
          },
          false, false, nullptr);
      // The binding may only change spec.nodeName, which pod validation otherwise forbids;
      // the kind's validate sees an old pod without a node and allows the assignment.
      if (!r.isOk()) {
        sendError(ctx, r.status(), info.name);
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
