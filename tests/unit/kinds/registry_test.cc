#include <set>

#include "apiserver/kinds/name_validation.h"
#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::spec;

TEST(KindRegistry, LooksUpByResourceAndKind) {
  const auto& reg = KindRegistry::builtin();
  const KindSpec* d = reg.byResource("apps", "v1", "deployments");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kind, "Deployment");
  EXPECT_EQ(d->qualifiedResource(), "deployments.apps");
  EXPECT_EQ(d->qualifiedKind(), "Deployment.apps");
  EXPECT_EQ(d->groupVersion(), "apps/v1");
  EXPECT_EQ(reg.byKind("apps", "v1", "Deployment"), d);

  const KindSpec* pod = reg.byResource("", "v1", "pods");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->groupVersion(), "v1");
  EXPECT_EQ(pod->qualifiedResource(), "pods");

  EXPECT_EQ(reg.byResource("apps", "v1", "pods"), nullptr);
  EXPECT_EQ(reg.byResource("", "v2", "pods"), nullptr);
  EXPECT_EQ(reg.byKind("", "v1", "Deployment"), nullptr);

  // Two Event kinds, one per group.
  ASSERT_NE(reg.byResource("", "v1", "events"), nullptr);
  ASSERT_NE(reg.byResource("events.k8s.io", "v1", "events"), nullptr);
  EXPECT_NE(reg.byResource("", "v1", "events"), reg.byResource("events.k8s.io", "v1", "events"));
}

TEST(KindRegistry, HoldsEveryBuiltinKindOnce) {
  const auto& reg = KindRegistry::builtin();
  std::set<std::string> seen;
  for (const auto& k : reg.all()) {
    EXPECT_TRUE(seen.insert(k.groupVersion() + "/" + k.resource).second) << k.resource;
  }
  for (const char* gvr :
       {"v1/namespaces", "v1/pods", "v1/services", "v1/endpoints", "v1/nodes", "v1/events",
        "v1/configmaps", "v1/secrets", "v1/serviceaccounts", "apps/v1/deployments",
        "apps/v1/replicasets", "apps/v1/daemonsets", "batch/v1/jobs",
        "coordination.k8s.io/v1/leases", "discovery.k8s.io/v1/endpointslices",
        "events.k8s.io/v1/events", "policy/v1/poddisruptionbudgets",
        "autoscaling/v2/horizontalpodautoscalers",
        "certificates.k8s.io/v1/certificatesigningrequests", "berth.dev/v1alpha1/nodegroups",
        "berth.dev/v1alpha1/fargateprofiles"}) {
    EXPECT_TRUE(seen.count(gvr)) << gvr;
  }
}

TEST(KindRegistry, ShortNamesScopesAndCategoriesFollowUpstream) {
  struct Want {
    const char* group;
    const char* resource;
    std::vector<std::string> shortNames;
    bool namespaced;
    bool inAll;
  };
  const std::vector<Want> wants = {
      {"", "pods", {"po"}, true, true},
      {"", "services", {"svc"}, true, true},
      {"", "nodes", {"no"}, false, false},
      {"", "namespaces", {"ns"}, false, false},
      {"", "endpoints", {"ep"}, true, false},
      {"", "events", {"ev"}, true, false},
      {"", "configmaps", {"cm"}, true, false},
      {"", "secrets", {}, true, false},
      {"", "serviceaccounts", {"sa"}, true, false},
      {"apps", "deployments", {"deploy"}, true, true},
      {"apps", "replicasets", {"rs"}, true, true},
      {"apps", "daemonsets", {"ds"}, true, true},
      {"batch", "jobs", {}, true, true},
      {"policy", "poddisruptionbudgets", {"pdb"}, true, false},
      {"autoscaling", "horizontalpodautoscalers", {"hpa"}, true, true},
      {"certificates.k8s.io", "certificatesigningrequests", {"csr"}, false, false},
      // Cluster-scoped: not in "all", which `kubectl delete all -n X` uses.
      {"berth.dev", "nodegroups", {"ng"}, false, false},
      {"berth.dev", "fargateprofiles", {"fp"}, false, false},
  };
  for (const auto& w : wants) {
    const KindSpec* k = nullptr;
    for (const auto& s : KindRegistry::builtin().all()) {
      if (s.group == w.group && s.resource == w.resource) k = &s;
    }
    ASSERT_NE(k, nullptr) << w.resource;
    EXPECT_EQ(k->short_names, w.shortNames) << w.resource;
    EXPECT_EQ(k->namespaced, w.namespaced) << w.resource;
    bool inAll = std::find(k->categories.begin(), k->categories.end(), "all") != k->categories.end();
    EXPECT_EQ(inAll, w.inAll) << w.resource;
  }
}

