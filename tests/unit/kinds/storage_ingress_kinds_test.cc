// PersistentVolumeClaim, PersistentVolume, ReplicationController and Ingress: defaults,
// validation with upstream's messages, table rows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::causeLines;
using testing::check;
using testing::defaulted;
using testing::spec;
using Lines = std::vector<std::string>;

const char* kCreated = R"("creationTimestamp": "2026-01-01T00:00:00Z")";

json claim() {
  return json::parse(std::string(R"({"metadata": {"name": "data", )") + kCreated + R"(},
    "spec": {"accessModes": ["ReadWriteMany", "ReadWriteOnce"],
             "resources": {"requests": {"storage": "1Gi"}}}})");
}

json volume() {
  return json::parse(std::string(R"({"metadata": {"name": "pv1", )") + kCreated + R"(},
    "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany", "ReadOnlyMany"],
             "hostPath": {"path": "/srv"}}})");
}

TEST(PersistentVolumeClaimKind, DefaultsTableAndUpdates) {
  const KindSpec& k = spec("", "v1", "PersistentVolumeClaim");
  json pvc = defaulted(k, claim());
  EXPECT_EQ(pvc["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(pvc["status"]["phase"], "Pending");
  auto row = k.cells(pvc, at("2026-01-01T00:02:00Z"));
  EXPECT_EQ(json(row),
            json::parse(R"(["data", "Pending", "", "", "", "", "<unset>", "2m", "Filesystem"])"));
  // Bound: capacity and modes come from the status, modes in upstream's fixed order.
  pvc["spec"]["volumeName"] = "pv1";
  pvc["spec"]["storageClassName"] = "fast";
  pvc["status"] = {{"phase", "Bound"},
                   {"capacity", {{"storage", "5Gi"}}},
                   {"accessModes", {"ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"}}};
  row = k.cells(pvc, at("2026-01-01T00:02:00Z"));
  EXPECT_EQ(json(std::vector<json>(row.begin(), row.begin() + 6)),
            json::parse(R"(["data", "Bound", "pv1", "5Gi", "RWO,RWX", "fast"])"));
  // The beta annotation names the class before the field does; deletion shows Terminating.
  pvc["metadata"]["annotations"] = {{"volume.beta.kubernetes.io/storage-class", "old"}};
  pvc["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z";
  row = k.cells(pvc, at("2026-01-01T00:02:00Z"));
  EXPECT_EQ(row[1], "Terminating");
  EXPECT_EQ(row[5], "old");

  json old = defaulted(k, claim());
  json grown = old;
  grown["spec"]["resources"]["requests"]["storage"] = "2Gi";
  EXPECT_EQ(check(k, grown, &old), Lines{});
  json changed = old;
  changed["spec"]["accessModes"] = {"ReadOnlyMany"};
  EXPECT_EQ(check(k, changed, &old),
            Lines{"spec: Forbidden: spec is immutable after creation except resources.requests and "
                  "volumeAttributesClassName for bound claims"});
  // An unbound claim may be bound once.
  json bound = old;
  bound["spec"]["volumeName"] = "pv1";
  EXPECT_EQ(check(k, bound, &old), Lines{});
}

TEST(PersistentVolumeClaimKind, Validation) {
  const KindSpec& k = spec("", "v1", "PersistentVolumeClaim");
  EXPECT_EQ(check(k, claim()), Lines{});
  json bad = claim();
  bad["spec"]["accessModes"] = {"ReadWriteOncePod", "Sometimes"};
  bad["spec"]["resources"]["requests"].erase("storage");
  bad["spec"]["volumeMode"] = "Raw";
  EXPECT_EQ(
      check(k, bad),
      (Lines{"spec.accessModes: Unsupported value: \"Sometimes\": supported values: "
             "\"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
             "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
             "spec.resources[storage]: Required value",
             "spec.volumeMode: Unsupported value: \"Raw\": supported values: \"Block\", "
             "\"Filesystem\""}));
  json none = claim();
  none["spec"].erase("accessModes");
  none["spec"]["resources"]["requests"]["storage"] = "0";
  EXPECT_EQ(check(k, none),
            (Lines{"spec.accessModes: Required value: at least 1 access mode is required",
                   "spec.resources[storage]: Invalid value: \"0\": must be greater than zero"}));
}

TEST(PersistentVolumeKind, DefaultsTableAndValidation) {
  const KindSpec& k = spec("", "v1", "PersistentVolume");
  EXPECT_FALSE(k.namespaced);
  json pv = defaulted(k, volume());
  EXPECT_EQ(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
  EXPECT_EQ(pv["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(pv["status"]["phase"], "Pending");
  EXPECT_EQ(check(k, volume()), Lines{});
  pv["spec"]["claimRef"] = {{"namespace", "ns"}, {"name", "data"}};
  auto row = k.cells(pv, at("2026-01-01T00:00:30Z"));
  EXPECT_EQ(json(row), json::parse(R"(["pv1", "5Gi", "ROX,RWX", "Retain", "Pending", "ns/data", "",
                                       "<unset>", "", "30s", "Filesystem"])"));

  json two = volume();
  two["spec"]["nfs"] = {{"server", "s"}, {"path", "/x"}};
  two["spec"]["persistentVolumeReclaimPolicy"] = "Keep";
  EXPECT_EQ(check(k, two),
            (Lines{"spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported "
                   "values: \"Delete\", \"Recycle\", \"Retain\"",
                   "spec: Forbidden: may not specify more than 1 volume type"}));
  json none = volume();
  none["spec"].erase("hostPath");
  none["spec"].erase("capacity");
  EXPECT_EQ(check(k, none), (Lines{"spec.capacity[storage]: Required value",
                                   "spec: Required value: must specify a volume type"}));
  json old = defaulted(k, volume());
  json moved = old;
  moved["spec"]["hostPath"]["path"] = "/elsewhere";
  EXPECT_EQ(check(k, moved, &old),
            Lines{"spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is "
                  "immutable after creation"});
}

json rc() {
  return json::parse(std::string(R"({"metadata": {"name": "legacy", )") + kCreated + R"(},
    "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "a", "tier": "web"}},
             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})");
}

TEST(ReplicationControllerKind, DefaultsFromTheTemplateAndTable) {
  const KindSpec& k = spec("", "v1", "ReplicationController");
  EXPECT_TRUE(k.has_scale);
  EXPECT_TRUE(k.uses_generation);
  json obj = defaulted(k, rc());
  EXPECT_EQ(obj["spec"]["selector"], json::parse(R"({"app": "a", "tier": "web"})"));
  EXPECT_EQ(obj["metadata"]["labels"], json::parse(R"({"app": "a", "tier": "web"})"));
  EXPECT_EQ(k.scale_selector(obj), "app=a,tier=web");
  // Explicit selector and labels are kept.
  json own = rc();
  own["spec"]["selector"] = {{"app", "a"}};
  own["metadata"]["labels"] = {{"team", "x"}};
  own = defaulted(k, own);
  EXPECT_EQ(own["spec"]["selector"], json::parse(R"({"app": "a"})"));
  EXPECT_EQ(own["metadata"]["labels"], json::parse(R"({"team": "x"})"));
  EXPECT_EQ(check(k, own), Lines{});

  obj["status"] = {{"replicas", 2}, {"readyReplicas", 1}};
  auto row = k.cells(obj, at("2026-01-01T00:00:05Z"));
  EXPECT_EQ(json(row), json::parse(R"(["legacy", 2, 2, 1, "5s", "c", "nginx", "app=a,tier=web"])"));
}

TEST(ReplicationControllerKind, Validation) {
  const KindSpec& k = spec("", "v1", "ReplicationController");
  json mismatch = rc();
  mismatch["spec"]["selector"] = {{"app", "b"}};
  EXPECT_EQ(check(k, mismatch),
            Lines{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"a\", "
                  "\"tier\":\"web\"}: `selector` does not match template `labels`"});
  json no_template = rc();
  no_template["spec"].erase("template");
  EXPECT_EQ(check(k, no_template),
            (Lines{"spec.selector: Required value", "spec.template: Required value"}));
  json restart = rc();
  restart["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  restart["spec"]["replicas"] = -1;
  EXPECT_EQ(check(k, restart),
            (Lines{"spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                   "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported "
                   "values: \"Always\""}));
}

json ingress() {
  return json::parse(std::string(R"({"metadata": {"name": "web", )") + kCreated + R"(},
    "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
      {"path": "/", "pathType": "Prefix",
       "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})");
}

TEST(IngressKind, TableAndValidation) {
  const KindSpec& k = spec("networking.k8s.io", "v1", "Ingress");
  EXPECT_EQ(k.short_names, std::vector<std::string>{"ing"});
  json ing = defaulted(k, ingress());
  EXPECT_EQ(check(k, ingress()), Lines{});
  auto row = k.cells(ing, at("2026-01-01T00:00:05Z"));
  EXPECT_EQ(json(row), json::parse(R"(["web", "<none>", "a.example.com", "", "80", "5s"])"));
  // Hosts past three are counted; TLS adds 443; the address is cut as upstream's.
  for (const char* h : {"b.example.com", "", "c.example.com", "d.example.com", "e.example.com"})
    ing["spec"]["rules"].push_back({{"host", h}});
  ing["spec"]["ingressClassName"] = "nginx";
  ing["spec"]["tls"] = {{{"hosts", {"a.example.com"}}, {"secretName", "tls"}}};
  ing["status"]["loadBalancer"]["ingress"] = {{{"ip", "10.0.0.1"}},
                                              {{"hostname", "lb.example.com"}}};
  row = k.cells(ing, at("2026-01-01T00:00:05Z"));
  EXPECT_EQ(json(row),
            json::parse(R"(["web", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...",
                                       "10.0.0.1,lb.e...", "80, 443", "5s"])"));
  json no_rules = ingress();
  no_rules["spec"].erase("rules");
  EXPECT_EQ(
      check(k, no_rules),
      Lines{"spec: Invalid value: \"\": either `defaultBackend` or `rules` must be specified"});
  json bad = ingress();
  json& path = bad["spec"]["rules"][0]["http"]["paths"][0];
  path["pathType"] = "Exact";
  path["path"] = "relative";
  path["backend"]["service"]["port"] = {{"name", "http"}, {"number", 80}};
  path["backend"]["resource"] = {{"kind", "Bucket"}, {"name", "b"}};
  EXPECT_EQ(
      check(k, bad),
      (Lines{
          "spec.rules[0].http.paths[0].path: Invalid value: \"relative\": must be an absolute path",
          "spec.rules[0].http.paths[0].backend: Invalid value: \"\": cannot set both "
          "resource and service backends",
          "spec.rules[0].http.paths[0].backend.service.port: Invalid value: \"\": cannot "
          "set both port name & port number"}));
  json no_type = ingress();
  no_type["spec"]["rules"][0]["http"]["paths"][0].erase("pathType");
  EXPECT_EQ(
      check(k, no_type),
      Lines{"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"});
}

}  // namespace
}  // namespace berth::apiserver
