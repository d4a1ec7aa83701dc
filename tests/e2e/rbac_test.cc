// End-to-end: the RBAC kinds (rbac.authorization.k8s.io/v1) through the real kubectl: the
// manifests operators ship (ServiceAccount + Role + RoleBinding, ClusterRole +
// ClusterRoleBinding) apply, print and validate as upstream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

class RbacTest : public ServerTest {
 protected:
  RbacTest() : ServerTest("t") {}
};

const char* kOperatorManifest = R"(apiVersion: v1
kind: ServiceAccount
metadata:
  name: operator
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: operator-reads-pods
subjects:
- kind: ServiceAccount
  name: operator
- kind: User
  apiGroup: rbac.authorization.k8s.io
  name: jane
- kind: Group
  name: ops
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
)";

TEST_F(RbacTest, RoleAndBindingApplyPrintAndDefault) {
  std::string out = ok({"apply", "-f", "-"}, kOperatorManifest);
  EXPECT_NE(out.find("role.rbac.authorization.k8s.io/pod-reader created"), std::string::npos) << out;
  EXPECT_NE(out.find("rolebinding.rbac.authorization.k8s.io/operator-reads-pods created"), std::string::npos) << out;
  // A second apply changes nothing for the kinds whose fields are all given. (A subject left
  // without apiGroup is defaulted, which makes kubectl replace the atomic list: "configured",
  // as upstream.)
  out = ok({"apply", "-f", "-"}, kOperatorManifest);
  EXPECT_NE(out.find("role.rbac.authorization.k8s.io/pod-reader unchanged"), std::string::npos) << out;

  std::string wide = ok({"get", "rolebindings", "-o", "wide"});
  EXPECT_NE(wide.find("Role/pod-reader"), std::string::npos) << wide;
  EXPECT_NE(wide.find("jane"), std::string::npos) << wide;
  std::string roles = ok({"get", "roles"});
  EXPECT_NE(roles.find("CREATED AT"), std::string::npos) << roles;
  EXPECT_NE(roles.find("pod-reader"), std::string::npos) << roles;

  // Subjects' apiGroup is defaulted per kind.
  json rb = json::parse(ok({"get", "rolebinding", "operator-reads-pods", "-o", "json"}));
  EXPECT_EQ(rb["subjects"][2]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ(rb["subjects"][0].value("apiGroup", "absent"), "absent");

  std::string described = ok({"describe", "role", "pod-reader"});
  EXPECT_NE(described.find("pods/log"), std::string::npos) << described;
}

TEST_F(RbacTest, ClusterRolesUseColonNamesAndBindToServiceAccounts) {
  std::string out = ok({"create", "clusterrole", "system:test:" + ns_, "--verb=get,list",
                        "--resource=nodes"});
  EXPECT_NE(out.find("created"), std::string::npos) << out;
  out = ok({"create", "clusterrolebinding", ns_ + "-binding", "--clusterrole=system:test:" + ns_,
            "--serviceaccount=" + ns_ + ":operator", "--group=ops"});
  EXPECT_NE(out.find("created"), std::string::npos) << out;
  std::string got = ok({"get", "clusterrolebinding", ns_ + "-binding", "-o", "wide"});
  EXPECT_NE(got.find("ClusterRole/system:test:" + ns_), std::string::npos) << got;
  EXPECT_NE(got.find("ops"), std::string::npos) << got;
  EXPECT_NE(got.find(ns_ + "/operator"), std::string::npos) << got;
  // Cluster-scoped: visible without a namespace, listed among the others.
  got = k({"get", "clusterroles", "-o", "name"}).out;
  EXPECT_NE(got.find("clusterrole.rbac.authorization.k8s.io/system:test:" + ns_), std::string::npos) << got;
  EXPECT_EQ(k({"delete", "clusterrolebinding", ns_ + "-binding"}).exit_code, 0);
  EXPECT_EQ(k({"delete", "clusterrole", "system:test:" + ns_}).exit_code, 0);
}

TEST_F(RbacTest, InvalidRulesAndBindingsAreRefusedNamingTheField) {
  auto r = kn({"apply", "-f", "-"}, R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: bad}
rules:
- apiGroups: [""]
  resources: [pods]
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("rules[0].verbs: Required value"), std::string::npos) << r.err;

  r = kn({"apply", "-f", "-"}, R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: bad}
rules:
- verbs: [get]
  nonResourceURLs: [/healthz]
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("namespaced rules cannot apply to non-resource URLs"), std::string::npos) << r.err;

  r = k({"apply", "-f", "-"}, R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bad-crb}
subjects: [{kind: ServiceAccount, name: x}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("roleRef.kind: Unsupported value: \"Role\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("subjects[0].namespace: Required value"), std::string::npos) << r.err;

  r = kn({"apply", "-f", "-"}, R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b/ad}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
)");
  EXPECT_NE(r.exit_code, 0);

  // roleRef cannot change once set.
  ok({"create", "rolebinding", "fixed", "--role=pod-reader", "--user=jane"});
  r = kn({"patch", "rolebinding", "fixed", "--type=merge", "-p", R"({"roleRef":{"name":"other"}})"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot change roleRef"), std::string::npos) << r.err;
  EXPECT_EQ(kn({"get", "rolebinding", "fixed", "-o", "jsonpath={.roleRef.name}"}).out, "pod-reader");
}

}  // namespace
}  // namespace berth::e2e
