// OpenAPI v2: the definitions kubectl validates `kind: List` manifests against, as JSON and as
// gnostic's protobuf.
#include "apiserver/schema/openapi_v2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/schema/openapi.h"

namespace berth::apiserver::schema {
namespace {

using nlohmann::json;

json v2Document() {
  std::vector<ResourceInfo> res = {{"", "v1", "Pod", "pods", true, true, false},
                                   {"apps", "v1", "Deployment", "deployments", true, true, true}};
  return openApiV2Document({openApiDocument("v1", res), openApiDocument("apps/v1", res)},
                           "v1.32.0");
}

TEST(OpenApiV2, DefinitionsHoldEveryGroupsSchemasInV2Form) {
  json doc = v2Document();
  EXPECT_EQ(doc["swagger"], "2.0");
  const json& defs = doc["definitions"];
  ASSERT_TRUE(defs.contains("io.k8s.api.apps.v1.Deployment")) << defs.size();
  ASSERT_TRUE(defs.contains("io.k8s.api.core.v1.Pod"));
  const json& deploy = defs["io.k8s.api.apps.v1.Deployment"];
  EXPECT_EQ(deploy["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
  // An allOf-wrapped reference is a plain v2 reference, with its description beside it.
  EXPECT_EQ(deploy["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec");
  EXPECT_FALSE(deploy["properties"]["spec"].contains("allOf"));
  // Every reference names a definition (kubectl refuses the document otherwise), and nothing
  // v3-only is left.
  std::function<void(const json&, const std::string&)> walk = [&](const json& s,
                                                                  const std::string& at) {
    ASSERT_TRUE(s.is_object()) << at;
    if (auto r = s.find("$ref"); r != s.end()) {
      std::string ref = *r;
      ASSERT_EQ(ref.rfind("#/definitions/", 0), 0u) << at;
      EXPECT_TRUE(defs.contains(ref.substr(14))) << at << " -> " << ref;
    }
    for (const char* v3 : {"nullable", "anyOf", "oneOf", "x-kubernetes-int-or-string"})
      EXPECT_FALSE(s.contains(v3)) << at;
    if (s.value("type", "") == "array") EXPECT_TRUE(s.contains("items")) << at;
    if (auto p = s.find("properties"); p != s.end())
      for (auto it = p->begin(); it != p->end(); ++it) walk(it.value(), at + "." + it.key());
    if (auto i = s.find("items"); i != s.end()) walk(*i, at + "[]");
    if (auto a = s.find("additionalProperties"); a != s.end() && a->is_object())
      walk(*a, at + "{}");
    if (auto a = s.find("allOf"); a != s.end())
      for (const json& x : *a) walk(x, at + ".allOf");
  };
  for (auto it = defs.begin(); it != defs.end(); ++it) walk(it.value(), it.key());
  // int-or-string fields are strings, which v2 validation lets numbers through.
  const json& strategy = defs["io.k8s.api.apps.v1.RollingUpdateDeployment"];
  EXPECT_EQ(strategy["properties"]["maxSurge"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString");
  EXPECT_EQ(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"], "string");
}

// A minimal protobuf reader: the fields of one message, by number, as raw values.
std::multimap<int, std::string> fields(std::string_view msg) {
  std::multimap<int, std::string> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; i < msg.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(msg[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (i < msg.size()) {
    uint64_t tag = varint();
    int wire = static_cast<int>(tag & 7);
    int number = static_cast<int>(tag >> 3);
    if (wire == 0) {
      out.emplace(number, std::to_string(varint()));
    } else if (wire == 2) {
      size_t n = varint();
      out.emplace(number, std::string(msg.substr(i, n)));
      i += n;
    } else if (wire == 1) {
      out.emplace(number, std::string(msg.substr(i, 8)));
      i += 8;
    } else {
      ADD_FAILURE() << "unexpected wire type " << wire;
      break;
    }
  }
  return out;
}

std::string one(const std::multimap<int, std::string>& f, int number) {
  auto it = f.find(number);
  return it == f.end() ? "" : it->second;
}

TEST(OpenApiV2, ProtobufIsGnosticsDocument) {
  json doc = v2Document();
  auto top = fields(encodeOpenApiV2(doc));
  EXPECT_EQ(one(top, 1), "2.0");                      // swagger
  EXPECT_EQ(one(fields(one(top, 2)), 2), "v1.32.0");  // info.version
  // definitions: one NamedSchema per definition, in order.
  auto named = fields(one(top, 9));
  EXPECT_EQ(named.count(1), doc["definitions"].size());
  std::map<std::string, std::string> schemas;
  for (const auto& [n, bytes] : named) {
    auto ns = fields(bytes);
    schemas[one(ns, 1)] = one(ns, 2);
  }
  ASSERT_TRUE(schemas.count("io.k8s.api.apps.v1.Deployment"));
  auto deploy = fields(schemas["io.k8s.api.apps.v1.Deployment"]);
  EXPECT_EQ(one(fields(one(deploy, 22)), 1), "object");  // type
  // properties (25) → NamedSchema "spec" → $ref (1).
  std::string spec_ref;
  for (const auto& [n, p] : fields(one(deploy, 25))) {
    auto ns = fields(p);
    if (one(ns, 1) == "spec") spec_ref = one(fields(one(ns, 2)), 1);
  }
  EXPECT_EQ(spec_ref, "#/definitions/io.k8s.api.apps.v1.DeploymentSpec");
  // x-kubernetes-group-version-kind (31) as NamedAny with the value as YAML (JSON is YAML).
  bool gvk = false;
  for (auto [it, end] = deploy.equal_range(31); it != end; ++it) {
    auto na = fields(it->second);
    if (one(na, 1) != "x-kubernetes-group-version-kind") continue;
    json v = json::parse(one(fields(one(na, 2)), 2));
    EXPECT_EQ(v[0]["group"], "apps");
    gvk = true;
  }
  EXPECT_TRUE(gvk);
  // required (19), and a v3 document's forms rewritten before they are encoded.
  json v3 = json::parse(R"({"components": {"schemas": {
      "T": {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string", "nullable": true},
        "n": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "l": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/U"}],
                                         "description": "one U"}}}},
      "U": {"type": "object", "additionalProperties": {"type": "string"}}}}})");
  json small = openApiV2Document({v3}, "v");
  EXPECT_EQ(small["definitions"]["T"]["properties"]["a"], json::parse(R"({"type": "string"})"));
  EXPECT_EQ(small["definitions"]["T"]["properties"]["n"], json::parse(R"({"type": "string"})"));
  EXPECT_EQ(small["definitions"]["T"]["properties"]["l"]["items"],
            json::parse(R"({"$ref": "#/definitions/U", "description": "one U"})"));
  std::map<std::string, std::string> small_schemas;
  for (const auto& [n, bytes] : fields(one(fields(encodeOpenApiV2(small)), 9))) {
    auto ns = fields(bytes);
    small_schemas[one(ns, 1)] = one(ns, 2);
  }
  EXPECT_EQ(one(fields(small_schemas["T"]), 19), "a");
  // U: additionalProperties (21) holds a schema (1) of type string.
  auto map_of = fields(one(fields(small_schemas["U"]), 21));
  EXPECT_EQ(one(fields(one(fields(one(map_of, 1)), 22)), 1), "string");
}

}  // namespace
}  // namespace berth::apiserver::schema
