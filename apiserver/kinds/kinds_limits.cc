// core/v1 LimitRange: per-namespace bounds and defaults for the resources of containers, pods
// and claims. Its defaults and validation are upstream's; the LimitRanger admission that
// applies it to new pods is in apiserver/core/pod_admission.cc.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/quantity.h"

namespace berth::apiserver::kinds {

namespace {

// The text of a quantity as written (a number stays a number's text).
std::string quantityText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

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
  KindSpec k;
  k.version = "v1";
  k.kind = "LimitRange";
  k.resource = "limitranges";
  k.singular = "limitrange";
  k.short_names = {"limits"};
  k.uses_generation = false;
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

}  // namespace

void registerLimitKinds(KindRegistry& reg) { reg.add(limitRangeKind()); }

}  // namespace berth::apiserver::kinds