TEST(KindRegistry, SubresourcesAndGeneration) {
  EXPECT_TRUE(spec("apps", "v1", "Deployment").has_scale);
  EXPECT_TRUE(spec("apps", "v1", "ReplicaSet").has_scale);
  EXPECT_FALSE(spec("apps", "v1", "DaemonSet").has_scale);
  EXPECT_TRUE(spec("", "v1", "Pod").has_status);
  EXPECT_FALSE(spec("", "v1", "ConfigMap").has_status);
  EXPECT_FALSE(spec("", "v1", "ConfigMap").uses_generation);
  EXPECT_TRUE(spec("apps", "v1", "Deployment").uses_generation);
  EXPECT_TRUE(spec("batch", "v1", "Job").has_status);

  const KindSpec& ng = spec("berth.dev", "v1alpha1", "NodeGroup");
  EXPECT_TRUE(ng.has_scale);
  EXPECT_TRUE(ng.has_status);
  EXPECT_EQ(ng.scale_spec_replicas, "/spec/scaling/desiredSize");
  EXPECT_EQ(ng.scale_status_replicas, "/status/replicas");
  ASSERT_TRUE(ng.scale_selector);
  EXPECT_EQ(ng.scale_selector(json{{"metadata", {{"name", "workers"}}}}),
            "eks.amazonaws.com/nodegroup=workers");
  EXPECT_FALSE(spec("apps", "v1", "Deployment").scale_selector);
  EXPECT_EQ(ng.scale_label_selector, "/status/selector");
  json defaulted = {{"metadata", {{"name", "workers"}}}};
  ng.defaults(defaulted);
  EXPECT_EQ(defaulted["status"]["selector"], "eks.amazonaws.com/nodegroup=workers");
  EXPECT_EQ(spec("", "v1", "Namespace").verbs,
            (std::vector<std::string>{"create", "delete", "get", "list", "patch", "update", "watch"}));
}

// Every kind prints rows as wide as its columns, for a bare object and a busy one, and marks
// exactly one column as the name.
TEST(KindRegistry, EveryKindHasMatchingColumnsAndCells) {
  const TimePoint now = at("2024-05-01T12:00:00Z");
  json bare = {{"metadata", {{"name", "x"}, {"creationTimestamp", "2024-05-01T11:00:00Z"}}}};
  for (const auto& k : KindRegistry::builtin().all()) {
    ASSERT_FALSE(k.columns.empty()) << k.kind;
    ASSERT_TRUE(k.cells) << k.kind;
    int names = 0;
    for (const auto& c : k.columns) {
      if (c.format == "name") ++names;
      // "boolean": CronJob's Suspend, as upstream declares it (its cells are "True"/"False").
      EXPECT_TRUE(c.type == "string" || c.type == "integer" || c.type == "date" ||
                  c.type == "boolean")
          << c.name;
    }
    EXPECT_EQ(names, 1) << k.kind;
    json obj = bare;
    if (k.defaults) k.defaults(obj);
    auto cells = k.cells(obj, now);
    EXPECT_EQ(cells.size(), k.columns.size()) << k.kind;
    for (size_t i = 0; i < cells.size() && i < k.columns.size(); ++i) {
      if (k.columns[i].type == "integer") {
        EXPECT_TRUE(cells[i].is_number_integer()) << k.kind << " " << k.columns[i].name;
      } else if (k.columns[i].type == "boolean") {
        // A Go bool (PriorityClass's Global-Default) or its text (CronJob's Suspend).
        EXPECT_TRUE(cells[i].is_boolean() || cells[i].is_string())
            << k.kind << " " << k.columns[i].name;
      } else {
        EXPECT_TRUE(cells[i].is_string()) << k.kind << " " << k.columns[i].name;
      }
    }
    // Validation and field selectors never throw on a bare object.
    if (k.validate) (void)k.validate(obj, nullptr);
    if (k.validate) (void)k.validate(obj, &obj);
    for (const auto& f : k.selectable_fields) {
      ASSERT_TRUE(k.field_value) << k.kind;
      (void)k.field_value(obj, f);
    }
  }
}

