#include "apiserver/kinds/kind_util.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace berth::apiserver::kinds {

// ---- reading ---------------------------------------------------------------------------------

const json* find(const json& obj, std::initializer_list<std::string_view> keys) {
  const json* cur = &obj;
  for (std::string_view k : keys) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string str(const json& obj, std::initializer_list<std::string_view> keys,
                std::string_view fallback) {
  const json* v = find(obj, keys);
  if (v && v->is_string()) return v->get<std::string>();
  return std::string(fallback);
}

int64_t num(const json& obj, std::initializer_list<std::string_view> keys, int64_t fallback) {
  const json* v = find(obj, keys);
  if (v && v->is_number_integer()) return v->get<int64_t>();
  if (v && v->is_number_float()) return static_cast<int64_t>(v->get<double>());
  return fallback;
}

bool flag(const json& obj, std::initializer_list<std::string_view> keys) {
  const json* v = find(obj, keys);
  return v && v->is_boolean() && v->get<bool>();
}

size_t count(const json& obj, std::initializer_list<std::string_view> keys) {
  const json* v = find(obj, keys);
  if (v && (v->is_array() || v->is_object())) return v->size();
  return 0;
}

bool isInt(const json* v) { return v && v->is_number_integer(); }

// ---- defaulting ------------------------------------------------------------------------------

json& child(json& obj, std::string_view key) {
  json& c = obj[std::string(key)];
  if (!c.is_object()) c = json::object();
  return c;
}

void setDefault(json& obj, std::string_view key, const json& value) {
  auto it = obj.find(key);
  // As upstream's defaulters test `x == ""`: an empty string is unset for a string default.
  if (it == obj.end() || it->is_null() ||
      (value.is_string() && it->is_string() && it->get_ref<const std::string&>().empty()))
    obj[std::string(key)] = value;
}

// ---- validation ------------------------------------------------------------------------------

std::string formatValue(const json& v) {
  if (v.is_string()) return json(v.get<std::string>()).dump();
  if (v.is_object() && !v.empty()) {
    bool allStrings = std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
    if (allStrings) {
      // Go's %#v of a map[string]string; nlohmann keeps keys sorted, as Go prints them.
      std::string out = "map[string]string{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += json(it.key()).dump() + ":" + it.value().dump();
      }
      return out + "}";
    }
  }
  if (v.is_null()) return "null";
  return v.dump();
}

void Errors::required(const std::string& field, const std::string& detail) {
  causes_.push_back({"FieldValueRequired", detail.empty() ? "Required value" : "Required value: " + detail,
                     field});
}

void Errors::invalid(const std::string& field, const json& value, const std::string& detail) {
  causes_.push_back({"FieldValueInvalid", "Invalid value: " + formatValue(value) + ": " + detail, field});
}

void Errors::invalidIntOrString(const std::string& field, const json& value,
                                const std::string& detail) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  causes_.push_back({"FieldValueInvalid", "Invalid value: " + text + ": " + detail, field});
}

void Errors::invalidText(const std::string& field, const std::string& text,
                         const std::string& detail) {
  causes_.push_back({"FieldValueInvalid", "Invalid value: " + text + ": " + detail, field});
}

std::string goStringSlice(const json* list) {
  if (!list || !list->is_array()) return "[]string(nil)";
  std::vector<std::string> parts;
  for (const json& v : *list) parts.push_back(v.is_string() ? json(v.get<std::string>()).dump() : v.dump());
  return "[]string{" + join(parts, ", ") + "}";
}

std::string goLabelSelector(const json& selector) {
  std::string labels = "map[string]string(nil)";
  if (const json* ml = find(selector, {"matchLabels"}); ml && ml->is_object()) {
    std::vector<std::string> parts;
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      parts.push_back(json(it.key()).dump() + ":" + json(v).dump());
    }
    labels = "map[string]string{" + join(parts, ", ") + "}";
  }
  std::string exprs = "[]v1.LabelSelectorRequirement(nil)";
  if (const json* me = find(selector, {"matchExpressions"}); me && me->is_array()) {
    std::vector<std::string> parts;
    for (const json& e : *me) {
      parts.push_back("v1.LabelSelectorRequirement{Key:" + json(str(e, {"key"})).dump() +
                      ", Operator:" + json(str(e, {"operator"})).dump() +
                      ", Values:" + goStringSlice(find(e, {"values"})) + "}");
    }
    exprs = "[]v1.LabelSelectorRequirement{" + join(parts, ", ") + "}";
  }
  return "v1.LabelSelector{MatchLabels:" + labels + ", MatchExpressions:" + exprs + "}";
}

void Errors::notSupported(const std::string& field, const json& value,
                          const std::vector<std::string>& supported) {
  std::vector<std::string> quoted;
  for (const auto& s : supported) quoted.push_back(json(s).dump());
  causes_.push_back({"FieldValueNotSupported",
                     "Unsupported value: " + formatValue(value) +
                         ": supported values: " + join(quoted, ", "),
                     field});
}

void Errors::duplicate(const std::string& field, const json& value) {
  causes_.push_back({"FieldValueDuplicate", "Duplicate value: " + formatValue(value), field});
}

