// ControllerRevision history of a workload (DaemonSet-style and StatefulSet-style): the revision
// for the current pod template, renumbering when a template returns to an older revision (what
// `kubectl rollout undo` does), and pruning beyond spec.revisionHistoryLimit. The revision data is
// the strategic merge patch {"spec":{"template":{..., "$patch":"replace"}}} that kubectl's
// rollout history/undo read and apply.
// Thread-safety: pure functions over the given client and cached objects.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/status.h"

namespace berth::controllers {

using client::json;

// The ControllerRevisions in `revisions` (indexed by owner uid) controlled by `owner`.
std::vector<client::ObjectPtr> ownedRevisions(client::Informer* revisions, const json& owner,
                                              const std::string& kind);

struct RevisionSync {
  std::string api_version;  // of the owner, e.g. "apps/v1"
  std::string kind;         // "StatefulSet"
  std::string name;         // the revision for the current template, "<owner>-<hash>"
  std::string hash;         // its controller-revision-hash label
  // Revision names still in use (by pods, or as the status's current revision): never pruned.
  std::set<std::string> in_use;
};

// Makes sure revision `s.name` exists with the highest revision number, then deletes the oldest
// unused revisions beyond spec.revisionHistoryLimit (default 10).
Status syncRevisions(client::Client* client, const std::vector<client::ObjectPtr>& owned,
                     const json& owner, const RevisionSync& s);

// The pod template stored in a revision's data (null when absent).
json templateOfRevision(const json& revision);

}  // namespace berth::controllers
