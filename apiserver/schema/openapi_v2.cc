// OpenAPI v2 from the v3 documents, and its protobuf form. See openapi_v2.h.
#include "apiserver/schema/openapi_v2.h"

#include <cstring>
#include <map>

#include "apiserver/schema/proto_wire.h"
#include "common/strings.h"

namespace berth::apiserver::schema {

namespace {

using nlohmann::json;

constexpr std::string_view kV3Ref = "#/components/schemas/";
constexpr std::string_view kV2Ref = "#/definitions/";

std::string v2Ref(const json& ref) {
  std::string r = ref.is_string() ? ref.get<std::string>() : "";
  if (startsWith(r, kV3Ref)) return std::string(kV2Ref) + r.substr(kV3Ref.size());
  return r;
}

json toV2(const json& s) {
  if (!s.is_object()) return s;
  json out = json::object();
  for (auto it = s.begin(); it != s.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "$ref") {
      out["$ref"] = v2Ref(v);
    } else if (key == "allOf" && v.is_array() && v.size() == 1 && v[0].contains("$ref")) {
      out["$ref"] = v2Ref(v[0]["$ref"]);  // v2 lets a $ref carry a description beside it
    } else if (key == "allOf" || key == "items") {
      if (v.is_array()) {
        json items = json::array();
        for (const json& x : v) items.push_back(toV2(x));
        out[key] = items;
      } else {
        out[key] = toV2(v);
      }
    } else if (key == "properties" && v.is_object()) {
      json props = json::object();
      for (auto p = v.begin(); p != v.end(); ++p) props[p.key()] = toV2(p.value());
      out[key] = props;
    } else if (key == "additionalProperties") {
      out[key] = v.is_object() ? toV2(v) : v;
    } else if (key == "x-kubernetes-int-or-string") {
      // v2 has no union: an int-or-string (and a quantity) is a string that accepts numbers.
      if (v == true) out["type"] = "string";
    } else if (key == "nullable" || key == "anyOf" || key == "oneOf" || key == "not") {
      continue;
    } else {
      out[key] = v;
    }
  }
  return out;
}

// ---- gnostic's openapi.v2 messages ----

void putString(std::string& out, int field, const std::string& s) { wire::putBytes(out, field, s); }

// Any{yaml}: JSON is YAML, which is how the Go side reads these.
std::string anyMessage(const json& v) {
  std::string any;
  putString(any, 2, v.dump());
  return any;
}

void putInt(std::string& out, int field, int64_t v) {
  wire::putTag(out, field, wire::kVarint);
  wire::putVarint(out, static_cast<uint64_t>(v));
}

void putDouble(std::string& out, int field, double v) {
  wire::putTag(out, field, wire::kFixed64);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

std::string schemaMessage(const json& s);

std::string namedSchema(const std::string& name, const json& s) {
  std::string out;
  putString(out, 1, name);
  wire::putBytes(out, 2, schemaMessage(s));
  return out;
}

// openapi.v2.Schema.
std::string schemaMessage(const json& s) {
  std::string out;
  if (!s.is_object()) return out;
  auto str = [&](const char* key, int field) {
    if (auto it = s.find(key); it != s.end() && it->is_string()) putString(out, field, *it);
  };
  auto integer = [&](const char* key, int field) {
    if (auto it = s.find(key); it != s.end() && it->is_number_integer()) putInt(out, field, *it);
  };
  auto number = [&](const char* key, int field) {
    if (auto it = s.find(key); it != s.end() && it->is_number()) putDouble(out, field, *it);
  };
  auto flag = [&](const char* key, int field) {
    if (auto it = s.find(key); it != s.end() && it->is_boolean() && it->get<bool>())
      putInt(out, field, 1);
  };
  str("$ref", 1);
  str("format", 2);
  str("title", 3);
  str("description", 4);
  if (auto it = s.find("default"); it != s.end()) wire::putBytes(out, 5, anyMessage(*it));
  number("multipleOf", 6);
  number("maximum", 7);
  flag("exclusiveMaximum", 8);
  number("minimum", 9);
  flag("exclusiveMinimum", 10);
  integer("maxLength", 11);
  integer("minLength", 12);
  str("pattern", 13);
  integer("maxItems", 14);
  integer("minItems", 15);
  flag("uniqueItems", 16);
  integer("maxProperties", 17);
  integer("minProperties", 18);
  if (auto it = s.find("required"); it != s.end() && it->is_array())
    for (const json& r : *it)
      if (r.is_string()) putString(out, 19, r);
  if (auto it = s.find("enum"); it != s.end() && it->is_array())
    for (const json& e : *it) wire::putBytes(out, 20, anyMessage(e));
  if (auto it = s.find("additionalProperties"); it != s.end()) {
    std::string item;
    if (it->is_object())
      wire::putBytes(item, 1, schemaMessage(*it));
    else if (it->is_boolean())
      putInt(item, 2, it->get<bool>() ? 1 : 0);
    wire::putBytes(out, 21, item);
  }
  if (auto it = s.find("type"); it != s.end()) {
    std::string item;
    if (it->is_string())
      putString(item, 1, *it);
    else if (it->is_array())
      for (const json& t : *it)
        if (t.is_string()) putString(item, 1, t);
    wire::putBytes(out, 22, item);
  }
  if (auto it = s.find("items"); it != s.end()) {
    std::string item;
    if (it->is_array())
      for (const json& x : *it) wire::putBytes(item, 1, schemaMessage(x));
    else
      wire::putBytes(item, 1, schemaMessage(*it));
    wire::putBytes(out, 23, item);
  }
  if (auto it = s.find("allOf"); it != s.end() && it->is_array())
    for (const json& x : *it) wire::putBytes(out, 24, schemaMessage(x));
  if (auto it = s.find("properties"); it != s.end() && it->is_object()) {
    std::string props;
    for (auto p = it->begin(); p != it->end(); ++p)
      wire::putBytes(props, 1, namedSchema(p.key(), p.value()));
    wire::putBytes(out, 25, props);
  }
  flag("readOnly", 27);
  if (auto it = s.find("example"); it != s.end()) wire::putBytes(out, 30, anyMessage(*it));
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (!startsWith(it.key(), "x-")) continue;
    std::string named;
    putString(named, 1, it.key());
    wire::putBytes(named, 2, anyMessage(it.value()));
    wire::putBytes(out, 31, named);
  }
  return out;
}

}  // namespace

