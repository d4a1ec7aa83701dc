// OpenAPI v3 documents from the schema registry. See openapi.h.
#include "apiserver/schema/openapi.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "apiserver/schema/schema.h"

namespace berth::apiserver::schema {

namespace {

using nlohmann::json;

constexpr const char* kRefPrefix = "#/components/schemas/";

std::string groupVersionOf(const ResourceInfo& r) {
  return r.group.empty() ? r.version : r.group + "/" + r.version;
}

std::string pathPrefix(const std::string& gv) {
  return gv.find('/') == std::string::npos ? "api/" + gv : "apis/" + gv;
}

std::string upperFirst(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// "apps" -> "Apps", "coordination.k8s.io" -> "CoordinationK8sIo": part of operation ids.
std::string camelGroup(const std::string& group) {
  if (group.empty()) return "Core";
  std::string out;
  bool up = true;
  for (char c : group) {
    if (c == '.' || c == '-') {
      up = true;
      continue;
    }
    out.push_back(up && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    up = false;
  }
  return out;
}

json schemaRef(const std::string& name) { return {{"$ref", std::string(kRefPrefix) + name}}; }

bool isNamed(const Type& t) {
  switch (t.kind) {
    case TypeKind::kObject:
    case TypeKind::kTime:
    case TypeKind::kMicroTime:
    case TypeKind::kQuantity:
    case TypeKind::kIntOrString:
    case TypeKind::kAny:
      return !t.name.empty();
    default:
      return false;
  }
}

// The inline schema of a value of type `t` (named types become $ref).
json valueSchema(const Type& t) {
  if (isNamed(t)) return schemaRef(t.name);
  json s;
  switch (t.kind) {
    case TypeKind::kString:
      s = {{"type", "string"}};
      if (!t.enum_values.empty()) s["enum"] = t.enum_values;
      break;
    case TypeKind::kBytes: s = {{"type", "string"}, {"format", "byte"}}; break;
    case TypeKind::kBool: s = {{"type", "boolean"}}; break;
    case TypeKind::kInt32: s = {{"type", "integer"}, {"format", "int32"}}; break;
    case TypeKind::kInt64: s = {{"type", "integer"}, {"format", "int64"}}; break;
    case TypeKind::kDouble: s = {{"type", "number"}, {"format", "double"}}; break;
    case TypeKind::kDuration: s = {{"type", "string"}}; break;
    case TypeKind::kArray: s = {{"type", "array"}, {"items", valueSchema(*t.elem)}}; break;
    case TypeKind::kMap:
      s = {{"type", "object"}, {"additionalProperties", valueSchema(*t.elem)}};
      break;
    default: s = json::object(); break;
  }
  return s;
}

json fieldSchema(const Field& f) {
  const Type& t = *f.type;
  json s;
  if (isNamed(t)) {
    if (f.description.empty()) {
      s = schemaRef(t.name);
    } else {
      // A $ref cannot carry siblings in OpenAPI 3.0; upstream wraps it in allOf.
      s = {{"allOf", json::array({schemaRef(t.name)})}};
      if (t.kind == TypeKind::kObject) s["default"] = json::object();
    }
  } else {
    s = valueSchema(t);
  }
  if (!f.description.empty()) s["description"] = f.description;
  std::string strategy;
  if (f.patch_merge) strategy = "merge";
  if (f.patch_retain_keys) strategy += strategy.empty() ? "retainKeys" : ",retainKeys";
  if (!strategy.empty()) s["x-kubernetes-patch-strategy"] = strategy;
  if (!f.patch_merge_key.empty()) s["x-kubernetes-patch-merge-key"] = f.patch_merge_key;
  if (!f.list_type.empty()) s["x-kubernetes-list-type"] = f.list_type;
  if (!f.list_map_keys.empty()) s["x-kubernetes-list-map-keys"] = f.list_map_keys;
  if (!f.map_type.empty()) s["x-kubernetes-map-type"] = f.map_type;
  return s;
}

json gvkJson(const GroupVersionKind& g) {
  return {{"group", g.group}, {"version", g.version}, {"kind", g.kind}};
}

json componentSchema(const Type& t, const Registry& reg) {
  json s;
  switch (t.kind) {
    case TypeKind::kTime:
    case TypeKind::kMicroTime:
      s = {{"type", "string"}, {"format", "date-time"}};
      break;
    case TypeKind::kQuantity:
      s = {{"x-kubernetes-int-or-string", true}, {"format", "quantity"}};
      break;
    case TypeKind::kIntOrString:
      s = {{"x-kubernetes-int-or-string", true}, {"format", "int-or-string"}};
      break;
    case TypeKind::kAny:
      s = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
      break;
    default: {
      s = {{"type", "object"}};
      json props = json::object();
      json required = json::array();
      for (const auto& f : t.fields) {
        props[f.name] = fieldSchema(f);
        if (f.required) required.push_back(f.name);
      }
      s["properties"] = std::move(props);
      if (!required.empty()) s["required"] = std::move(required);
      if (t.preserve_unknown_fields) s["x-kubernetes-preserve-unknown-fields"] = true;
      if (const GroupVersionKind* g = reg.kindOf(t.name)) {
        s["x-kubernetes-group-version-kind"] = json::array({gvkJson(*g)});
      }
      break;
    }
  }
  if (!t.description.empty()) s["description"] = t.description;
  return s;
}

void collect(const Type& t, std::set<std::string>& seen, std::vector<const Type*>& out) {
  if (t.kind == TypeKind::kArray || t.kind == TypeKind::kMap) {
    collect(*t.elem, seen, out);
    return;
  }
  if (!isNamed(t) || !seen.insert(t.name).second) return;
  out.push_back(&t);
  for (const auto& f : t.fields) collect(*f.type, seen, out);
}

json queryParam(const std::string& name, const std::string& description, const char* type) {
  return {{"name", name}, {"in", "query"}, {"description", description},
          {"schema", {{"type", type}, {"uniqueItems", true}}}};
}

json writeParams(bool with_force) {
  json p = json::array({
      queryParam("dryRun", "When present, the request is checked but not persisted (All).",
                 "string"),
      queryParam("fieldManager", "Name of the actor making the change, for field ownership.",
                 "string"),
      queryParam("fieldValidation",
                 "What to do with unknown or duplicate fields: Ignore, Warn or Strict.", "string"),
  });
  if (with_force) {
    p.push_back(queryParam("force", "Take over conflicting fields (apply patches only).",
                           "boolean"));
  }
  return p;
}

json pathParam(const std::string& name, const std::string& description) {
  return {{"name", name}, {"in", "path"}, {"required", true}, {"description", description},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

json jsonContent(const json& schema) {
  return {{"application/json", {{"schema", schema}}},
          {"application/yaml", {{"schema", schema}}},
          {"application/vnd.kubernetes.protobuf", {{"schema", schema}}}};
}

json response(const std::string& code_desc, const json& schema) {
  return {{"description", code_desc}, {"content", jsonContent(schema)}};
}

json operation(const std::string& id, const std::string& description, const std::string& action,
               const GroupVersionKind& gvk, const std::string& tag) {
  return {{"operationId", id},
          {"description", description},
          {"tags", json::array({tag})},
          {"x-kubernetes-action", action},
          {"x-kubernetes-group-version-kind", gvkJson(gvk)},
          {"responses", {{"401", {{"description", "Unauthorized"}}}}}};
}

json patchBody() {
  json schema = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true},
                 {"description", "A patch in one of the listed formats."}};
  json content = json::object();
  for (const char* t : {"application/json-patch+json", "application/merge-patch+json",
                        "application/strategic-merge-patch+json", "application/apply-patch+yaml",
                        "application/apply-patch+cbor"}) {
    content[t] = {{"schema", schema}};
  }
  return {{"required", true}, {"content", content}};
}

// Adds the item-level operations (get/put/patch[/delete]) of `path` for an object of `type`.
void itemOps(json& ops, const std::string& id_suffix, const std::string& what,
             const std::string& type_name, const GroupVersionKind& gvk, const std::string& tag,
             bool with_delete) {
  json r = schemaRef(type_name);
  json get = operation("read" + id_suffix, "read the specified " + what, "get", gvk, tag);
  get["responses"]["200"] = response("OK", r);
  json put = operation("replace" + id_suffix, "replace the specified " + what, "put", gvk, tag);
  put["parameters"] = writeParams(false);
  put["requestBody"] = {{"required", true}, {"content", jsonContent(r)}};
  put["responses"]["200"] = response("OK", r);
  put["responses"]["201"] = response("Created", r);
  json patch = operation("patch" + id_suffix, "partially update the specified " + what, "patch",
                         gvk, tag);
  patch["parameters"] = writeParams(true);
  patch["requestBody"] = patchBody();
  patch["responses"]["200"] = response("OK", r);
  patch["responses"]["201"] = response("Created", r);
  ops["get"] = get;
  ops["put"] = put;
  ops["patch"] = patch;
  if (with_delete) {
    json del = operation("delete" + id_suffix, "delete a " + what, "delete", gvk, tag);
    del["parameters"] = json::array({
        queryParam("dryRun", "When present, the request is checked but not persisted (All).",
                   "string"),
        queryParam("gracePeriodSeconds", "Seconds before the object is deleted.", "integer"),
        queryParam("propagationPolicy", "Orphan, Background or Foreground.", "string"),
    });
    del["requestBody"] = {{"content", jsonContent(schemaRef(
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"))}};
    del["responses"]["200"] = response("OK", r);
    del["responses"]["202"] = response("Accepted", r);
    ops["delete"] = del;
  }
}

}  // namespace

std::string openApiHash(const nlohmann::json& doc) {
  // Two independent 64-bit FNV-1a hashes: cheap, stable, and plenty for cache busting.
  std::string text = doc.dump();
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  for (unsigned char c : text) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ static_cast<unsigned char>(c + 0x5a)) * 0x100000001b3ULL;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llX%016llX", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

nlohmann::json openApiDocument(const std::string& group_version,
                               const std::vector<ResourceInfo>& resources) {
  return openApiDocument(group_version, resources, Registry::get());
}

nlohmann::json openApiDocument(const std::string& group_version,
                               const std::vector<ResourceInfo>& resources,
                               const Registry& registry) {
  json paths = json::object();
  std::set<std::string> seen;
  std::vector<const Type*> types;
  const std::string root = "/" + pathPrefix(group_version) + "/";
  bool any_scale = false;
  std::set<std::string> free_form;
  for (const auto& r : resources) {
    if (groupVersionOf(r) != group_version) continue;
    GroupVersionKind gvk{r.group, r.version, r.kind};
    TypePtr type = registry.forKind(gvk);
    TypePtr list = registry.forKind({r.group, r.version, r.kind + "List"});
    // A kind the schema files do not describe gets a free-form schema that claims no GVK, so
    // kubectl neither rejects its fields nor derives (wrong) patch metadata from it.
    std::string unknown_prefix = "dev.berth.unknown." + group_version + ".";
    std::string type_name = type ? type->name : unknown_prefix + r.kind;
    std::string list_name = list ? list->name : unknown_prefix + r.kind + "List";
    if (type) collect(*type, seen, types);
    if (list) collect(*list, seen, types);
    if (!type) free_form.insert(type_name);
    if (!list) free_form.insert(list_name);
    std::string tag = camelGroup(r.group) + upperFirst(r.version);
    std::string scope = r.namespaced ? "Namespaced" : "";
    std::string id = tag + scope + r.kind;
    std::string base = r.namespaced ? root + "namespaces/{namespace}/" + r.resource
                                    : root + r.resource;
    json ns_param = pathParam("namespace", "object name and auth scope, such as for teams");
    json name_param = pathParam("name", "name of the " + r.kind);

    // Collection.
    json coll = json::object();
    json list_op = operation("list" + id, "list or watch objects of kind " + r.kind, "list", gvk,
                             tag);
    list_op["parameters"] = json::array({
        queryParam("labelSelector", "Restrict the list by labels.", "string"),
        queryParam("fieldSelector", "Restrict the list by fields.", "string"),
        queryParam("limit", "Most items to return.", "integer"),
        queryParam("continue", "Continue token from a previous list.", "string"),
        queryParam("resourceVersion", "Version to list at.", "string"),
        queryParam("watch", "Watch for changes instead of listing.", "boolean"),
    });
    list_op["responses"]["200"] = response("OK", schemaRef(list_name));
    coll["get"] = list_op;
    json post = operation("create" + id, "create a " + r.kind, "post", gvk, tag);
    post["parameters"] = writeParams(false);
    post["requestBody"] = {{"required", true}, {"content", jsonContent(schemaRef(type_name))}};
    post["responses"]["200"] = response("OK", schemaRef(type_name));
    post["responses"]["201"] = response("Created", schemaRef(type_name));
    post["responses"]["202"] = response("Accepted", schemaRef(type_name));
    coll["post"] = post;
    json delcoll = operation("deletecollection" + id, "delete a collection of " + r.kind,
                             "deletecollection", gvk, tag);
    delcoll["responses"]["200"] =
        response("OK", schemaRef("io.k8s.apimachinery.pkg.apis.meta.v1.Status"));
    coll["delete"] = delcoll;
    if (r.namespaced) coll["parameters"] = json::array({ns_param});
    paths[base] = coll;

    // Item.
    json item = json::object();
    itemOps(item, id, r.kind, type_name, gvk, tag, true);
    item["parameters"] = r.namespaced ? json::array({name_param, ns_param})
                                      : json::array({name_param});
    paths[base + "/{name}"] = item;

    if (r.has_status) {
      json st = json::object();
      itemOps(st, id + "Status", r.kind + " status", type_name, gvk, tag, false);
      st["parameters"] = item["parameters"];
      paths[base + "/{name}/status"] = st;
    }
    if (r.has_scale) {
      any_scale = true;
      json sc = json::object();
      itemOps(sc, id + "Scale", r.kind + " scale", "io.k8s.api.autoscaling.v1.Scale",
              {"autoscaling", "v1", "Scale"}, tag, false);
      sc["parameters"] = item["parameters"];
      paths[base + "/{name}/scale"] = sc;
    }
    if (r.namespaced) {
      json all = json::object();
      json op = list_op;
      op["operationId"] = "list" + tag + r.kind + "ForAllNamespaces";
      all["get"] = op;
      paths[root + r.resource] = all;
    }
  }
  for (const char* meta : {"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                           "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}) {
    if (TypePtr t = registry.find(meta)) collect(*t, seen, types);
  }
  if (any_scale) {
    if (TypePtr t = registry.find("io.k8s.api.autoscaling.v1.Scale")) collect(*t, seen, types);
  }
  json schemas = json::object();
  for (const Type* t : types) schemas[t->name] = componentSchema(*t, registry);
  for (const auto& name : free_form) {
    schemas[name] = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Berth"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

nlohmann::json openApiIndex(const std::vector<ResourceInfo>& resources) {
  return openApiIndex(resources, Registry::get());
}

nlohmann::json openApiIndex(const std::vector<ResourceInfo>& resources, const Registry& registry) {
  std::set<std::string> gvs;
  for (const auto& r : resources) gvs.insert(groupVersionOf(r));
  json paths = json::object();
  for (const auto& gv : gvs) {
    std::string hash = openApiHash(openApiDocument(gv, resources, registry));
    paths[pathPrefix(gv)] = {{"serverRelativeURL", "/openapi/v3/" + pathPrefix(gv) + "?hash=" + hash}};
  }
  return {{"paths", paths}};
}

}  // namespace berth::apiserver::schema
