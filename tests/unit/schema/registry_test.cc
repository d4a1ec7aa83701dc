// Registry: the embedded data loads, every kind is present, and the strategic-merge keys match
// upstream's (kubectl.md §4.2).
#include <gtest/gtest.h>

#include "apiserver/schema/schema.h"

namespace berth::apiserver::schema {
namespace {

const Field* fieldAt(std::string_view type, std::vector<std::string> path) {
  TypePtr t = Registry::get().find(type);
  const Field* f = nullptr;
  for (const auto& p : path) {
    if (!t) return nullptr;
    while (t->kind == TypeKind::kArray || t->kind == TypeKind::kMap) t = t->elem;
    f = t->field(p);
    if (!f) return nullptr;
    t = f->type;
  }
  return f;
}

TEST(RegistryTest, LoadsEveryKind) {
  const Registry& r = Registry::get();
  const std::vector<GroupVersionKind> kinds = {
      {"", "v1", "Namespace"}, {"", "v1", "Pod"}, {"", "v1", "Service"}, {"", "v1", "Endpoints"},
      {"", "v1", "Node"}, {"", "v1", "Event"}, {"", "v1", "ConfigMap"}, {"", "v1", "Secret"},
      {"", "v1", "ServiceAccount"}, {"apps", "v1", "Deployment"}, {"apps", "v1", "ReplicaSet"},
      {"apps", "v1", "DaemonSet"}, {"batch", "v1", "Job"}, {"batch", "v1", "CronJob"},
      {"coordination.k8s.io", "v1", "Lease"}, {"discovery.k8s.io", "v1", "EndpointSlice"},
      {"events.k8s.io", "v1", "Event"}, {"policy", "v1", "PodDisruptionBudget"},
      {"policy", "v1", "Eviction"}, {"autoscaling", "v2", "HorizontalPodAutoscaler"},
      {"autoscaling", "v1", "Scale"}, {"certificates.k8s.io", "v1", "CertificateSigningRequest"},
      {"authorization.k8s.io", "v1", "SelfSubjectAccessReview"},
      {"authorization.k8s.io", "v1", "SelfSubjectRulesReview"},
      {"berth.dev", "v1alpha1", "NodeGroup"}, {"berth.dev", "v1alpha1", "FargateProfile"},
      {"", "v1", "Status"}, {"", "v1", "DeleteOptions"}, {"apps", "v1", "DeploymentList"}};
  for (const auto& gvk : kinds) {
    TypePtr t = r.forKind(gvk);
    ASSERT_TRUE(t) << gvk.group << "/" << gvk.version << " " << gvk.kind;
    EXPECT_EQ(t->kind, TypeKind::kObject);
    EXPECT_TRUE(t->field("apiVersion")) << gvk.kind;
    EXPECT_TRUE(t->field("kind")) << gvk.kind;
    if (gvk.kind != "DeleteOptions") {
      EXPECT_TRUE(t->field("metadata")) << gvk.kind;
    }
  }
  EXPECT_FALSE(r.forKind({"apps", "v1", "Pod"}));
  EXPECT_NE(r.forKind({"", "v1", "Event"})->name, r.forKind({"events.k8s.io", "v1", "Event"})->name);
  EXPECT_GE(r.kinds().size(), 28u);
  for (const auto& [name, t] : r.types()) {
    for (const auto& f : t->fields) EXPECT_TRUE(f.type) << name << "." << f.name;
  }
}

TEST(RegistryTest, MergeKeysMatchUpstream) {
  struct Case {
    const char* type;
    std::vector<std::string> path;
    const char* key;  // "" = primitive merge
    bool retain = false;
  };
  const char* pod = "io.k8s.api.core.v1.PodSpec";
  const char* ctr = "io.k8s.api.core.v1.Container";
  const std::vector<Case> cases = {
      {pod, {"containers"}, "name"}, {pod, {"initContainers"}, "name"},
      {pod, {"ephemeralContainers"}, "name"}, {pod, {"volumes"}, "name", true},
      {pod, {"imagePullSecrets"}, "name"}, {pod, {"hostAliases"}, "ip"},
      {pod, {"topologySpreadConstraints"}, "topologyKey"},
      {ctr, {"ports"}, "containerPort"}, {ctr, {"env"}, "name"},
      {ctr, {"volumeMounts"}, "mountPath"}, {ctr, {"volumeDevices"}, "devicePath"},
      {"io.k8s.api.core.v1.ServiceSpec", {"ports"}, "port"},
      {"io.k8s.api.core.v1.ServiceAccount", {"secrets"}, "name"},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", {"ownerReferences"}, "uid"},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", {"finalizers"}, ""},
      {"io.k8s.api.core.v1.NodeStatus", {"conditions"}, "type"},
      {"io.k8s.api.core.v1.NodeStatus", {"addresses"}, "type"},
      {"io.k8s.api.core.v1.PodStatus", {"conditions"}, "type"},
      {"io.k8s.api.core.v1.PodStatus", {"podIPs"}, "ip"},
      {"io.k8s.api.core.v1.NodeSpec", {"podCIDRs"}, ""},
      {"io.k8s.api.apps.v1.DeploymentStatus", {"conditions"}, "type"},
      {"io.k8s.api.core.v1.NamespaceStatus", {"conditions"}, "type"},
  };
  for (const auto& c : cases) {
    const Field* f = fieldAt(c.type, c.path);
    ASSERT_TRUE(f) << c.type << " " << c.path[0];
    EXPECT_TRUE(f->patch_merge) << c.type << "." << c.path[0];
    EXPECT_EQ(f->patch_merge_key, c.key) << c.type << "." << c.path[0];
    EXPECT_EQ(f->patch_retain_keys, c.retain) << c.type << "." << c.path[0];
  }
  const Field* strategy = fieldAt("io.k8s.api.apps.v1.DeploymentSpec", {"strategy"});
  ASSERT_TRUE(strategy);
  EXPECT_TRUE(strategy->patch_retain_keys);
  EXPECT_FALSE(strategy->patch_merge);
  // Atomic lists: replaced whole by a patch.
  for (auto path : {std::vector<std::string>{"tolerations"}}) {
    const Field* f = fieldAt(pod, path);
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->patch_merge);
    EXPECT_EQ(f->list_type, "atomic");
  }
  EXPECT_FALSE(fieldAt(ctr, {"command"})->patch_merge);
  EXPECT_FALSE(fieldAt("io.k8s.api.core.v1.NodeSpec", {"taints"})->patch_merge);
}

