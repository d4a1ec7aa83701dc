// Loader for the schema YAML format documented at the top of types_meta.yaml.
//
// Two passes: first every document's type names are collected (so types may refer to types
// declared later or in other files), then each type's fields are parsed and resolved. Inline
// (embedded) fields are flattened after resolution. Any inconsistency is a bug in the data and
// is reported with the file, type and field it concerns.
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "apiserver/schema/schema.h"
#include "apiserver/schema/schema_data.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver::schema {

namespace {

constexpr std::string_view kMetaPackage = "io.k8s.apimachinery.pkg.apis.meta.v1";

std::string gvkKey(std::string_view group, std::string_view version, std::string_view kind) {
  std::string k;
  k.append(group).append("/").append(version).append("/").append(kind);
  return k;
}

struct Primitive {
  const char* token;
  const char* name;
  TypeKind kind;
  const char* description;
};

const Primitive kPrimitives[] = {
    {"string", "string", TypeKind::kString, ""},
    {"bytes", "bytes", TypeKind::kBytes, ""},
    {"bool", "bool", TypeKind::kBool, ""},
    {"int32", "int32", TypeKind::kInt32, ""},
    {"int64", "int64", TypeKind::kInt64, ""},
    {"double", "double", TypeKind::kDouble, ""},
    {"time", "io.k8s.apimachinery.pkg.apis.meta.v1.Time", TypeKind::kTime,
     "A point in time, RFC 3339 in JSON, to the second."},
    {"microtime", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", TypeKind::kMicroTime,
     "A point in time, RFC 3339 in JSON, to the microsecond."},
    {"duration", "io.k8s.apimachinery.pkg.apis.meta.v1.Duration", TypeKind::kDuration,
     "A length of time written like 1m30s."},
    {"quantity", "io.k8s.apimachinery.pkg.api.resource.Quantity", TypeKind::kQuantity,
     "An amount with an optional unit suffix, e.g. 100m, 1.5, 128Mi, 2G."},
    {"intstr", "io.k8s.apimachinery.pkg.util.intstr.IntOrString", TypeKind::kIntOrString,
     "Either an integer or a string: a port number or name, or a count or percentage (\"25%\")."},
    {"any", "io.k8s.apimachinery.pkg.runtime.RawExtension", TypeKind::kAny,
     "Any JSON value."},
};

struct PendingType {
  std::string file;
  std::string package;
  std::string name;  // full
  YAML::Node node;
  std::shared_ptr<Type> type;
  bool has_gvk = false;
  GroupVersionKind gvk;
};

}  // namespace

// Builds a Registry; friend of Registry.
class Loader {
 public:
  Status addDocument(const std::string& file, const YAML::Node& doc);
  Status finish(Registry* reg);

 private:
  Result<TypePtr> resolveType(const PendingType& owner, const std::string& field,
                              std::string_view spec, bool* pointer);
  Status fillFields(PendingType& p);
  Status flattenInline(const std::string& name, std::set<std::string>& active);
  Status err(const PendingType& p, const std::string& field, const std::string& msg) const {
    std::string where = p.file + ": " + p.name;
    if (!field.empty()) where += "." + field;
    return internalError("schema: " + where + ": " + msg);
  }

  std::vector<PendingType> pending_;
  std::map<std::string, size_t> index_;  // full name -> pending_ index
  std::map<std::string, TypePtr> primitives_;
  std::map<std::string, TypePtr> by_token_;
  std::set<std::string> flattened_;
};

Status Loader::addDocument(const std::string& file, const YAML::Node& doc) {
  if (!doc.IsMap()) return internalError("schema: " + file + ": a document must be a mapping");
  std::string package = doc["package"] ? doc["package"].as<std::string>() : "";
  if (package.empty()) return internalError("schema: " + file + ": missing `package`");
  YAML::Node types = doc["types"];
  if (!types || !types.IsMap()) {
    return internalError("schema: " + file + ": missing `types` mapping");
  }
  for (const auto& it : types) {
    PendingType p;
    p.file = file;
    p.package = package;
    p.name = package + "." + it.first.as<std::string>();
    p.node = it.second;
    if (!p.node.IsMap()) return err(p, "", "a type must be a mapping");
    if (index_.count(p.name)) return err(p, "", "declared twice");
    auto t = std::make_shared<Type>();
    t->name = p.name;
    t->kind = TypeKind::kObject;
    p.type = t;
    index_[p.name] = pending_.size();
    pending_.push_back(std::move(p));
  }
  return Status::ok();
}