json openApiV2Document(const std::vector<json>& v3_docs, const std::string& version) {
  std::map<std::string, json> definitions;  // sorted, each name once
  for (const json& doc : v3_docs) {
    auto comps = doc.find("components");
    if (comps == doc.end() || !comps->is_object()) continue;
    auto schemas = comps->find("schemas");
    if (schemas == comps->end() || !schemas->is_object()) continue;
    for (auto it = schemas->begin(); it != schemas->end(); ++it)
      if (!definitions.count(it.key())) definitions.emplace(it.key(), toV2(it.value()));
  }
  json defs = json::object();
  for (auto& [name, s] : definitions) defs[name] = std::move(s);
  return {{"swagger", "2.0"},
          {"info", {{"title", "Kubernetes"}, {"version", version}}},
          {"paths", json::object()},
          {"definitions", std::move(defs)}};
}

std::string encodeOpenApiV2(const json& doc) {
  std::string out;
  putString(out, 1, doc.value("swagger", "2.0"));
  std::string info;
  if (auto it = doc.find("info"); it != doc.end() && it->is_object()) {
    putString(info, 1, it->value("title", ""));
    putString(info, 2, it->value("version", ""));
  }
  wire::putBytes(out, 2, info);
  wire::putBytes(out, 8, "");  // paths: none; kubectl reads only the definitions
  std::string defs;
  if (auto it = doc.find("definitions"); it != doc.end() && it->is_object())
    for (auto d = it->begin(); d != it->end(); ++d)
      wire::putBytes(defs, 1, namedSchema(d.key(), d.value()));
  wire::putBytes(out, 9, defs);
  return out;
}

}  // namespace berth::apiserver::schema
