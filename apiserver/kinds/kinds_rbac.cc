// rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.
//
// The objects are stored, validated and printed as upstream does, so the manifests people apply
// (an operator's ServiceAccount with its Role and RoleBinding) go through unchanged. Berth
// authorises every authenticated request (upstream's AlwaysAllow mode): the rules are kept, not
// enforced.
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

KindSpec rbac(std::string kind, std::string resource, std::string singular, bool namespaced) {
  KindSpec k = makeKind(kRbacGroup, "v1", std::move(kind), std::move(resource), std::move(singular),
                        namespaced);
  k.uses_generation = false;
  k.name_rule = KindSpec::NameRule::kPathSegment;
  return k;
}

bool nonEmptyList(const json* v) { return v && v->is_array() && !v->empty(); }

// One PolicyRule, as upstream's ValidatePolicyRule.
void validateRule(const json& rule, bool namespaced, const std::string& path, Errors& errs) {
  if (!nonEmptyList(find(rule, {"verbs"}))) errs.required(path + ".verbs", "verbs must contain at least one value");
  const json* urls = find(rule, {"nonResourceURLs"});
  if (nonEmptyList(urls)) {
    if (namespaced) {
      errs.invalid(path + ".nonResourceURLs", *urls, "namespaced rules cannot apply to non-resource URLs");
    }
    if (nonEmptyList(find(rule, {"apiGroups"})) || nonEmptyList(find(rule, {"resources"})) ||
        nonEmptyList(find(rule, {"resourceNames"}))) {
      errs.invalid(path + ".nonResourceURLs", *urls,
                   "rules cannot apply to both regular resources and non-resource URLs");
    }
    return;
  }
  if (!nonEmptyList(find(rule, {"apiGroups"})))
    errs.required(path + ".apiGroups", "resource rules must supply at least one api group");
  if (!nonEmptyList(find(rule, {"resources"})))
    errs.required(path + ".resources", "resource rules must supply at least one resource");
}

void validateRules(const json& obj, bool namespaced, Errors& errs) {
  const json* rules = find(obj, {"rules"});
  if (!rules || !rules->is_array()) return;
  for (size_t i = 0; i < rules->size(); ++i) validateRule((*rules)[i], namespaced, at("", "rules", i), errs);
}

KindSpec roleKind(bool cluster) {
  KindSpec k = cluster ? rbac("ClusterRole", "clusterroles", "clusterrole", false)
                       : rbac("Role", "roles", "role", true);
  k.validate = [cluster](const json& obj, const json*) {
    Errors errs;
    validateRules(obj, !cluster, errs);
    if (const json* agg = find(obj, {"aggregationRule"}); cluster && agg && agg->is_object()) {
      const json* sels = find(*agg, {"clusterRoleSelectors"});
      if (!nonEmptyList(sels)) {
        errs.required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil");
      } else {
        for (size_t i = 0; i < sels->size(); ++i)
          validateLabelSelector((*sels)[i], at("aggregationRule", "clusterRoleSelectors", i), errs);
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Created At", "date", "The time the role was created.")};
  k.cells = [](const json& obj, TimePoint) {
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"metadata", "creationTimestamp"})};
  };
  return k;
}

// ---- bindings --------------------------------------------------------------------------------

void defaultSubjects(json& obj) {
  json* subjects = obj.contains("subjects") ? &obj["subjects"] : nullptr;
  if (!subjects || !subjects->is_array()) return;
  for (json& s : *subjects) {
    if (!s.is_object()) continue;
    // (A ServiceAccount's group is "", which upstream omits from its JSON.)
    std::string kind = s.value("kind", "");
    bool unset = !s.contains("apiGroup") || s["apiGroup"].is_null() || s["apiGroup"] == "";
    if (unset && (kind == "User" || kind == "Group")) s["apiGroup"] = kRbacGroup;
  }
}

void validateSubject(const json& s, bool namespaced, const std::string& path, Errors& errs) {
  if (str(s, {"name"}).empty()) errs.required(path + ".name", "");
  std::string kind = str(s, {"kind"});
  std::string group = str(s, {"apiGroup"});
  if (kind == "ServiceAccount") {
    if (!group.empty()) errs.notSupported(path + ".apiGroup", group, {""});
    if (!namespaced && str(s, {"namespace"}).empty()) errs.required(path + ".namespace", "");
  } else if (kind == "User" || kind == "Group") {
    if (group != kRbacGroup) errs.notSupported(path + ".apiGroup", group, {kRbacGroup});
  } else {
    errs.notSupported(path + ".kind", kind, {"ServiceAccount", "User", "Group"});
  }
}

std::string subjectNames(const json& obj, std::string_view kind) {
  std::vector<std::string> names;
  if (const json* subjects = find(obj, {"subjects"}); subjects && subjects->is_array()) {
    for (const json& s : *subjects) {
      if (str(s, {"kind"}) != kind) continue;
      std::string name = str(s, {"name"});
      std::string ns = str(s, {"namespace"});
      if (kind == "ServiceAccount" && !ns.empty()) name = ns + "/" + name;
      names.push_back(name);
    }
  }
  return join(names, ", ");
}

KindSpec bindingKind(bool cluster) {
  KindSpec k = cluster ? rbac("ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false)
                       : rbac("RoleBinding", "rolebindings", "rolebinding", true);
  k.defaults = defaultSubjects;
  k.validate = [cluster](const json& obj, const json* old) {
    Errors errs;
    std::string group = str(obj, {"roleRef", "apiGroup"});
    if (group != kRbacGroup) errs.notSupported("roleRef.apiGroup", group, {kRbacGroup});
    std::string kind = str(obj, {"roleRef", "kind"});
    if (cluster && kind != "ClusterRole") errs.notSupported("roleRef.kind", kind, {"ClusterRole"});
    if (!cluster && kind != "Role" && kind != "ClusterRole")
      errs.notSupported("roleRef.kind", kind, {"Role", "ClusterRole"});
    if (str(obj, {"roleRef", "name"}).empty()) errs.required("roleRef.name", "");
    if (const json* subjects = find(obj, {"subjects"}); subjects && subjects->is_array()) {
      for (size_t i = 0; i < subjects->size(); ++i)
        validateSubject((*subjects)[i], !cluster, at("", "subjects", i), errs);
    }
    const json* ref = find(obj, {"roleRef"});
    const json* old_ref = old ? find(*old, {"roleRef"}) : nullptr;
    if (old_ref && (!ref || *ref != *old_ref)) {
      errs.invalid("roleRef", ref ? *ref : json(), "cannot change roleRef");
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Role", "string", "The role the binding grants."), ageColumn(),
               column("Users", "string", "The users bound.", 1),
               column("Groups", "string", "The groups bound.", 1),
               column("ServiceAccounts", "string", "The service accounts bound.", 1)};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             str(obj, {"roleRef", "kind"}) + "/" + str(obj, {"roleRef", "name"}),
                             ageCell(obj, now), subjectNames(obj, "User"), subjectNames(obj, "Group"),
                             subjectNames(obj, "ServiceAccount")};
  };
  return k;
}

}  // namespace

void registerRbacKinds(KindRegistry& reg) {
  reg.add(roleKind(false));
  reg.add(roleKind(true));
  reg.add(bindingKind(false));
  reg.add(bindingKind(true));
}

}  // namespace berth::apiserver::kinds
