// Maps Berth's Status to the Kubernetes API's Status object and HTTP code, with upstream's
// reasons and message shapes (reference/kubectl.md §1.5). The one place that does this.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace berth::apiserver {

struct KindSpec;

int httpCode(Code code);
std::string reasonFor(Code code);

// details: {name, group, kind} as upstream (kind = resource plural for NotFound/AlreadyExists/
// Conflict, the Kind for Invalid), and causes from the Status.
nlohmann::json statusObject(const Status& status, const std::string& name = "",
                            const std::string& group = "", const std::string& details_kind = "");

// Upstream messages.
Status notFoundError(const KindSpec& k, const std::string& name);
Status alreadyExistsError(const KindSpec& k, const std::string& name);
Status conflictError(const KindSpec& k, const std::string& name);
// `The Deployment "web" is invalid: <field>: <message>, ...`
Status invalidError(const KindSpec& k, const std::string& name, const std::vector<Cause>& causes);
// upstream's NewTooLargeResourceVersionError: 504 "Timeout: Too large resource version: W,
// current: C" with a ResourceVersionTooLarge cause and retryAfterSeconds 1, which client-go
// tells apart from other timeouts.
Status tooLargeResourceVersion(int64_t wanted, int64_t current);
// 422 for request options ("ListOptions", "CreateOptions"...) of group meta.k8s.io.
Status invalidOptions(const std::string& options_kind, const std::vector<Cause>& causes);

// A Success Status, e.g. for deletecollection or delete with no object.
nlohmann::json successStatus(const std::string& name, const std::string& group,
                             const std::string& kind, const std::string& uid);

}  // namespace berth::apiserver
