#include "controllers/controller_revisions.h"

#include <algorithm>

#include "common/log.h"
#include "controllers/daemonset_controller.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

std::vector<client::ObjectPtr> ownedRevisions(client::Informer* revisions, const json& owner,
                                              const std::string& kind) {
  std::vector<client::ObjectPtr> owned;
  for (const auto& r : revisions->byIndex(client::kIndexOwnerUid, uidOf(owner))) {
    const json* ref = controllerRefOfKind(*r, kind);
    if (ref && ref->value("uid", "") == uidOf(owner)) owned.push_back(r);
  }
  return owned;
}

json templateOfRevision(const json& revision) {
  json t = jsonAt(revision, {"data", "spec", "template"});
  if (t.is_object()) t.erase("$patch");
  return t;
}

namespace {

json newRevision(const json& owner, const RevisionSync& s, int64_t number) {
  json tmpl = jsonAt(owner, {"spec", "template"}).is_object() ? owner["spec"]["template"] : json::object();
  json labels = jsonAt(tmpl, {"metadata", "labels"}).is_object() ? tmpl["metadata"]["labels"] : json::object();
  labels[kControllerRevisionHashLabel] = s.hash;
  tmpl["$patch"] = "replace";
  json meta = {{"name", s.name}, {"namespace", namespaceOf(owner)}, {"labels", labels},
               {"ownerReferences", json::array({controllerRefTo(s.api_version, s.kind, owner)})}};
  if (jsonAt(owner, {"metadata", "annotations"}).is_object()) {
    json ann = owner["metadata"]["annotations"];
    ann.erase("kubectl.kubernetes.io/last-applied-configuration");
    if (!ann.empty()) meta["annotations"] = ann;
  }
  return {{"apiVersion", "apps/v1"}, {"kind", "ControllerRevision"}, {"metadata", meta},
          {"data", {{"spec", {{"template", tmpl}}}}}, {"revision", number}};
}

}  // namespace

Status syncRevisions(client::Client* client, const std::vector<client::ObjectPtr>& owned,
                     const json& owner, const RevisionSync& s) {
  const std::string ns = namespaceOf(owner);
  int64_t max_rev = 0;
  client::ObjectPtr current;
  for (const auto& r : owned) {
    max_rev = std::max(max_rev, intAt(*r, {"revision"}, 0));
    if (nameOf(*r) == s.name) current = r;
  }
  if (current && intAt(*current, {"revision"}, 0) < max_rev) {
    json patch = {{"revision", max_rev + 1}};
    auto r = client->patch(res::controllerRevisions(), ns, s.name, client::PatchType::kMerge, patch);
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return r.status().withContext("renumbering revision " + s.name);
  } else if (!current) {
    auto r = client->create(res::controllerRevisions(), ns, newRevision(owner, s, max_rev + 1));
    if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
      return r.status().withContext("creating revision " + s.name);
    if (r.isOk())
      BLOG(2, "created controller revision").kv("owner", ns + "/" + nameOf(owner)).kv("revision", max_rev + 1);
  }
  int64_t limit = intAt(owner, {"spec", "revisionHistoryLimit"}, 10);
  std::vector<client::ObjectPtr> old;
  for (const auto& r : owned)
    if (nameOf(*r) != s.name && !s.in_use.count(nameOf(*r))) old.push_back(r);
  std::sort(old.begin(), old.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    return intAt(*a, {"revision"}, 0) < intAt(*b, {"revision"}, 0);
  });
  for (size_t i = 0; i + limit < old.size(); ++i) {
    auto r = client->remove(res::controllerRevisions(), ns, nameOf(*old[i]),
                            {{"preconditions", {{"uid", uidOf(*old[i])}}}});
    if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
      return r.status().withContext("pruning revision " + nameOf(*old[i]));
  }
  return Status::ok();
}

}  // namespace berth::controllers