Result<TypePtr> Loader::resolveType(const PendingType& owner, const std::string& field,
                                    std::string_view spec, bool* pointer) {
  // Suffixes apply outermost-last: "string[]{}" is a map of lists of strings.
  std::vector<char> wrappers;
  *pointer = false;
  if (!spec.empty() && spec.back() == '?') {
    *pointer = true;
    spec.remove_suffix(1);
  }
  while (spec.size() > 2) {
    if (endsWith(spec, "[]")) {
      wrappers.push_back('[');
    } else if (endsWith(spec, "{}")) {
      wrappers.push_back('{');
    } else {
      break;
    }
    spec.remove_suffix(2);
  }
  TypePtr base;
  std::string token(spec);
  if (auto it = by_token_.find(token); it != by_token_.end()) {
    base = it->second;
  } else {
    std::vector<std::string> candidates;
    if (token.find('.') != std::string::npos) {
      candidates.push_back(token);
    } else {
      candidates.push_back(owner.package + "." + token);
      candidates.push_back(std::string(kMetaPackage) + "." + token);
    }
    for (const auto& c : candidates) {
      if (auto it = index_.find(c); it != index_.end()) {
        base = pending_[it->second].type;
        break;
      }
      if (auto it = primitives_.find(c); it != primitives_.end()) {
        base = it->second;
        break;
      }
    }
    if (!base) return err(owner, field, "unknown type '" + token + "'");
  }
  if (*pointer && (!base->isScalar() || !wrappers.empty())) {
    return err(owner, field, "'?' applies only to scalars");
  }
  // Innermost wrapper is the last suffix removed... suffixes were peeled right to left, so the
  // last one peeled is closest to the base type.
  for (auto w = wrappers.rbegin(); w != wrappers.rend(); ++w) {
    auto t = std::make_shared<Type>();
    t->kind = *w == '[' ? TypeKind::kArray : TypeKind::kMap;
    t->name = *w == '[' ? "array" : "map";
    t->elem = base;
    base = t;
  }
  return base;
}

