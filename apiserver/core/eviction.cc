// pods/eviction, as upstream's EvictionREST: the pod is deleted unless a PodDisruptionBudget
// forbids it. The budget's status (written by the disruption controller) says how many
// disruptions are allowed; each eviction takes one with a compare-and-swap on the PDB
// (disruptedPods records the pod until the controller sees it go), then deletes the pod.
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/core/pod_admission.h"
#include "apiserver/patch/selectors.h"

namespace berth::apiserver {

namespace {

bool evictionDryRun(const http::Request& req) {
  for (const auto& v : req.params("dryRun"))
    if (v == "All") return true;
  return false;
}

json createdStatus() {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Success"}, {"code", 201}};
}

}  // namespace

Result<std::vector<ObjPtr>> ApiServer::Impl::budgetsFor(const json& pod) {
  std::vector<ObjPtr> out;
  const KindSpec* pdbk = kinds->byResource("policy", "v1", "poddisruptionbudgets");
  if (!pdbk) return out;
  BERTH_RETURN_IF_ERROR(cache->waitUntilFresh(std::chrono::seconds(3)));
  std::string ns = pod["metadata"].value("namespace", "");
  json labels = pod["metadata"].value("labels", json::object());
  int64_t rev = 0;
  for (const auto& o : cache->resource(resourcePrefix(*pdbk))->list(listPrefix(*pdbk, ns), &rev)) {
    const json& spec = o->obj.get().value("spec", json::object());
    if (!spec.is_object() || !spec.contains("selector") || !spec["selector"].is_object()) continue;
    // policy/v1: an empty selector matches every pod in the namespace; a null one none.
    auto sel = patch::LabelSelector::fromObject(spec["selector"]);
    if (sel.isOk() && sel->matches(labels)) out.push_back(o);
  }
  return out;
}

void ApiServer::Impl::handleEviction(RequestCtx& ctx, const json& eviction) {
  const KindSpec& pods = *ctx.kind;
  const std::string& ns = ctx.info.namespace_;
  const std::string& name = ctx.info.name;
  bool dry_run = evictionDryRun(ctx.req);
  json options = eviction.contains("deleteOptions") && eviction["deleteOptions"].is_object()
                     ? eviction["deleteOptions"]
                     : json::object();
  auto cur = readCurrent(pods, ns, name);
  if (!cur.isOk()) return sendError(ctx, cur.status(), name);
  const json& pod = (*cur)->obj;
  auto remove = [&]() {
    bool deleted_now = false;
    auto r = deleteObject(ctx, pods, ns, name, options, dry_run, &deleted_now);
    if (!r.isOk()) return sendError(ctx, r.status(), name);
    sendJson(ctx, 201, createdStatus());
  };
  if (evictionIgnoresBudget(pod)) return remove();
  auto budgets = budgetsFor(pod);
  if (!budgets.isOk()) return sendError(ctx, budgets.status(), name);
  if (budgets->empty()) return remove();
  if (budgets->size() > 1)
    return sendError(ctx, internalError("This pod has more than one PodDisruptionBudget, which the "
                                        "eviction subresource does not support."), name);
  const json& pdb = budgets->front()->obj;
  if (unhealthyPodMayGo(pod, pdb)) return remove();
  // The budget is taken through /status with a compare-and-swap; a conflict re-reads the PDB
  // and checks again.
  const KindSpec* pdbk = kinds->byResource("policy", "v1", "poddisruptionbudgets");
  RequestCtx status_ctx = ctx;
  status_ctx.info.subresource = "status";
  auto taken = updateObject(
      status_ctx, *pdbk, ns, pdb["metadata"].value("name", ""),
      [&](const json* current) -> Result<json> {
        if (!current) return notFoundError(*pdbk, pdb["metadata"].value("name", ""));
        auto next = consumeDisruption(*current, name, std::chrono::system_clock::now());
        // Unpinned: the store's compare-and-swap is on the revision read here, and a
        // conflict re-runs this check on the newer PDB.
        if (next.isOk()) (*next)["metadata"].erase("resourceVersion");
        return next;
      },
      false, dry_run, nullptr);
  if (!taken.isOk()) return sendError(ctx, taken.status(), name);
  remove();
}

}  // namespace berth::apiserver