void Errors::forbidden(const std::string& field, const std::string& detail) {
  causes_.push_back({"FieldValueForbidden", "Forbidden: " + detail, field});
}

void Errors::notFound(const std::string& field, const json& value) {
  causes_.push_back({"FieldValueNotFound", "Not found: " + formatValue(value), field});
}

void Errors::tooLong(const std::string& field, const std::string& detail) {
  causes_.push_back({"FieldValueTooLong", "Too long: " + detail, field});
}

void Errors::nonNegative(const std::string& field, const json* v) {
  if (v && v->is_number() && v->get<double>() < 0) {
    invalid(field, *v, "must be greater than or equal to 0");
  }
}

void Errors::positive(const std::string& field, const json* v) {
  if (v && v->is_number() && v->get<double>() <= 0) {
    invalid(field, *v, "must be greater than 0");
  }
}

std::string at(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string at(const std::string& path, std::string_view key, size_t i) {
  return at(path, key) + "[" + std::to_string(i) + "]";
}

std::string keyed(const std::string& path, std::string_view key) {
  return path + "[" + std::string(key) + "]";
}

void validateLabelSelector(const json& selector, const std::string& path, Errors& errs) {
  const json* exprs = find(selector, {"matchExpressions"});
  if (!exprs || !exprs->is_array()) return;
  for (size_t i = 0; i < exprs->size(); ++i) {
    const json& e = (*exprs)[i];
    std::string p = at(path, "matchExpressions", i);
    std::string op = str(e, {"operator"});
    size_t nvalues = count(e, {"values"});
    if (str(e, {"key"}).empty()) errs.required(at(p, "key"));
    if (op == "In" || op == "NotIn") {
      if (nvalues == 0) {
        errs.required(at(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'");
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (nvalues > 0) {
        errs.forbidden(at(p, "values"),
                       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      }
    } else {
      errs.invalid(at(p, "operator"), op, "not a valid selector operator");
    }
  }
}

bool selectorMatches(const json& selector, const json& labels) {
  auto label = [&](const std::string& k, std::string* v) {
    const json* l = find(labels, {k});
    if (!l || !l->is_string()) return false;
    *v = l->get<std::string>();
    return true;
  };
  if (const json* ml = find(selector, {"matchLabels"}); ml && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      std::string v;
      if (!label(it.key(), &v) || !it.value().is_string() || v != it.value().get<std::string>()) {
        return false;
      }
    }
  }
  if (const json* me = find(selector, {"matchExpressions"}); me && me->is_array()) {
    for (const json& e : *me) {
      std::string key = str(e, {"key"});
      std::string op = str(e, {"operator"});
      std::set<std::string> values;
      if (const json* vs = find(e, {"values"}); vs && vs->is_array()) {
        for (const json& v : *vs) {
          if (v.is_string()) values.insert(v.get<std::string>());
        }
      }
      std::string v;
      bool has = label(key, &v);
      if (op == "In" && !(has && values.count(v))) return false;
      if (op == "NotIn" && has && values.count(v)) return false;
      if (op == "Exists" && !has) return false;
      if (op == "DoesNotExist" && has) return false;
    }
  }
  return true;
}

void validateWorkloadSelector(const json& obj, Errors& errs, const std::string& kindLower) {
  const json* sel = find(obj, {"spec", "selector"});
  if (!sel || sel->is_null()) {
    errs.required("spec.selector");
    return;
  }
  if (!sel->is_object()) {
    errs.invalid("spec.selector", *sel, "must be a label selector");
    return;
  }
  validateLabelSelector(*sel, "spec.selector", errs);
  if (count(*sel, {"matchLabels"}) == 0 && count(*sel, {"matchExpressions"}) == 0) {
    errs.invalidText("spec.selector", goLabelSelector(*sel), "empty selector is invalid for " + kindLower);
    return;
  }
  const json* labels = find(obj, {"spec", "template", "metadata", "labels"});
  json empty = json::object();
  if (!selectorMatches(*sel, labels ? *labels : empty)) {
    errs.invalid("spec.template.metadata.labels", labels ? *labels : empty,
                 "`selector` does not match template `labels`");
  }
}

namespace {
bool parsePercent(const std::string& s, int64_t* out) {
  if (s.size() < 2 || s.back() != '%') return false;
  int64_t v = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
    if (v > 1000000000) return false;
  }
  *out = v;
  return true;
}
}  // namespace

void validateIntOrPercent(const json* v, const std::string& path, Errors& errs) {
  if (!v || v->is_null()) return;
  if (v->is_number_integer()) {
    errs.nonNegative(path, v);
    return;
  }
  int64_t pct = 0;
  if (v->is_string() && parsePercent(v->get<std::string>(), &pct)) {
    if (pct > 100) errs.invalidIntOrString(path, *v, "must not be greater than 100%");
    return;
  }
  errs.invalidIntOrString(path, *v,
               "a valid percent string must be a numeric string followed by an ending '%' (e.g. "
               "'1%',  or '93%', regex used for validation is '[0-9]+%')");
}

int64_t intOrPercentValue(const json* v, int64_t total, bool roundUp) {
  if (!v || v->is_null()) return 0;
  if (v->is_number_integer()) return v->get<int64_t>();
  int64_t pct = 0;
  if (v->is_string() && parsePercent(v->get<std::string>(), &pct)) {
    double x = static_cast<double>(pct) * static_cast<double>(total) / 100.0;
    return static_cast<int64_t>(roundUp ? std::ceil(x) : std::floor(x));
  }
  return -1;
}

// ---- tables ----------------------------------------------------------------------------------

ColumnDefinition nameColumn() {
  return {"Name", "string", "name",
          "Name must be unique within a namespace. Is required when creating resources, although "
          "some resources may allow a client to request the generation of an appropriate name "
          "automatically. Name is primarily intended for creation idempotence and configuration "
          "definition. Cannot be updated. More info: "
          "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
          0};
}

ColumnDefinition ageColumn() {
  return {"Age", "string", "",
          "CreationTimestamp is a timestamp representing the server time when this object was "
          "created. It is not guaranteed to be set in happens-before order across separate "
          "operations. Clients may not set this value. It is represented in RFC3339 form and is "
          "in UTC.",
          0};
}

ColumnDefinition column(std::string name, std::string type, std::string description,
                        int priority) {
  return {std::move(name), std::move(type), "", std::move(description), priority};
}

json ageCell(const json& obj, TimePoint now) {
  return ageString(str(obj, {"metadata", "creationTimestamp"}), now);
}

std::string since(const json* timestamp, TimePoint now) {
  if (!timestamp || !timestamp->is_string()) return "<unknown>";
  return ageString(timestamp->get<std::string>(), now);
}

std::string formatLabelSelector(const json* selector) {
  if (!selector || !selector->is_object()) return "<none>";
  // Requirements sorted by key, as labels.Selector.String() prints them.
  std::multimap<std::string, std::string> reqs;
  if (const json* ml = find(*selector, {"matchLabels"}); ml && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      reqs.emplace(it.key(), it.key() + "=" + v);
    }
  }
  if (const json* me = find(*selector, {"matchExpressions"}); me && me->is_array()) {
    for (const json& e : *me) {
      std::string key = str(e, {"key"});
      std::string op = str(e, {"operator"});
      std::vector<std::string> values;
      if (const json* vs = find(e, {"values"}); vs && vs->is_array()) {
        for (const json& v : *vs) {
          if (v.is_string()) values.push_back(v.get<std::string>());
        }
      }
      std::sort(values.begin(), values.end());
      if (op == "In") {
        reqs.emplace(key, key + " in (" + join(values, ",") + ")");
      } else if (op == "NotIn") {
        reqs.emplace(key, key + " notin (" + join(values, ",") + ")");
      } else if (op == "Exists") {
        reqs.emplace(key, key);
      } else if (op == "DoesNotExist") {
        reqs.emplace(key, "!" + key);
      } else {
        return "<error>";
      }
    }
  }
  std::vector<std::string> parts;
  for (const auto& [k, r] : reqs) parts.push_back(r);
  std::string s = join(parts, ",");
  return s.empty() ? "<none>" : s;
}

std::string formatLabels(const json* labels) {
  if (!labels || !labels->is_object() || labels->empty()) return "<none>";
  std::vector<std::string> parts;
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    parts.push_back(it.key() + "=" + v);
  }
  return join(parts, ",");
}

namespace {
std::string containerField(const json* podSpec, std::string_view field) {
  if (!podSpec) return "";
  const json* cs = find(*podSpec, {"containers"});
  if (!cs || !cs->is_array()) return "";
  std::vector<std::string> parts;
  for (const json& c : *cs) parts.push_back(str(c, {field}));
  return join(parts, ",");
}
}  // namespace

std::string containerNames(const json* podSpec) { return containerField(podSpec, "name"); }
std::string containerImages(const json* podSpec) { return containerField(podSpec, "image"); }

bool hasCondition(const json& obj, std::string_view type) {
  const json* conds = find(obj, {"status", "conditions"});
  if (!conds || !conds->is_array()) return false;
  for (const json& c : *conds) {
    if (str(c, {"type"}) == type && str(c, {"status"}) == "True") return true;
  }
  return false;
}

KindSpec makeKind(std::string group, std::string version, std::string kind, std::string resource,
                  std::string singular, bool namespaced) {
  KindSpec k;
  k.group = std::move(group);
  k.version = std::move(version);
  k.kind = std::move(kind);
  k.resource = std::move(resource);
  k.singular = std::move(singular);
  k.namespaced = namespaced;
  return k;
}

KindSpec berthKind(std::string kind, std::string resource, std::string singular) {
  KindSpec k = makeKind("berth.dev", "v1alpha1", std::move(kind), std::move(resource),
                        std::move(singular), false);
  k.has_status = true;
  k.uses_generation = true;
  return k;
}

KindSpec coreKind(std::string kind, std::string resource, std::string singular, bool namespaced) {
  KindSpec k =
      makeKind("", "v1", std::move(kind), std::move(resource), std::move(singular), namespaced);
  k.uses_generation = false;
  return k;
}

}  // namespace berth::apiserver::kinds