Status Loader::fillFields(PendingType& p) {
  Type& t = *p.type;
  for (const auto& it : p.node) {
    std::string key = it.first.as<std::string>();
    if (key == "desc") {
      if (!it.second.IsNull()) t.description = it.second.as<std::string>();
    } else if (key == "preserve") {
      t.preserve_unknown_fields = it.second.as<bool>();
    } else if (key == "gvk") {
      auto parts = split(it.second.as<std::string>(), ' ');
      if (parts.size() != 2) return err(p, "", "gvk must be '<groupVersion> <Kind>'");
      auto gv = split(parts[0], '/');
      p.has_gvk = true;
      if (gv.size() == 1) {
        p.gvk = {"", gv[0], parts[1]};
      } else if (gv.size() == 2) {
        p.gvk = {gv[0], gv[1], parts[1]};
      } else {
        return err(p, "", "bad groupVersion in gvk");
      }
    } else if (key != "fields") {
      return err(p, "", "unknown key '" + key + "'");
    }
  }
  if (p.has_gvk) {
    Field api;
    api.name = "apiVersion";
    api.type = by_token_["string"];
    api.description = "The versioned schema of this object, e.g. apps/v1.";
    Field kind;
    kind.name = "kind";
    kind.type = by_token_["string"];
    kind.description = "The type of this object, e.g. Deployment.";
    t.fields.push_back(api);
    t.fields.push_back(kind);
  }
  YAML::Node fields = p.node["fields"];
  if (!fields) return Status::ok();
  if (!fields.IsMap()) return err(p, "", "`fields` must be a mapping");
  for (const auto& it : fields) {
    Field f;
    f.name = it.first.as<std::string>();
    if (!it.second.IsScalar()) {
      return err(p, f.name, "a field must be one line '<type> <proto> [tags] [| description]'");
    }
    std::string line = it.second.as<std::string>();
    std::string spec = line;
    if (auto bar = line.find(" |"); bar != std::string::npos) {
      spec = line.substr(0, bar);
      f.description = std::string(trim(std::string_view(line).substr(bar + 2)));
    }
    std::vector<std::string> tokens;
    for (auto& tok : split(spec, ' ')) {
      if (!tok.empty()) tokens.push_back(tok);
    }
    if (tokens.size() < 2) return err(p, f.name, "needs a type and a protobuf number");
    BERTH_ASSIGN_OR_RETURN(f.type, resolveType(p, f.name, tokens[0], &f.pointer));
    char* end = nullptr;
    long proto = std::strtol(tokens[1].c_str(), &end, 10);
    if (*end != '\0' || proto < 0 || proto > 536870911) {
      return err(p, f.name, "bad protobuf number '" + tokens[1] + "'");
    }
    f.proto = static_cast<int>(proto);
    bool is_inline = false;
    for (size_t i = 2; i < tokens.size(); ++i) {
      const std::string& tag = tokens[i];
      auto eq = tag.find('=');
      std::string name = tag.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : tag.substr(eq + 1);
      if (name == "merge") {
        f.patch_merge = true;
        f.patch_merge_key = value;
      } else if (name == "retainKeys") {
        f.patch_retain_keys = true;
      } else if (name == "list") {
        if (value != "atomic" && value != "set" && value != "map") {
          return err(p, f.name, "bad list type '" + value + "'");
        }
        f.list_type = value;
      } else if (name == "key") {
        f.list_map_keys.push_back(value);
      } else if (name == "map") {
        f.map_type = value;
      } else if (name == "required") {
        f.required = true;
      } else if (name == "inline") {
        is_inline = true;
      } else if (name == "enum") {
        if (f.type->kind != TypeKind::kString) return err(p, f.name, "enum on a non-string");
        auto e = std::make_shared<Type>(*f.type);
        e->enum_values = split(value, ',');
        f.type = e;
      } else {
        return err(p, f.name, "unknown tag '" + tag + "'");
      }
    }
    if (f.patch_merge && !f.patch_merge_key.empty() &&
        (f.type->kind != TypeKind::kArray || f.type->elem->kind != TypeKind::kObject)) {
      return err(p, f.name, "a merge key needs a list of objects");
    }
    if (f.list_type == "map" && f.list_map_keys.empty()) {
      return err(p, f.name, "list=map needs key=...");
    }
    if (is_inline) {
      if (f.type->kind != TypeKind::kObject) return err(p, f.name, "inline needs an object type");
      f.proto_inline = -1;  // marker, flattened later
    }
    if (t.field(f.name)) return err(p, f.name, "declared twice");
    t.fields.push_back(std::move(f));
  }
  return Status::ok();
}

Status Loader::flattenInline(const std::string& name, std::set<std::string>& active) {
  if (flattened_.count(name)) return Status::ok();
  PendingType& p = pending_[index_.at(name)];
  if (!active.insert(name).second) return err(p, "", "inline cycle");
  std::vector<Field> out;
  for (auto& f : p.type->fields) {
    if (f.proto_inline != -1) {
      out.push_back(f);
      continue;
    }
    BERTH_RETURN_IF_ERROR(flattenInline(f.type->name, active));
    if (f.type->preserve_unknown_fields) p.type->preserve_unknown_fields = true;
    for (const auto& inner : f.type->fields) {
      if (inner.proto_inline != 0) return err(p, f.name, "nested inline is not supported");
      Field copy = inner;
      copy.proto_inline = f.proto;
      out.push_back(std::move(copy));
    }
  }
  p.type->fields = std::move(out);
  active.erase(name);
  flattened_.insert(name);
  return Status::ok();
}

