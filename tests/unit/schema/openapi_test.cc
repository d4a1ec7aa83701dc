// OpenAPI v3: what kubectl apply (fieldValidation, patch metadata) and explain read.
#include <gtest/gtest.h>

#include "apiserver/schema/openapi.h"
#include "apiserver/schema/schema.h"
#include "common/strings.h"

#include <cstring>
#include <functional>

namespace berth::apiserver::schema {
namespace {

using nlohmann::json;

std::vector<ResourceInfo> resources() {
  return {
      {"", "v1", "Pod", "pods", true, true, false},
      {"", "v1", "Namespace", "namespaces", false, true, false},
      {"apps", "v1", "Deployment", "deployments", true, true, true},
      {"apps", "v1", "ReplicaSet", "replicasets", true, true, true},
      {"berth.dev", "v1alpha1", "NodeGroup", "nodegroups", false, true, true},
      {"berth.dev", "v1alpha1", "Instance", "instances", false, true, false},  // no schema
  };
}

const json& schemaOf(const json& doc, const std::string& name) {
  return doc["components"]["schemas"][name];
}

TEST(OpenApiTest, IndexListsEveryGroupVersionWithAHash) {
  json idx = openApiIndex(resources());
  ASSERT_TRUE(idx["paths"].is_object());
  EXPECT_EQ(idx["paths"].size(), 3u);
  std::string apps = idx["paths"]["apis/apps/v1"]["serverRelativeURL"];
  std::string hash = openApiHash(openApiDocument("apps/v1", resources()));
  EXPECT_EQ(apps, "/openapi/v3/apis/apps/v1?hash=" + hash);
  EXPECT_TRUE(startsWith(idx["paths"]["api/v1"]["serverRelativeURL"].get<std::string>(),
                         "/openapi/v3/api/v1?hash="));
  EXPECT_TRUE(idx["paths"].contains("apis/berth.dev/v1alpha1"));
  // The hash follows the content.
  auto fewer = resources();
  fewer.pop_back();
  fewer.erase(fewer.begin() + 2);  // drop deployments
  EXPECT_NE(openApiIndex(fewer)["paths"]["apis/apps/v1"]["serverRelativeURL"], apps);
  EXPECT_EQ(openApiHash(json{{"a", 1}}), openApiHash(json{{"a", 1}}));
  EXPECT_NE(openApiHash(json{{"a", 1}}), openApiHash(json{{"a", 2}}));
}

TEST(OpenApiTest, PatchOperationsCarryWhatKubectlChecks) {
  json doc = openApiDocument("apps/v1", resources());
  EXPECT_EQ(doc["openapi"], "3.0.0");
  const json& item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
  ASSERT_TRUE(item.is_object()) << doc["paths"].dump();
  const json& patch = item["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"],
            json({{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}));
  bool has_fv = false, has_dry = false, has_fm = false;
  for (const auto& p : patch["parameters"]) {
    if (p["name"] == "fieldValidation" && p["in"] == "query" && p["schema"]["type"] == "string") {
      has_fv = true;
    }
    has_dry |= p["name"] == "dryRun";
    has_fm |= p["name"] == "fieldManager";
  }
  EXPECT_TRUE(has_fv && has_dry && has_fm);
  for (const char* ct : {"application/json-patch+json", "application/merge-patch+json",
                         "application/strategic-merge-patch+json", "application/apply-patch+yaml"}) {
    EXPECT_TRUE(patch["requestBody"]["content"].contains(ct)) << ct;
  }
  for (const char* verb : {"get", "put", "patch", "delete"}) EXPECT_TRUE(item.contains(verb)) << verb;
  const json& coll = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
  EXPECT_TRUE(coll.contains("get") && coll.contains("post"));
  EXPECT_EQ(coll["post"]["x-kubernetes-group-version-kind"]["kind"], "Deployment");
  const json& scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
  EXPECT_EQ(scale["patch"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
  EXPECT_TRUE(doc["paths"].contains("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"));
  EXPECT_TRUE(doc["paths"].contains("/apis/apps/v1/deployments"));
  // Other group/versions stay out.
  for (const auto& [path, _] : doc["paths"].items()) EXPECT_TRUE(startsWith(path, "/apis/apps/v1/"));
  json core = openApiDocument("v1", resources());
  EXPECT_TRUE(core["paths"].contains("/api/v1/namespaces/{name}"));
  EXPECT_TRUE(core["paths"].contains("/api/v1/namespaces/{namespace}/pods/{name}"));
}

TEST(OpenApiTest, ComponentsDescribeDeploymentForExplainAndApply) {
  json doc = openApiDocument("apps/v1", resources());
  const json d0 = schemaOf(doc, "io.k8s.api.apps.v1.Deployment");
  const json& d = d0; schemaOf(doc, "io.k8s.api.apps.v1.Deployment");
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d["x-kubernetes-group-version-kind"],
            json::array({{{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}}));
  EXPECT_EQ(d["type"], "object");
  EXPECT_FALSE(d["description"].get<std::string>().empty());
  EXPECT_TRUE(d["properties"].contains("apiVersion"));
  // spec -> DeploymentSpec via allOf (the field has its own description), strategy too.
  const json& spec_prop = d["properties"]["spec"];
  ASSERT_TRUE(spec_prop.contains("allOf"));
  EXPECT_EQ(spec_prop["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
  const json& spec = schemaOf(doc, "io.k8s.api.apps.v1.DeploymentSpec");
  const json& strategy = spec["properties"]["strategy"];
  EXPECT_EQ(strategy["x-kubernetes-patch-strategy"], "retainKeys");
  EXPECT_EQ(strategy["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");
  const json& ds = schemaOf(doc, "io.k8s.api.apps.v1.DeploymentStrategy");
  EXPECT_TRUE(ds["properties"].contains("type"));
  EXPECT_TRUE(ds["properties"].contains("rollingUpdate"));
  const json& ru = schemaOf(doc, "io.k8s.api.apps.v1.RollingUpdateDeployment");
  EXPECT_EQ(ru["properties"]["maxSurge"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString");
  EXPECT_EQ(schemaOf(doc, "io.k8s.apimachinery.pkg.util.intstr.IntOrString")
                ["x-kubernetes-int-or-string"], true);
  EXPECT_EQ(schemaOf(doc, "io.k8s.apimachinery.pkg.api.resource.Quantity")
                ["x-kubernetes-int-or-string"], true);

  // Containers: merge by name, so removing one from a manifest removes it (kubectl apply).
  const json& pod_spec = schemaOf(doc, "io.k8s.api.core.v1.PodSpec");
  const json& containers = pod_spec["properties"]["containers"];
  EXPECT_EQ(containers["type"], "array");
  EXPECT_EQ(containers["x-kubernetes-patch-strategy"], "merge");
  EXPECT_EQ(containers["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(containers["x-kubernetes-list-type"], "map");
  EXPECT_EQ(containers["x-kubernetes-list-map-keys"], json::array({"name"}));
  EXPECT_EQ(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
  EXPECT_EQ(pod_spec["properties"]["volumes"]["x-kubernetes-patch-strategy"], "merge,retainKeys");
  EXPECT_FALSE(pod_spec["properties"]["tolerations"].contains("x-kubernetes-patch-strategy"));
  const json& volume = schemaOf(doc, "io.k8s.api.core.v1.Volume");
  EXPECT_EQ(volume["x-kubernetes-preserve-unknown-fields"], true);
  EXPECT_TRUE(volume["properties"].contains("configMap"));  // inline VolumeSource flattened
  EXPECT_EQ(schemaOf(doc, "io.k8s.api.core.v1.Container")["properties"]["ports"]
                ["x-kubernetes-patch-merge-key"], "containerPort");
  EXPECT_EQ(schemaOf(doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")["properties"]
                ["labels"]["additionalProperties"]["type"], "string");
  EXPECT_EQ(schemaOf(doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Time")["format"], "date-time");
  // Lists and meta types are there; nothing dangles.
  EXPECT_TRUE(schemaOf(doc, "io.k8s.api.apps.v1.DeploymentList").is_object());
  EXPECT_TRUE(schemaOf(doc, "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions").is_object());
  EXPECT_TRUE(schemaOf(doc, "io.k8s.api.autoscaling.v1.Scale").is_object());
  std::function<void(const json&)> checkRefs = [&](const json& j) {
    if (j.is_object()) {
      // kubectl's spec3 decoder fails the whole document if any schema is not an object.
      for (const char* k : {"schema", "items", "additionalProperties"}) {
        if (j.contains(k)) {
          EXPECT_TRUE(j[k].is_object()) << k << ": " << j.dump().substr(0, 200);
        }
      }
      if (j.contains("$ref")) {
        std::string r = j["$ref"];
        EXPECT_TRUE(doc["components"]["schemas"].contains(r.substr(strlen("#/components/schemas/"))))
            << r;
      }
      for (const auto& [k, v] : j.items()) checkRefs(v);
    } else if (j.is_array()) {
      for (const auto& v : j) checkRefs(v);
    }
  };
  checkRefs(doc);
  doc = openApiDocument("v1", resources());
  checkRefs(doc);
}

TEST(OpenApiTest, BerthKindsAreDocumented) {
  json doc = openApiDocument("berth.dev/v1alpha1", resources());
  const json& ng = schemaOf(doc, "dev.berth.api.v1alpha1.NodeGroup");
  EXPECT_EQ(ng["x-kubernetes-group-version-kind"][0]["kind"], "NodeGroup");
  const json& spec = schemaOf(doc, "dev.berth.api.v1alpha1.NodeGroupSpec");
  EXPECT_EQ(spec["properties"]["capacityType"]["enum"], json::array({"ON_DEMAND", "SPOT"}));
  EXPECT_TRUE(doc["paths"].contains("/apis/berth.dev/v1alpha1/nodegroups/{name}/scale"));
  // A kind without a schema: served, free-form, claims no GVK, no dangling $ref.
  const json& get = doc["paths"]["/apis/berth.dev/v1alpha1/instances/{name}"]["get"];
  std::string ref = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
  const json& s = schemaOf(doc, ref.substr(strlen("#/components/schemas/")));
  EXPECT_EQ(s["x-kubernetes-preserve-unknown-fields"], true);
  EXPECT_FALSE(s.contains("x-kubernetes-group-version-kind"));
}

}  // namespace
}  // namespace berth::apiserver::schema
