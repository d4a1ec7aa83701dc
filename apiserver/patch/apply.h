// Server-side apply and field ownership (metadata.managedFields, FieldsV1).
//
// Follows the behaviour of kubernetes-sigs/structured-merge-diff as the API server uses it:
//  * An applied configuration's field set is its ownership claim: leaves as `f:<name>`,
//    list-map items as `k:{"name":"x"}` (keys from the schema's list_map_keys, or the SMP merge
//    key), set items as `v:<json>`, and `.` for an item that is itself owned.
//  * Apply merges the configuration into the live object (maps granular, list maps by key, sets
//    by value, atomic lists replaced), removes fields this manager applied last time but omits
//    now unless another manager still owns them, and refuses (kConflict, one FieldManagerConflict
//    cause per field) when the change touches a field another manager owns, unless `force`, in
//    which case ownership moves to the applier.
//  * recordUpdate gives an ordinary create/update/patch's manager (operation "Update") the
//    fields whose values changed, taking them away from other managers.
// metadata.{managedFields,resourceVersion,uid,creationTimestamp,generation,selfLink}, apiVersion,
// kind, metadata.name/namespace and (for the main resource) status are never owned.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apiserver/schema/schema.h"
#include "common/status.h"

namespace berth::apiserver::patch {

// A set of field paths in FieldsV1 shape: children keyed by path element ("f:spec",
// "k:{\"name\":\"x\"}", "v:\"a\"", "i:0"); `member` is FieldsV1's "." (the path itself is in the
// set). Nodes that are neither members nor have children are never stored.
struct FieldSet {
  bool member = false;
  std::map<std::string, FieldSet> children;

  bool empty() const { return !member && children.empty(); }
  bool operator==(const FieldSet&) const = default;
  // Every member path, rendered as upstream prints them: ".spec.containers[name=\"a\"].image".
  std::vector<std::string> paths() const;
};

// The ownership claim of an object or configuration (Apply semantics). Fails (kInvalid) when a
// list-map item lacks its keys.
Result<FieldSet> fieldSetFromObject(const nlohmann::json& obj, const schema::Type* type);
// FieldsV1 JSON <-> FieldSet.
nlohmann::json fieldSetToFieldsV1(const FieldSet& set);
Result<FieldSet> fieldSetFromFieldsV1(const nlohmann::json& fields_v1);

struct ApplyResult {
  nlohmann::json object;
  // Conflicts found; non-empty only when `force` overrode them.
  std::vector<Cause> conflicts;
};

// `live` null = create. `applied` is the configuration (apply-patch body). On conflict without
// force: kConflict with causes {reason:"FieldManagerConflict", message:"conflict with \"m\"
// using apps/v1", field:".spec.replicas"}. Fields the caller checks itself (resourceVersion
// preconditions, name match) are ignored in `applied`. Unreadable live managedFields are reset.
// The caller applies defaults and validation to the returned object afterwards.
// `subresource` "status": an apply to /status. Only the configuration's status is applied and
// owned, under an entry with subresource "status" (the caller keeps the rest of `live`).
Result<ApplyResult> serverSideApplyDetailed(
    const nlohmann::json* live, const nlohmann::json& applied, const std::string& manager,
    bool force, const schema::Type* type, const std::string& now_rfc3339,
    const std::string& api_version, const std::string& subresource = "");
Result<nlohmann::json> serverSideApply(const nlohmann::json* live, const nlohmann::json& applied,
                                       const std::string& manager, bool force,
                                       const schema::Type* type, const std::string& now_rfc3339,
                                       const std::string& api_version,
                                       const std::string& subresource = "");

// Records an ordinary write (create when `old` is null) in `updated`'s metadata.managedFields.
// The base ownership is `updated`'s managedFields when it carries a non-empty valid list (the
// client replaced them), else `old`'s. `[{}]` clears all ownership. `subresource` is "" or
// "status" (then only status fields are tracked, and entries carry subresource "status").
void recordUpdate(nlohmann::json* updated, const nlohmann::json* old, const std::string& manager,
                  const std::string& now_rfc3339, const std::string& api_version,
                  const schema::Type* type, const std::string& subresource = "");

}  // namespace berth::apiserver::patch
