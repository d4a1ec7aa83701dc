// KindSpec: the one declaration of a kind. Discovery, routing, defaulting, validation, table
// printing and field selectors iterate over the registry of these; the generic REST handlers
// know nothing kind-specific beyond what a KindSpec says.
//
// The fields' shapes (OpenAPI, strict validation, patch strategies, protobuf numbers) live in
// the schema registry (apiserver/schema), linked by GroupVersionKind.
//
// Thread-safety: the registry is built once at start-up and read-only afterwards; the hook
// functions must be pure (no shared mutable state).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time_util.h"

namespace berth {
struct JsonProjection;
}

namespace berth::apiserver {

using json = nlohmann::json;

struct ColumnDefinition {
  std::string name;         // e.g. "Name", "Ready"
  std::string type;         // "string", "integer", "number", "boolean", "date"
  std::string format;       // "name" for the name column, "" otherwise
  std::string description;
  int priority = 0;         // 0 always shown, 1 only with -o wide
};

struct KindSpec {
  // Identity.
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Deployment"
  std::string resource;  // "deployments"
  std::string singular;  // "deployment"
  bool namespaced = true;
  std::vector<std::string> short_names;  // e.g. {"deploy"}
  std::vector<std::string> categories;   // e.g. {"all"}
  std::vector<std::string> verbs = {"create", "delete", "deletecollection", "get",
                                    "list",   "patch",  "update",           "watch"};

  // Subresources.
  bool has_status = false;
  // Scale subresource: JSON pointers into the object.
  bool has_scale = false;
  std::string scale_spec_replicas = "/spec/replicas";
  std::string scale_status_replicas = "/status/replicas";
  std::string scale_label_selector = "/spec/selector";  // a LabelSelector object
  // When set, computes the Scale's status.selector string instead of reading
  // scale_label_selector (NodeGroup: "eks.amazonaws.com/nodegroup=<name>").
  std::function<std::string(const json& obj)> scale_selector;

  // Generation bumps on changes outside metadata and status (the "spec"). Kinds with no
  // spec (ConfigMap, Secret...) leave generation unset unless this is true.
  bool uses_generation = true;

  // How metadata.name is checked: an RFC 1123 subdomain for most kinds, an RFC 1123 label for
  // Services and Namespaces, a path segment for the RBAC kinds (e.g. "system:controller:x").
  enum class NameRule { kSubdomain, kLabel, kPathSegment };
  NameRule name_rule = NameRule::kSubdomain;

  // Fills in defaults in place, as upstream's SetDefaults_* (applied on create and update).
  std::function<void(json& obj)> defaults;

  // Validates the object after defaulting. `old` is null on create. Returns causes with field
  // paths; an empty vector means valid. Name rules and metadata are checked generically.
  std::function<std::vector<Cause>(const json& obj, const json* old)> validate;

  // Table printing: column definitions and one row's cells (same length, same order).
  std::vector<ColumnDefinition> columns;
  std::function<std::vector<json>(const json& obj, TimePoint now)> cells;
  // Optional row conditions (Table rows' `conditions`), e.g. pods: [{type: Completed, ...}] once
  // finished. Returns null when there are none.
  std::function<json(const json& obj)> row_conditions;
  // Optional: the members `cells` and `row_conditions` read. A list's Table rows then build
  // only these from each cached object (most of a pod's bytes are its containers' specs, which
  // the printer only counts); null builds the whole object. The kind's table test checks that
  // every row prints the same either way.
  std::shared_ptr<const JsonProjection> table_projection;

  // Field selectors beyond metadata.name / metadata.namespace: the supported field names and
  // how to read each from an object.
  std::vector<std::string> selectable_fields;
  std::function<std::string(const json& obj, const std::string& field)> field_value;
  // Selectable fields that are one member of the object, read exactly as field_value reads
  // them: the string at `path` ("" when absent or not a string) or, with `flag`, "true" when
  // the member is boolean true and "false" otherwise. Selectors on these fields are evaluated
  // on the cached text without parsing the object (watch fan-out, lists); the others go
  // through field_value on the parsed object.
  struct PlainField {
    std::string field;
    std::vector<std::string> path;
    bool flag = false;
  };
  std::vector<PlainField> plain_fields;

  // Status counters upstream's types mark omitempty: written as 0, they are dropped (a 0 is
  // absent upstream, which `kubectl get -o jsonpath` and `kubectl wait` can tell apart).
  std::vector<std::string> status_omit_zero;

  // A second version of a stored kind (autoscaling/v1 HorizontalPodAutoscaler over v2, or
  // events.k8s.io/v1 Event over core/v1): its objects are stored as `storage_version` of
  // `storage_group` (this kind's own group when unset) and the same resource;
  // request bodies are validated with `validate` (when set), converted with to_storage (an
  // error names the field it cannot convert) and everything served with from_storage.
  // `field_renames` maps this version's field selector names to the stored kind's. Empty for
  // kinds stored as themselves.
  std::string storage_version;
  std::optional<std::string> storage_group;
  std::vector<std::pair<std::string, std::string>> field_renames;
  std::function<Status(json& obj)> to_storage;
  std::function<void(json& obj)> from_storage;

  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps" / "pods": the name upstream uses in messages.
  std::string qualifiedResource() const { return group.empty() ? resource : resource + "." + group; }
  // "Deployment.apps" / "Pod".
  std::string qualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
};

class KindRegistry {
 public:
  // Lookups are linear: a few dozen kinds, looked up once per request.
  // The built-in kinds (core, apps, batch, ..., berth.dev); built on first use.
  static const KindRegistry& builtin();

  void add(KindSpec spec);
  const std::vector<KindSpec>& all() const { return kinds_; }
  const KindSpec* byResource(const std::string& group, const std::string& version,
                             const std::string& resource) const;
  const KindSpec* byKind(const std::string& group, const std::string& version,
                         const std::string& kind) const;

 private:
  std::vector<KindSpec> kinds_;
};

}  // namespace berth::apiserver
