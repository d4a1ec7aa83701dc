// Helpers shared by the per-kind declarations (kinds_*.cc): reading and defaulting JSON
// fields, building validation causes with upstream's wording, table-cell formatting, and the
// pod-spec rules every pod template reuses. Internal to apiserver/kinds.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "apiserver/kinds/kind_spec.h"
#include "common/status.h"
#include "common/time_util.h"

namespace berth::apiserver::kinds {

// ---- reading ---------------------------------------------------------------------------------
// The value at obj.k1.k2..., or nullptr if a step is missing or not an object.
const json* find(const json& obj, std::initializer_list<std::string_view> keys);
std::string str(const json& obj, std::initializer_list<std::string_view> keys,
                std::string_view fallback = "");
int64_t num(const json& obj, std::initializer_list<std::string_view> keys, int64_t fallback = 0);
bool flag(const json& obj, std::initializer_list<std::string_view> keys);
// Size of the array or object at the path (0 when absent).
size_t count(const json& obj, std::initializer_list<std::string_view> keys);
bool isInt(const json* v);

// ---- defaulting ------------------------------------------------------------------------------
// obj[key] as an object, created when missing or null.
json& child(json& obj, std::string_view key);
// Sets obj[key] = value when missing or null (or "", for a string value).
void setDefault(json& obj, std::string_view key, const json& value);

// ---- validation ------------------------------------------------------------------------------
// "-1", "\"Foo\"", "map[string]string{\"app\":\"web\"}" or compact JSON: how upstream prints a
// bad value.
std::string formatValue(const json& v);

// Go's %#v of a metav1.LabelSelector, as upstream prints an immutable selector:
// v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}
std::string goLabelSelector(const json& selector);
// Go's %#v of a []string: []string{"a", "b"}, or []string(nil) when absent/empty.
std::string goStringSlice(const json* list);

class Errors {
 public:
  void required(const std::string& field, const std::string& detail = "");
  void invalid(const std::string& field, const json& value, const std::string& detail);
  // For IntOrString fields, which upstream prints through String(): 0, 25% (no quotes).
  void invalidIntOrString(const std::string& field, const json& value, const std::string& detail);
  // The bad value already formatted (e.g. by goLabelSelector / goStringSlice).
  void invalidText(const std::string& field, const std::string& text, const std::string& detail);
  void notSupported(const std::string& field, const json& value,
                    const std::vector<std::string>& supported);
  void duplicate(const std::string& field, const json& value);
  void forbidden(const std::string& field, const std::string& detail);
  void notFound(const std::string& field, const json& value);
  void tooLong(const std::string& field, const std::string& detail);
  void immutable(const std::string& field, const json& value) {
    invalid(field, value, "field is immutable");
  }
  // Checks common numeric bounds; `v` may be null (then nothing is checked).
  void nonNegative(const std::string& field, const json* v);
  void positive(const std::string& field, const json* v);
  bool empty() const { return causes_.empty(); }
  std::vector<Cause> take() { return std::move(causes_); }

 private:
  std::vector<Cause> causes_;
};

std::string at(const std::string& path, std::string_view key);       // path.key
std::string at(const std::string& path, std::string_view key, size_t i);  // path.key[i]
std::string keyed(const std::string& path, std::string_view key);    // path[key]

// A LabelSelector's validity (operators, values), then whether it matches `labels`.
void validateLabelSelector(const json& selector, const std::string& path, Errors& errs);
bool selectorMatches(const json& selector, const json& labels);
// Workload selector rules (Deployment, ReplicaSet, DaemonSet, Job with manualSelector).
void validateWorkloadSelector(const json& obj, Errors& errs, const std::string& kindLower);
// IntOrString validation for maxSurge / maxUnavailable; percentages must be "N%".
void validateIntOrPercent(const json* v, const std::string& path, Errors& errs);
// Value of an IntOrString relative to `total` (percent rounds per `roundUp`), -1 if invalid.
int64_t intOrPercentValue(const json* v, int64_t total, bool roundUp);

// ---- pod spec (core/v1 PodSpec and every pod template) ---------------------------------------
void defaultPodSpec(json& spec);
// SetDefaults_Pod's part for pods only (not templates): a container's limits without requests
// become its requests.
void defaultPodRequests(json& spec);
// template.spec defaults; creates template and spec when missing.
void defaultPodTemplate(json& tmpl);
void validatePodSpec(const json& spec, const std::string& path, Errors& errs);
// Requires template.spec and validates it (`path` is "spec.template").
void validatePodTemplate(const json* tmpl, const std::string& path, Errors& errs);

// ---- tables ----------------------------------------------------------------------------------
ColumnDefinition nameColumn();
ColumnDefinition ageColumn();
ColumnDefinition column(std::string name, std::string type, std::string description,
                        int priority = 0);
json ageCell(const json& obj, TimePoint now);
// HumanDuration since an RFC 3339 timestamp; "<unknown>" when absent.
std::string since(const json* timestamp, TimePoint now);
// metav1.FormatLabelSelector: "app=web,tier in (a,b)", "<none>" when empty.
std::string formatLabelSelector(const json* selector);
// labels.FormatLabels of a string map: "a=b,c=d" sorted, "<none>" when empty.
std::string formatLabels(const json* labels);
// The comma-joined container names / images of a pod spec.
std::string containerNames(const json* podSpec);
std::string containerImages(const json* podSpec);
// True when status.conditions has {type, status: "True"}.
bool hasCondition(const json& obj, std::string_view type);

// The core/v1 Event table (also used by events.k8s.io/v1 after mapping its fields).
std::vector<ColumnDefinition> eventColumns();
std::vector<json> eventCells(const json& coreEvent, TimePoint now);
// Fields selectable on core/v1 events: involvedObject.*, reason, source, reportingComponent, type.
std::vector<std::string> eventSelectableFields();
std::string eventFieldValue(const json& coreEvent, const std::string& field);
// The core/v1 Event's selectable fields that are plain members (all of them).
std::vector<KindSpec::PlainField> eventPlainFields();

// ---- registration ----------------------------------------------------------------------------
void registerCoreKinds(KindRegistry& reg);
void registerAppsKinds(KindRegistry& reg);
void registerBatchKinds(KindRegistry& reg);
void registerMiscKinds(KindRegistry& reg);
void registerNetworkKinds(KindRegistry& reg);  // kinds_network.cc
void registerRbacKinds(KindRegistry& reg);     // kinds_rbac.cc
void registerLimitKinds(KindRegistry& reg);    // kinds_limits.cc

// A kind with its names and scope set; everything else at KindSpec's defaults. The builders
// below, and each API group's own, start from it.
KindSpec makeKind(std::string group, std::string version, std::string kind, std::string resource,
                  std::string singular, bool namespaced);

// A core/v1 kind, without generation (most core kinds have no spec worth counting).
KindSpec coreKind(std::string kind, std::string resource, std::string singular, bool namespaced);

// A cluster-scoped berth.dev/v1alpha1 kind with status and generation (the node-group and
// network kinds start from it).
KindSpec berthKind(std::string kind, std::string resource, std::string singular);
void registerBerthKinds(KindRegistry& reg);

}  // namespace berth::apiserver::kinds