TEST(RegistryTest, InlineFieldsAreFlattened) {
  TypePtr vol = Registry::get().find("io.k8s.api.core.v1.Volume");
  ASSERT_TRUE(vol);
  const Field* cm = vol->field("configMap");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm->proto_inline, 2);
  EXPECT_EQ(vol->fieldByProto(cm->proto, 2), cm);
  EXPECT_EQ(vol->fieldByProto(1)->name, "name");
  EXPECT_TRUE(vol->preserve_unknown_fields);  // rarely used volume sources are not written out
  EXPECT_EQ(Registry::get().find("io.k8s.api.core.v1.Probe")->field("httpGet")->proto_inline, 1);
}

TEST(RegistryTest, ProtobufNumbersOfHotFields) {
  auto num = [](const char* type, const char* field) {
    const Field* f = Registry::get().find(type)->field(field);
    return f ? f->proto : -1;
  };
  EXPECT_EQ(num("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "labels"), 11);
  EXPECT_EQ(num("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields"), 17);
  EXPECT_EQ(num("io.k8s.api.core.v1.PodSpec", "containers"), 2);
  EXPECT_EQ(num("io.k8s.api.core.v1.PodSpec", "initContainers"), 20);
  EXPECT_EQ(num("io.k8s.api.core.v1.Container", "resources"), 8);
  EXPECT_EQ(num("io.k8s.api.core.v1.Container", "envFrom"), 19);
  EXPECT_EQ(num("io.k8s.api.apps.v1.DeploymentSpec", "progressDeadlineSeconds"), 9);
  EXPECT_EQ(num("io.k8s.api.core.v1.Secret", "stringData"), 4);
  EXPECT_EQ(num("io.k8s.api.core.v1.ServiceSpec", "clusterIPs"), 18);
  EXPECT_EQ(num("io.k8s.api.batch.v1.CronJobSpec", "jobTemplate"), 5);
  EXPECT_TRUE(Registry::get().find("io.k8s.api.apps.v1.DeploymentSpec")->field("replicas")->pointer);
  EXPECT_FALSE(Registry::get().find("io.k8s.api.apps.v1.DeploymentSpec")->field("paused")->pointer);
}

TEST(RegistryTest, BerthKinds) {
  TypePtr ng = Registry::get().forKind({"berth.dev", "v1alpha1", "NodeGroup"});
  ASSERT_TRUE(ng);
  TypePtr spec = ng->field("spec")->type;
  for (const char* f : {"type", "capacityType", "instanceTypes", "scaling", "labels", "taints",
                        "subnets", "zones", "updateConfig", "version"}) {
    EXPECT_TRUE(spec->field(f)) << f;
  }
  EXPECT_EQ(spec->field("capacityType")->type->enum_values,
            (std::vector<std::string>{"ON_DEMAND", "SPOT"}));
  EXPECT_TRUE(spec->field("scaling")->type->field("desiredSize"));
  TypePtr status = ng->field("status")->type;
  for (const char* f : {"replicas", "readyReplicas", "conditions", "instances"}) {
    EXPECT_TRUE(status->field(f)) << f;
  }
  TypePtr fp = Registry::get().forKind({"berth.dev", "v1alpha1", "FargateProfile"});
  ASSERT_TRUE(fp);
  EXPECT_TRUE(fp->field("spec")->type->field("selectors")->type->elem->field("namespace"));
  EXPECT_TRUE(fp->field("status")->type->field("phase"));
}

TEST(RegistryTest, LoadReportsBrokenData) {
  auto r = Registry::load({"package: x.y\ntypes:\n  A:\n    fields:\n      b: Missing 1\n"});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("x.y.A.b"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Missing"), std::string::npos);

  auto bad_tag = Registry::load({"package: x.y\ntypes:\n  A:\n    fields:\n      b: string 1 wat\n"});
  ASSERT_FALSE(bad_tag.isOk());
  EXPECT_NE(bad_tag.status().message().find("wat"), std::string::npos);

  auto syntax = Registry::load({"package: [\n"});
  EXPECT_FALSE(syntax.isOk());

  auto ok = Registry::load({"package: x.y\ntypes:\n  A:\n    fields:\n      b: B[] 1 merge=k\n"
                            "  B:\n    fields:\n      k: string 1\n      n: int32? 2\n"});
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  TypePtr a = (*ok)->find("x.y.A");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->field("b")->type->elem->name, "x.y.B");
  EXPECT_TRUE(a->field("b")->type->elem->field("n")->pointer);
}

}  // namespace
}  // namespace berth::apiserver::schema