Status Loader::finish(Registry* reg) {
  for (const auto& prim : kPrimitives) {
    auto t = std::make_shared<Type>();
    t->name = prim.name;
    t->kind = prim.kind;
    t->description = prim.description;
    by_token_[prim.token] = t;
    primitives_[prim.name] = t;
  }
  for (auto& p : pending_) BERTH_RETURN_IF_ERROR(fillFields(p));
  std::set<std::string> active;
  for (auto& p : pending_) BERTH_RETURN_IF_ERROR(flattenInline(p.name, active));

  for (const auto& [name, t] : primitives_) {
    if (t->kind != TypeKind::kString && t->kind != TypeKind::kBytes &&
        t->kind != TypeKind::kBool && t->kind != TypeKind::kInt32 &&
        t->kind != TypeKind::kInt64 && t->kind != TypeKind::kDouble) {
      reg->types_[name] = t;
    }
  }
  for (auto& p : pending_) {
    reg->types_[p.name] = p.type;
    if (!p.has_gvk) continue;
    std::string key = gvkKey(p.gvk.group, p.gvk.version, p.gvk.kind);
    if (reg->kind_index_.count(key)) return err(p, "", "kind declared twice");
    reg->kinds_.push_back({p.gvk, p.name});
    reg->kind_index_[key] = p.name;
    reg->kind_of_[p.name] = p.gvk;
    // Every kind has a <Kind>List: {metadata: ListMeta = 1, items: []Kind = 2}, as upstream.
    std::string list_name = p.name + "List";
    if (index_.count(list_name)) continue;
    auto list = std::make_shared<Type>();
    list->name = list_name;
    list->kind = TypeKind::kObject;
    list->description = "A list of " + p.gvk.kind + " objects.";
    list->fields.push_back(p.type->fields[0]);  // apiVersion
    list->fields.push_back(p.type->fields[1]);  // kind
    Field meta;
    meta.name = "metadata";
    meta.type = pending_[index_.at(std::string(kMetaPackage) + ".ListMeta")].type;
    meta.proto = 1;
    meta.description = "Standard list metadata.";
    Field items;
    items.name = "items";
    auto arr = std::make_shared<Type>();
    arr->kind = TypeKind::kArray;
    arr->name = "array";
    arr->elem = p.type;
    items.type = arr;
    items.proto = 2;
    items.required = true;
    items.description = "The objects.";
    list->fields.push_back(meta);
    list->fields.push_back(items);
    reg->types_[list_name] = list;
    GroupVersionKind lgvk{p.gvk.group, p.gvk.version, p.gvk.kind + "List"};
    reg->kind_index_[gvkKey(lgvk.group, lgvk.version, lgvk.kind)] = list_name;
    reg->kind_of_[list_name] = lgvk;
  }
  return Status::ok();
}

const Field* Type::field(std::string_view n) const {
  for (const auto& f : fields) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

const Field* Type::fieldByProto(int number, int inline_parent) const {
  for (const auto& f : fields) {
    if (f.proto == number && f.proto_inline == inline_parent) return &f;
  }
  return nullptr;
}

Result<std::unique_ptr<Registry>> Registry::load(const std::vector<std::string>& yaml_documents) {
  Loader loader;
  int n = 0;
  for (const auto& text : yaml_documents) {
    std::string file = "document " + std::to_string(n++);
    if (startsWith(text, "#@file ")) file = text.substr(7, text.find('\n') - 7);
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
      return internalError("schema: " + file + ": " + e.what());
    }
    for (const auto& d : docs) {
      try {
        BERTH_RETURN_IF_ERROR(loader.addDocument(file, d));
      } catch (const YAML::Exception& e) {
        return internalError("schema: " + file + ": " + e.what());
      }
    }
  }
  auto reg = std::unique_ptr<Registry>(new Registry());
  try {
    BERTH_RETURN_IF_ERROR(loader.finish(reg.get()));
  } catch (const YAML::Exception& e) {
    return internalError(std::string("schema: ") + e.what());
  }
  return reg;
}

const Registry& Registry::get() {
  static const Registry* registry = [] {
    std::vector<std::string> texts;
    for (int i = 0; i < kSchemaFileCount; ++i) {
      // Prefix with a comment naming the file so load errors point at it.
      texts.push_back(std::string("#@file ") + kSchemaFiles[i].name + "\n" + kSchemaFiles[i].text);
    }
    auto r = load(texts);
    if (!r.isOk()) {
      // The embedded data is part of the program: a load error is a bug, never input.
      BLOG_ERROR("embedded schema data is broken").kv("error", r.status().toString());
      std::abort();
    }
    return std::move(r).value().release();
  }();
  return *registry;
}

TypePtr Registry::find(std::string_view type_name) const {
  auto it = types_.find(std::string(type_name));
  return it == types_.end() ? nullptr : it->second;
}

TypePtr Registry::forKind(const GroupVersionKind& gvk) const {
  auto it = kind_index_.find(gvkKey(gvk.group, gvk.version, gvk.kind));
  return it == kind_index_.end() ? nullptr : find(it->second);
}

const GroupVersionKind* Registry::kindOf(std::string_view type_name) const {
  auto it = kind_of_.find(type_name);
  return it == kind_of_.end() ? nullptr : &it->second;
}

}  // namespace berth::apiserver::schema
