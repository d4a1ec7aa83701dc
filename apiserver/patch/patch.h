// The three PATCH body formats the API accepts, applied to objects kept as JSON:
//   application/strategic-merge-patch+json  applyStrategicMergePatch (needs the kind's schema)
//   application/merge-patch+json            applyJsonMergePatch (RFC 7386)
//   application/json-patch+json             applyJsonPatch (RFC 6902)
//
// Strategic merge patch follows upstream's server-side semantics (apimachinery
// pkg/util/strategicpatch): maps merge and `null` deletes; lists whose schema field says
// patch_merge are merged (objects by patch_merge_key, primitives as a set); other lists are
// replaced. Directives: `$patch: replace|delete` in maps, `{"$patch": "replace"}` and
// `{"$patch": "delete", <key>: v}` list elements, `$retainKeys`, `$setElementOrder/<field>`,
// `$deleteFromPrimitiveList/<field>`. Directive keys never reach the result. With a null type,
// or under a field the schema doesn't know, maps merge and lists are replaced.
//
// Inputs are never modified. Errors: malformed patches are kBadRequest; a JSON patch operation
// that does not apply (missing path, failed test) is kInvalid.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "apiserver/schema/schema.h"
#include "common/status.h"

namespace berth::apiserver::patch {

Result<nlohmann::json> applyStrategicMergePatch(const nlohmann::json& original,
                                                const nlohmann::json& patch,
                                                const schema::Type* type);

Result<nlohmann::json> applyJsonMergePatch(const nlohmann::json& original,
                                           const nlohmann::json& patch);

Result<nlohmann::json> applyJsonPatch(const nlohmann::json& original, const nlohmann::json& ops);

}  // namespace berth::apiserver::patch
