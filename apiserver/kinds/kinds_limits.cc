// core/v1 LimitRange (per-namespace bounds and defaults for the resources of containers, pods
// and claims) and ResourceQuota (per-namespace totals). Their defaults, validation and Table
// rows are upstream's; the admission that applies them is in apiserver/core (pod_admission.cc,
// rest_write.cc), the accounting in quota.h, the quota's status in the quota controller.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/quantity.h"
#include "apiserver/kinds/quota.h"

namespace berth::apiserver::kinds {

namespace {

// SetDefaults_LimitRangeItem: a Container item's default limit falls back to its max, its
// default request to the default limit, then to the min.
void defaultLimitRangeItem(json& item) {
  if (!item.is_object() || str(item, {"type"}) != "Container") return;
  auto fill = [&](const char* to, const char* from) {
    const json* src = find(item, {from});
    if (!src || !src->is_object() || src->empty()) return;
    json& dst = item[to];
    if (!dst.is_object()) dst = json::object();
    for (auto it = src->begin(); it != src->end(); ++it)
      if (!dst.contains(it.key())) dst[it.key()] = it.value();
  };
  fill("default", "max");
  fill("defaultRequest", "default");
  fill("defaultRequest", "min");
}

void validateLimitRangeItem(const json& item, const std::string& path, Errors& errs) {
  std::string type = str(item, {"type"});
  if (type.empty()) errs.required(at(path, "type"));
  // Each quantity of the item by resource, where it parses.
  std::map<std::string, std::map<std::string, long double>> values;  // field -> resource -> v
  std::map<std::string, std::map<std::string, std::string>> texts;
  std::set<std::string> resources;
  for (const char* field : {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"}) {
    const json* m = find(item, {field});
    if (!m || !m->is_object() || m->empty()) continue;
    if (type == "Pod" &&
        (std::string_view(field) == "default" || std::string_view(field) == "defaultRequest")) {
      errs.forbidden(at(path, field), "may not be specified when `type` is 'Pod'");
      continue;
    }
    for (auto it = m->begin(); it != m->end(); ++it) {
      std::string text = quantityText(it.value());
      auto q = parseQuantity(text);
      if (!q) {
        errs.invalid(keyed(at(path, field), it.key()), it.value(),
                     std::string(kQuantityFormatError));
        continue;
      }
      values[field][it.key()] = *q;
      texts[field][it.key()] = text;
      resources.insert(it.key());
    }
  }
  if (type == "PersistentVolumeClaim" && !values["min"].count("storage") &&
      !values["max"].count("storage")) {
    errs.required(at(path, "limits"),
                  "either minimum or maximum storage value is required, but neither was provided");
  }
  for (const std::string& r : resources) {
    auto get = [&](const char* field) -> const long double* {
      auto f = values.find(field);
      if (f == values.end()) return nullptr;
      auto it = f->second.find(r);
      return it == f->second.end() ? nullptr : &it->second;
    };
    auto text = [&](const char* field) { return texts[field][r]; };
    const long double *mn = get("min"), *mx = get("max"), *def = get("default"),
                      *req = get("defaultRequest"), *ratio = get("maxLimitRequestRatio");
    if (mn && mx && *mn > *mx) {
      errs.invalid(keyed(at(path, "min"), r), text("min"),
                   "min value " + text("min") + " is greater than max value " + text("max"));
    }
    if (req && mn && *mn > *req) {
      errs.invalid(keyed(at(path, "defaultRequest"), r), text("defaultRequest"),
                   "min value " + text("min") + " is greater than default request value " +
                       text("defaultRequest"));
    }
    if (req && mx && *req > *mx) {
      errs.invalid(keyed(at(path, "defaultRequest"), r), text("defaultRequest"),
                   "default request value " + text("defaultRequest") +
                       " is greater than max value " + text("max"));
    }
    if (req && def && *req > *def) {
      errs.invalid(keyed(at(path, "defaultRequest"), r), text("defaultRequest"),
                   "default request value " + text("defaultRequest") +
                       " is greater than default limit value " + text("default"));
    }
    if (def && mn && *mn > *def) {
      errs.invalid(
          keyed(at(path, "default"), r), text("min"),
          "min value " + text("min") + " is greater than default value " + text("default"));
    }
    if (def && mx && *def > *mx) {
      errs.invalid(
          keyed(at(path, "default"), r), text("max"),
          "default value " + text("default") + " is greater than max value " + text("max"));
    }
    if (ratio && *ratio < 1) {
      errs.invalid(keyed(at(path, "maxLimitRequestRatio"), r), text("maxLimitRequestRatio"),
                   "ratio " + text("maxLimitRequestRatio") + " is less than 1");
    }
  }
}

KindSpec limitRangeKind() {
  KindSpec k = coreKind("LimitRange", "limitranges", "limitrange", true);
  k.short_names = {"limits"};
  k.defaults = [](json& obj) {
    auto spec = obj.find("spec");
    if (spec == obj.end() || !spec->is_object()) return;
    auto items = spec->find("limits");
    if (items == spec->end() || !items->is_array()) return;
    for (json& item : *items) defaultLimitRangeItem(item);
  };
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    const json* items = find(obj, {"spec", "limits"});
    if (!items || !items->is_array()) {
      errs.required("spec.limits");
      return errs.take();
    }
    std::set<std::string> types;
    for (size_t i = 0; i < items->size(); ++i) {
      const json& item = (*items)[i];
      std::string path = at("spec", "limits", i);
      std::string type = str(item, {"type"});
      if (!type.empty() && !types.insert(type).second) errs.duplicate(at(path, "type"), type);
      validateLimitRangeItem(item, path, errs);
    }
    return errs.take();
  };
  k.columns = {nameColumn(), column("Created At", "date", "The time the limit range was created.")};
  k.cells = [](const json& obj, TimePoint) {
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             str(obj, {"metadata", "creationTimestamp"})};
  };
  return k;
}

// ---- ResourceQuota ---------------------------------------------------------------------------

void validateQuotaList(const json* list, const std::string& path, Errors& errs) {
  if (!list || !list->is_object()) return;
  for (auto it = list->begin(); it != list->end(); ++it) {
    std::string p = keyed(path, it.key());
    if (it.key().find('/') == std::string::npos && !isStandardQuotaResource(it.key()))
      errs.invalid(p, it.key(), "must be a standard resource for quota");
    std::string text = quantityText(it.value());
    auto q = parseQuantity(text);
    if (!q) {
      errs.invalid(p, it.value(), std::string(kQuantityFormatError));
    } else if (*q < 0) {
      errs.invalid(p, text, "must be greater than or equal to 0");
    } else if (isIntegerQuotaResource(it.key()) &&
               *q != static_cast<long double>(static_cast<long long>(*q))) {
      errs.invalid(p, text, "must be an integer");
    }
  }
}

const std::set<std::string>& quotaScopes() {
  static const std::set<std::string> scopes = {"Terminating",   "NotTerminating",
                                               "BestEffort",    "NotBestEffort",
                                               "PriorityClass", "CrossNamespacePodAffinity"};
  return scopes;
}

// "cpu: 0/1, pods: 1/10" of status.used/status.hard, limits.* in their own column.
std::pair<std::string, std::string> quotaColumns(const json& obj) {
  const json* hard = find(obj, {"status", "hard"});
  const json* used = find(obj, {"status", "used"});
  std::string request, limit;
  if (!hard || !hard->is_object()) return {request, limit};
  for (auto it = hard->begin(); it != hard->end(); ++it) {  // sorted by name
    std::string u = "0";
    if (used && used->is_object() && used->contains(it.key())) u = quantityText((*used)[it.key()]);
    std::string& col = it.key().rfind("limits.", 0) == 0 ? limit : request;
    col += (col.empty() ? "" : ", ") + it.key() + ": " + u + "/" + quantityText(it.value());
  }
  return {request, limit};
}

KindSpec resourceQuotaKind() {
  KindSpec k = coreKind("ResourceQuota", "resourcequotas", "resourcequota", true);
  k.short_names = {"quota"};
  k.has_status = true;
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    validateQuotaList(find(obj, {"spec", "hard"}), "spec.hard", errs);
    validateQuotaList(find(obj, {"status", "hard"}), "status.hard", errs);
    validateQuotaList(find(obj, {"status", "used"}), "status.used", errs);
    std::set<std::string> seen;
    if (const json* scopes = find(obj, {"spec", "scopes"}); scopes && scopes->is_array()) {
      for (const json& s : *scopes) {
        std::string scope = s.is_string() ? s.get<std::string>() : s.dump();
        if (!quotaScopes().count(scope)) errs.invalid("spec.scopes", scope, "unsupported scope");
        seen.insert(scope);
      }
      if ((seen.count("Terminating") && seen.count("NotTerminating")) ||
          (seen.count("BestEffort") && seen.count("NotBestEffort")))
        errs.invalid("spec.scopes", *scopes, "conflicting scopes");
    }
    const json* exprs = find(obj, {"spec", "scopeSelector", "matchExpressions"});
    if (exprs && exprs->is_array()) {
      for (size_t i = 0; i < exprs->size(); ++i) {
        const json& e = (*exprs)[i];
        std::string path = at("spec.scopeSelector", "matchExpressions", i);
        std::string scope = str(e, {"scopeName"});
        if (!quotaScopes().count(scope))
          errs.invalid(at(path, "scopeName"), scope, "unsupported scope");
        std::string op = str(e, {"operator"});
        size_t values = count(e, {"values"});
        if (op == "In" || op == "NotIn") {
          if (values == 0)
            errs.required(at(path, "values"),
                          "must be at least one value when `operator` is 'In' or 'NotIn' for "
                          "scope selector");
        } else if (op == "Exists" || op == "DoesNotExist") {
          if (values > 0)
            errs.invalid(at(path, "values"), e["values"],
                         "must be no value when `operator` is 'Exist' or 'DoesNotExist' for "
                         "scope selector");
        } else {
          errs.notSupported(at(path, "operator"), op, {"DoesNotExist", "Exists", "In", "NotIn"});
        }
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(), ageColumn(),
               column("Request", "string",
                      "Request represents a minimum amount of cpu/memory that a container may "
                      "consume."),
               column("Limit", "string",
                      "Limits control the maximum amount of cpu/memory that a container may use "
                      "independent of contention on the node.")};
  k.cells = [](const json& obj, TimePoint now) {
    auto [request, limit] = quotaColumns(obj);
    return std::vector<json>{str(obj, {"metadata", "name"}), ageCell(obj, now), request, limit};
  };
  return k;
}

}  // namespace

void registerLimitKinds(KindRegistry& reg) {
  reg.add(limitRangeKind());
  reg.add(resourceQuotaKind());
}

}  // namespace berth::apiserver::kinds