TEST(FieldSelectors, ReadValuesPerKind) {
  json pod = {{"spec", {{"nodeName", "n1"}, {"restartPolicy", "Never"}}},
              {"status", {{"phase", "Running"}, {"podIPs", {{{"ip", "10.0.0.5"}}}}}}};
  const KindSpec& p = spec("", "v1", "Pod");
  EXPECT_EQ(p.field_value(pod, "spec.nodeName"), "n1");
  EXPECT_EQ(p.field_value(pod, "status.phase"), "Running");
  EXPECT_EQ(p.field_value(pod, "spec.restartPolicy"), "Never");
  EXPECT_EQ(p.field_value(pod, "status.podIP"), "10.0.0.5");
  EXPECT_EQ(p.field_value(pod, "spec.schedulerName"), "");
  for (const char* f : {"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
                        "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName"}) {
    EXPECT_NE(std::find(p.selectable_fields.begin(), p.selectable_fields.end(), f),
              p.selectable_fields.end())
        << f;
  }

  json ev = {{"involvedObject", {{"kind", "Pod"}, {"name", "web"}, {"uid", "u1"}}},
             {"reason", "Pulled"},
             {"type", "Normal"},
             {"source", {{"component", "kubelet"}}},
             {"reportingComponent", "kubelet"}};
  const KindSpec& e = spec("", "v1", "Event");
  EXPECT_EQ(e.field_value(ev, "involvedObject.kind"), "Pod");
  EXPECT_EQ(e.field_value(ev, "involvedObject.uid"), "u1");
  EXPECT_EQ(e.field_value(ev, "involvedObject.namespace"), "");
  EXPECT_EQ(e.field_value(ev, "reason"), "Pulled");
  EXPECT_EQ(e.field_value(ev, "source"), "kubelet");
  EXPECT_EQ(e.field_value(ev, "reportingComponent"), "kubelet");

  json ev2 = {{"regarding", {{"kind", "Node"}, {"name", "n1"}}}, {"type", "Warning"}};
  const KindSpec& e2 = spec("events.k8s.io", "v1", "Event");
  EXPECT_EQ(e2.field_value(ev2, "involvedObject.kind"), "Node");
  EXPECT_EQ(e2.field_value(ev2, "regarding.name"), "n1");
  EXPECT_EQ(e2.field_value(ev2, "type"), "Warning");

  EXPECT_EQ(spec("", "v1", "Node").field_value(json{{"spec", {{"unschedulable", true}}}},
                                             "spec.unschedulable"),
            "true");
  EXPECT_EQ(spec("", "v1", "Node").field_value(json::object(), "spec.unschedulable"), "false");
  EXPECT_EQ(spec("", "v1", "Namespace").field_value(json{{"status", {{"phase", "Terminating"}}}},
                                                  "status.phase"),
            "Terminating");
  EXPECT_EQ(spec("", "v1", "Secret").field_value(json{{"type", "kubernetes.io/tls"}}, "type"),
            "kubernetes.io/tls");
  EXPECT_EQ(spec("batch", "v1", "Job").field_value(json{{"status", {{"succeeded", 2}}}},
                                                   "status.successful"),
            "2");
  EXPECT_EQ(spec("apps", "v1", "ReplicaSet").field_value(json::object(), "status.replicas"), "0");
}

TEST(NameValidation, UpstreamMessages) {
  EXPECT_TRUE(validateDns1123Label("my-ns").empty());
  EXPECT_TRUE(validateDns1123Subdomain("web.example-1").empty());
  auto label = validateDns1123Label("My_NS");
  ASSERT_EQ(label.size(), 1u);
  EXPECT_EQ(label[0],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(validateDns1123Label(std::string(64, 'a')),
            std::vector<std::string>{"must be no more than 63 characters"});
  EXPECT_EQ(validateDns1123Label("a.b").size(), 1u);
  EXPECT_EQ(validateDns1123Label("").size(), 1u);
  auto sub = validateDns1123Subdomain("a..b");
  ASSERT_EQ(sub.size(), 1u);
  EXPECT_EQ(sub[0],
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  EXPECT_EQ(validateDns1123Subdomain(std::string(254, 'a')).front(),
            "must be no more than 253 characters");
  EXPECT_TRUE(validateConfigMapKey("app.properties").empty());
  EXPECT_TRUE(validateConfigMapKey("KEY_1-x").empty());
  EXPECT_FALSE(validateConfigMapKey("a/b").empty());
  EXPECT_EQ(validateConfigMapKey(".."), std::vector<std::string>{"must not be '..'"});
  EXPECT_TRUE(validateIanaSvcName("http").empty());
  EXPECT_FALSE(validateIanaSvcName("1234").empty());
  EXPECT_FALSE(validateIanaSvcName("a-very-long-port-name").empty());
}

}  // namespace
}  // namespace berth::apiserver
