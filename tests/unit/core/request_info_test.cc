#include "apiserver/core/request_info.h"

#include <gtest/gtest.h>

namespace berth::apiserver {
namespace {

TEST(RequestInfoTest, NamespacedResourceWithSubresource) {
  auto i = parseRequestInfo("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", false);
  EXPECT_TRUE(i.is_resource_request);
  EXPECT_EQ(i.group, "apps");
  EXPECT_EQ(i.version, "v1");
  EXPECT_EQ(i.namespace_, "default");
  EXPECT_EQ(i.resource, "deployments");
  EXPECT_EQ(i.name, "web");
  EXPECT_EQ(i.subresource, "scale");
  EXPECT_EQ(i.verb, "update");
}

TEST(RequestInfoTest, NamespaceObjectAndItsSubresources) {
  auto i = parseRequestInfo("GET", "/api/v1/namespaces/kube-system", false);
  EXPECT_EQ(i.resource, "namespaces");
  EXPECT_EQ(i.name, "kube-system");
  EXPECT_EQ(i.namespace_, "");
  EXPECT_EQ(i.verb, "get");
  for (const char* sub : {"status", "finalize"}) {
    auto f = parseRequestInfo("PUT", std::string("/api/v1/namespaces/doomed/") + sub, false);
    EXPECT_EQ(f.resource, "namespaces") << sub;
    EXPECT_EQ(f.name, "doomed");
    EXPECT_EQ(f.subresource, sub);
    EXPECT_EQ(f.namespace_, "");
  }
  // Any other third segment is a resource inside the namespace.
  auto p = parseRequestInfo("GET", "/api/v1/namespaces/default/pods", false);
  EXPECT_EQ(p.namespace_, "default");
  EXPECT_EQ(p.resource, "pods");
  EXPECT_EQ(p.verb, "list");
}

TEST(RequestInfoTest, VerbsFromMethodAndWatch) {
  EXPECT_EQ(parseRequestInfo("GET", "/api/v1/pods", true).verb, "watch");
  EXPECT_EQ(parseRequestInfo("GET", "/api/v1/namespaces/a/pods/x", true).verb, "watch");
  // The deprecated /watch/ paths are watches of what follows.
  RequestInfo legacy = parseRequestInfo("GET", "/api/v1/watch/namespaces/a/pods/x", false);
  EXPECT_EQ(legacy.verb, "watch");
  EXPECT_EQ(legacy.namespace_, "a");
  EXPECT_EQ(legacy.resource, "pods");
  EXPECT_EQ(legacy.name, "x");
  EXPECT_EQ(parseRequestInfo("GET", "/apis/apps/v1/watch/deployments", false).verb, "watch");
  EXPECT_EQ(parseRequestInfo("GET", "/apis/apps/v1/watch/deployments", false).resource,
            "deployments");
  EXPECT_EQ(parseRequestInfo("DELETE", "/api/v1/namespaces/a/pods", false).verb, "deletecollection");
  EXPECT_EQ(parseRequestInfo("DELETE", "/api/v1/namespaces/a/pods/x", false).verb, "delete");
  EXPECT_EQ(parseRequestInfo("PATCH", "/api/v1/nodes/n1/status", false).verb, "patch");
  EXPECT_EQ(parseRequestInfo("POST", "/api/v1/namespaces/a/configmaps", false).verb, "create");
}

TEST(RequestInfoTest, NonResourcePaths) {
  EXPECT_FALSE(parseRequestInfo("GET", "/version", false).is_resource_request);
  EXPECT_FALSE(parseRequestInfo("GET", "/apis", false).is_resource_request);
  auto gv = parseRequestInfo("GET", "/apis/apps/v1", false);
  EXPECT_FALSE(gv.is_resource_request);
  EXPECT_TRUE(gv.is_group_version_root);
}

}  // namespace
}  // namespace berth::apiserver
