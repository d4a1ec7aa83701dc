// Validation: exact field paths and upstream-worded messages, as kubectl prints them.
#include "common/strings.h"
#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::causeLines;
using testing::check;
using testing::defaulted;
using testing::spec;
using Lines = std::vector<std::string>;

json deployment() {
  return json::parse(R"({
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})");
}

TEST(Validation, ValidDeploymentHasNoCauses) {
  EXPECT_EQ(check(spec("apps", "v1", "Deployment"), deployment()), Lines{});
}

TEST(Validation, DeploymentReplicasAndSelector) {
  const KindSpec& k = spec("apps", "v1", "Deployment");
  json d = deployment();
  d["spec"]["replicas"] = -1;
  d["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(check(k, d),
            (Lines{"spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                   "spec.template.metadata.labels: Invalid value: "
                   "map[string]string{\"app\":\"other\"}: `selector` does not match template "
                   "`labels`"}));

  json noSel = deployment();
  noSel["spec"].erase("selector");
  EXPECT_EQ(check(k, noSel), Lines{"spec.selector: Required value"});

  json emptySel = deployment();
  emptySel["spec"]["selector"] = json::object();
  EXPECT_EQ(check(k, emptySel),
            Lines{"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                  "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
                  "for deployment"});
  json deadline = deployment();
  deadline["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 10;
  EXPECT_EQ(check(k, deadline), Lines{"spec.template.spec.activeDeadlineSeconds: Forbidden: "
                                      "activeDeadlineSeconds in Deployment is not Supported"});

  json expr = deployment();
  expr["spec"]["selector"] = json::parse(
      R"({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]})");
  EXPECT_EQ(check(k, expr), Lines{});
}

TEST(Validation, DeploymentStrategy) {
  const KindSpec& k = spec("apps", "v1", "Deployment");
  json d = deployment();
  d["spec"]["strategy"] = {{"type", "Blue"}};
  EXPECT_EQ(check(k, d), Lines{"spec.strategy.type: Unsupported value: \"Blue\": supported "
                               "values: \"Recreate\", \"RollingUpdate\""});

  d["spec"]["strategy"] = {{"type", "RollingUpdate"},
                           {"rollingUpdate", {{"maxSurge", 0}, {"maxUnavailable", "0%"}}}};
  EXPECT_EQ(check(k, d), Lines{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
                               "0%: may not be 0 when `maxSurge` is 0"});

  d["spec"]["strategy"] = {{"type", "RollingUpdate"},
                           {"rollingUpdate", {{"maxSurge", "x"}, {"maxUnavailable", "150%"}}}};
  EXPECT_EQ(check(k, d),
            (Lines{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not "
                   "be greater than 100%",
                   "spec.strategy.rollingUpdate.maxSurge: Invalid value: x: a valid percent "
                   "string must be a numeric string followed by an ending '%' (e.g. '1%',  or "
                   "'93%', regex used for validation is '[0-9]+%')"}));

  d["spec"]["strategy"] = {{"type", "Recreate"}, {"rollingUpdate", {{"maxSurge", 1}}}};
  EXPECT_EQ(check(k, d), Lines{"spec.strategy.rollingUpdate: Forbidden: may not be specified "
                               "when strategy `type` is 'Recreate'"});
}

TEST(Validation, DeploymentTemplateRestartPolicyAndSelectorImmutable) {
  const KindSpec& k = spec("apps", "v1", "Deployment");
  json d = deployment();
  d["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  EXPECT_EQ(check(k, d), Lines{"spec.template.spec.restartPolicy: Unsupported value: \"Never\": "
                               "supported values: \"Always\""});

  json old = defaulted(k, deployment());
  json changed = deployment();
  changed["spec"]["selector"]["matchLabels"]["tier"] = "fe";
  changed["spec"]["template"]["metadata"]["labels"]["tier"] = "fe";
  EXPECT_EQ(check(k, changed, &old),
            Lines{"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"
                  "\"app\":\"web\", \"tier\":\"fe\"}, "
                  "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"});
  EXPECT_EQ(check(k, deployment(), &old), Lines{});
}

TEST(Validation, PodSpecContainers) {
  const KindSpec& k = spec("apps", "v1", "Deployment");
  json d = deployment();
  d["spec"]["template"]["spec"]["containers"] = json::array();
  EXPECT_EQ(check(k, d), Lines{"spec.template.spec.containers: Required value"});

  d["spec"]["template"]["spec"]["containers"] = json::parse(R"([
    {"name": "Web", "image": "nginx", "imagePullPolicy": "Sometimes",
     "ports": [{"containerPort": 70000, "protocol": "ICMP"}]},
    {"name": "side"},
    {"name": "side", "image": "busybox"}])");
  EXPECT_EQ(
      check(k, d),
      (Lines{"spec.template.spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 "
             "label must consist of lower case alphanumeric characters or '-', and must start and "
             "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
             "spec.template.spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": "
             "supported values: \"Always\", \"IfNotPresent\", \"Never\"",
             "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must "
             "be between 1 and 65535, inclusive",
             "spec.template.spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\": "
             "supported values: \"SCTP\", \"TCP\", \"UDP\"",
             "spec.template.spec.containers[1].image: Required value",
             "spec.template.spec.containers[2].name: Duplicate value: \"side\""}));
}

TEST(Validation, PodResources) {
  const KindSpec& k = spec("", "v1", "Pod");
  json pod = json::parse(R"({"spec": {"containers": [{"name": "c", "image": "x",
    "resources": {"limits": {"cpu": "500m", "memory": "1Gi"},
                  "requests": {"cpu": "1", "memory": "lots"}}}]}})");
  EXPECT_EQ(check(k, pod),
            (Lines{"spec.containers[0].resources.requests[cpu]: Invalid value: \"1\": must be less "
                   "than or equal to cpu limit of 500m",
                   "spec.containers[0].resources.requests[memory]: Invalid value: \"lots\": "
                   "quantities must match the regular expression "
                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"}));
  json neg = json::parse(R"({"spec": {"containers": [{"name": "c", "image": "x",
    "resources": {"requests": {"cpu": "-1"}}}]}})");
  EXPECT_EQ(check(k, neg), Lines{"spec.containers[0].resources.requests[cpu]: Invalid value: "
                                 "\"-1\": must be greater than or equal to 0"});
  json ok = json::parse(R"({"spec": {"containers": [{"name": "c", "image": "x",
    "resources": {"limits": {"cpu": "1", "memory": "1e9"}, "requests": {"cpu": "100m", "memory": "128Mi"}}}]}})");
  EXPECT_EQ(check(k, ok), Lines{});
}

TEST(Validation, PodRestartPolicyAndVolumes) {
  const KindSpec& k = spec("", "v1", "Pod");
  json pod = json::parse(R"({"spec": {"restartPolicy": "Sometimes",
    "containers": [{"name": "c", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}})");
  EXPECT_EQ(check(k, pod),
            (Lines{"spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
                   "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                   "\"Always\", \"OnFailure\", \"Never\""}));
}

TEST(Validation, PodVolumeSourcesHostNetworkDnsAndEnvNames) {
  const KindSpec& k = spec("", "v1", "Pod");
  json p = json::parse(R"({"metadata": {"name": "p"}, "spec": {
      "hostNetwork": true, "dnsPolicy": "None",
      "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}],
                      "env": [{"name": "A=B", "value": "1"}, {"name": "ok.name-1", "value": "2"}]}],
      "volumes": [{"name": "both", "emptyDir": {}, "hostPath": {"path": "/x"}},
                  {"name": "none"}]}})");
  EXPECT_EQ(check(k, p),
            (Lines{"spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type",
                   "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment "
                   "variable name must consist only of printable ASCII characters other than '='",
                   "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is "
                   "None",
                   "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match "
                   "`containerPort` when `hostNetwork` is true"}));
  // A volume without a source is an emptyDir.
  EXPECT_EQ(defaulted(k, p)["spec"]["volumes"][1],
            json::parse(R"({"name": "none", "emptyDir": {}})"));
}

TEST(Validation, PodProbes) {
  const KindSpec& k = spec("", "v1", "Pod");
  json pod = json::parse(R"({"spec": {"containers": [{"name": "c", "image": "x",
    "livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}, "successThreshold": 2},
    "readinessProbe": {"httpGet": {"port": "Bad_Name", "scheme": "FTP"}, "terminationGracePeriodSeconds": 5},
    "startupProbe": {"periodSeconds": 1}}]}})");
  EXPECT_EQ(check(k, pod),
            (Lines{"spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                   "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                   "spec.containers[0].readinessProbe.httpGet.port: Invalid value: \"Bad_Name\": must contain only "
                   "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                   "spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported "
                   "values: \"HTTP\", \"HTTPS\"",
                   "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must "
                   "not be set for readinessProbes",
                   "spec.containers[0].startupProbe: Required value: must specify a handler type"}));
  json ok = json::parse(R"({"spec": {"containers": [{"name": "c", "image": "x",
    "ports": [{"name": "http", "containerPort": 8080}],
    "readinessProbe": {"httpGet": {"port": "http"}, "successThreshold": 3},
    "livenessProbe": {"tcpSocket": {"port": 8080}, "terminationGracePeriodSeconds": 3}}]}})");
  EXPECT_EQ(check(k, ok), Lines{});
}

TEST(Validation, PodUpdatesOnlyChangeMutableFields) {
  const KindSpec& k = spec("", "v1", "Pod");
  json old = defaulted(k, json::parse(R"({"spec": {"containers": [{"name": "c", "image": "nginx:1"}],
      "tolerations": [{"key": "a", "operator": "Exists"}]}})"));
  json image = old;
  image["spec"]["containers"][0]["image"] = "nginx:2";
  image["spec"]["activeDeadlineSeconds"] = 30;
  image["spec"]["tolerations"].push_back({{"key", "b"}, {"operator", "Exists"}});
  EXPECT_EQ(causeLines(k.validate(image, &old)), Lines{});

  json bound = old;
  bound["spec"]["nodeName"] = "node-1";
  EXPECT_EQ(causeLines(k.validate(bound, &old)), Lines{});

  json env = old;
  env["spec"]["containers"][0]["env"] = json::array({{{"name", "A"}, {"value", "1"}}});
  auto causes = k.validate(env, &old);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].field, "spec");
  EXPECT_EQ(causes[0].reason, "FieldValueForbidden");
  EXPECT_EQ(causes[0].message.rfind("Forbidden: pod updates may not change fields other than "
                                    "`spec.containers[*].image`",
                                    0),
            0u);

  json removedToleration = old;
  removedToleration["spec"]["tolerations"] = json::array();
  EXPECT_EQ(k.validate(removedToleration, &old).size(), 1u);
}

TEST(Validation, CauseReasons) {
  json d = deployment();
  d["spec"]["replicas"] = -2;
  d["spec"]["template"]["spec"]["containers"][0].erase("image");
  d["spec"]["strategy"] = {{"type", "Nope"}};
  auto causes = spec("apps", "v1", "Deployment").validate(defaulted(spec("apps", "v1", "Deployment"), d), nullptr);
  std::vector<std::string> reasons;
  for (const auto& c : causes) reasons.push_back(c.reason);
  EXPECT_EQ(reasons, (Lines{"FieldValueInvalid", "FieldValueRequired", "FieldValueNotSupported"}));
}

TEST(Validation, JobRestartPolicyAndImmutability) {
  const KindSpec& k = spec("batch", "v1", "Job");
  json job = json::parse(R"({"metadata": {"name": "pi", "uid": "u1"},
    "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}})");
  EXPECT_EQ(check(k, job), Lines{"spec.template.spec.restartPolicy: Unsupported value: "
                                 "\"Always\": supported values: \"OnFailure\", \"Never\""});
  job["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  job["spec"]["backoffLimit"] = -1;
  EXPECT_EQ(check(k, job),
            Lines{"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"});
  job["spec"]["backoffLimit"] = 4;
  json old = defaulted(k, job);
  EXPECT_EQ(causeLines(k.validate(old, &old)), Lines{});
  json changed = old;
  changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5";
  auto lines = causeLines(k.validate(changed, &old));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("spec.template: Invalid value: ", 0), 0u);
  EXPECT_NE(lines[0].find(": field is immutable"), std::string::npos);
  json sel = old;
  sel["spec"]["selector"]["matchLabels"]["x"] = "y";
  sel["spec"]["template"]["metadata"]["labels"]["x"] = "y";
  lines = causeLines(k.validate(sel, &old));
  ASSERT_GE(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"
            "\"batch.kubernetes.io/controller-uid\":\"u1\", \"x\":\"y\"}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");
}

TEST(Validation, Service) {
  const KindSpec& k = spec("", "v1", "Service");
  EXPECT_EQ(check(k, json{{"spec", {{"selector", {{"app", "w"}}}}}}), Lines{"spec.ports: Required value"});
  EXPECT_EQ(check(k, json{{"spec", {{"clusterIP", "None"}}}}), Lines{});
  EXPECT_EQ(check(k, json{{"spec", {{"type", "ExternalName"}, {"externalName", "db.example.com"}}}}),
            Lines{});
  EXPECT_EQ(check(k, json{{"spec", {{"type", "ExternalName"}}}}), Lines{"spec.externalName: Required value"});
  EXPECT_EQ(check(k, json{{"spec", {{"type", "Weird"}, {"ports", {{{"port", 80}}}}}}}),
            Lines{"spec.type: Unsupported value: \"Weird\": supported values: \"ClusterIP\", "
                  "\"ExternalName\", \"LoadBalancer\", \"NodePort\""});
  json ports = json::parse(R"({"spec": {"type": "NodePort", "ports": [
      {"name": "http", "port": 80, "nodePort": 80},
      {"name": "http", "port": 0},
      {"port": 443}]}})");
  EXPECT_EQ(check(k, ports),
            (Lines{"spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid "
                   "range. The range of valid ports is 30000-32767",
                   "spec.ports[1].name: Duplicate value: \"http\"",
                   "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                   "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, "
                   "inclusive",
                   "spec.ports[2].name: Required value"}));
  json cip = json::parse(R"({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})");
  EXPECT_EQ(check(k, cip), Lines{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"});

  json old = defaulted(k, json::parse(R"({"spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}})"));
  json changed = old;
  changed["spec"]["clusterIP"] = "10.96.0.11";
  changed["spec"]["clusterIPs"] = json::array({"10.96.0.11"});
  EXPECT_EQ(causeLines(k.validate(changed, &old)),
            Lines{"spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change "
                  "once set"});
  json unset = old;
  unset["spec"].erase("clusterIP");
  unset["spec"].erase("clusterIPs");
  EXPECT_EQ(causeLines(k.validate(unset, &old)), Lines{});
  EXPECT_EQ(causeLines(k.validate(old, &old)), Lines{});
}

TEST(Validation, ConfigMapAndSecret) {
  const KindSpec& cm = spec("", "v1", "ConfigMap");
  EXPECT_EQ(check(cm, json{{"data", {{"a/b", "x"}, {"good.key", "y"}}}}),
            Lines{"data[a/b]: Invalid value: \"a/b\": a valid config key must consist of "
                  "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                  "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"});
  json old = {{"immutable", true}, {"data", {{"a", "1"}}}};
  json changed = {{"immutable", true}, {"data", {{"a", "2"}}}};
  EXPECT_EQ(causeLines(cm.validate(changed, &old)),
            Lines{"data: Forbidden: field is immutable when `immutable` is set"});
  EXPECT_EQ(causeLines(cm.validate(old, &old)), Lines{});
  json big = {{"data", {{"a", std::string(1024 * 1024 + 1, 'x')}}}};
  auto causes = cm.validate(big, nullptr);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].reason, "FieldValueTooLong");
  EXPECT_EQ(causes[0].field, "[]");
  EXPECT_EQ(causes[0].message, "Too long: may not be more than 1048576 bytes");

  const KindSpec& secret = spec("", "v1", "Secret");
  EXPECT_EQ(check(secret, json{{"type", "kubernetes.io/tls"}, {"data", {{"tls.crt", "eA=="}}}}),
            Lines{"data[tls.key]: Required value"});
  json sOld = defaulted(secret, json{{"data", {{"k", "eA=="}}}});
  json sNew = sOld;
  sNew["type"] = "kubernetes.io/basic-auth";
  sNew["data"]["username"] = "eA==";
  EXPECT_EQ(causeLines(secret.validate(sNew, &sOld)),
            Lines{"type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"});
  json bigSecret = {{"type", "Opaque"},
                    {"data", {{"a", base64Encode(std::string(1024 * 1024 + 1, 'x'))}}}};
  EXPECT_EQ(causeLines(secret.validate(bigSecret, nullptr)),
            Lines{"data: Too long: may not be more than 1048576 bytes"});
}

TEST(Validation, NamespaceNameIsALabel) {
  const KindSpec& k = spec("", "v1", "Namespace");
  EXPECT_EQ(check(k, json{{"metadata", {{"name", "team-a"}}}}), Lines{});
  auto lines = check(k, json{{"metadata", {{"name", "team.a"}}}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("metadata.name: Invalid value: \"team.a\": a lowercase RFC 1123 label", 0), 0u);
}

TEST(Validation, DaemonSetAndReplicaSet) {
  json ds = deployment();
  ds["spec"]["updateStrategy"] = {{"type", "RollingUpdate"},
                                  {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", 0}}}};
  EXPECT_EQ(check(spec("apps", "v1", "DaemonSet"), ds),
            Lines{"spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 "
                  "when maxSurge is 0"});
  // Surge needs maxUnavailable 0 (the default is 1): exactly one of the two is non-zero.
  ds["spec"]["updateStrategy"]["rollingUpdate"] = {{"maxUnavailable", 1}, {"maxSurge", "20%"}};
  EXPECT_EQ(check(spec("apps", "v1", "DaemonSet"), ds),
            Lines{"spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 20%: may not be set "
                  "when maxUnavailable is non-zero"});
  ds["spec"]["updateStrategy"]["rollingUpdate"] = {{"maxUnavailable", "0%"}, {"maxSurge", 2}};
  EXPECT_EQ(check(spec("apps", "v1", "DaemonSet"), ds), Lines{});
  json rs = deployment();
  rs["spec"]["selector"] = json::parse(R"({"matchLabels": {"app": "nope"}})");
  EXPECT_EQ(check(spec("apps", "v1", "ReplicaSet"), rs),
            Lines{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: "
                  "`selector` does not match template `labels`"});
}

TEST(Validation, BerthKinds) {
  const KindSpec& ng = spec("berth.dev", "v1alpha1", "NodeGroup");
  EXPECT_EQ(check(ng, json{{"metadata", {{"name", "ng"}}}}), Lines{});
  EXPECT_EQ(check(ng, json{{"spec", {{"capacityType", "CHEAP"},
                                      {"scaling", {{"minSize", 1}, {"maxSize", 3}, {"desiredSize", 5}}}}}}),
            (Lines{"spec.capacityType: Unsupported value: \"CHEAP\": supported values: "
                   "\"ON_DEMAND\", \"SPOT\"",
                   "spec.scaling.desiredSize: Invalid value: 5: must be less than or equal to "
                   "maxSize (3)"}));
  // Instance types come from the catalogue; an unknown one names the nearest valid names.
  EXPECT_EQ(check(ng, json{{"spec", {{"instanceTypes", {"m5.large", "c5.larg"}}}}}),
            Lines{"spec.instanceTypes[1]: Invalid value: \"c5.larg\": unknown instance type "
                  "(nearest: c5.large, m5.large, c5.xlarge, c5a.large)"});
  EXPECT_EQ(check(ng, json{{"spec", {{"instancesDistribution", {{"instanceTypes", {"m9.large"}}}}}}}).size(), 1u);
  // spec.userData: a shell script, a NodeConfig or a MIME multipart of those; others refused.
  EXPECT_EQ(check(ng, json{{"spec", {{"userData", "#!/bin/sh\necho hi\n"}}}}), Lines{});
  EXPECT_EQ(check(ng, json{{"spec", {{"userData", "MIME-Version: 1.0\nContent-Type: text/plain\n\nx\n"}}}}),
            Lines{"spec.userData: Invalid value: (46 bytes): Content-Type must be multipart/mixed, got "
                  "\"text/plain\""});
  json old = defaulted(ng, json::object());
  json spot = old;
  spot["spec"]["capacityType"] = "SPOT";
  EXPECT_EQ(causeLines(ng.validate(spot, &old)),
            Lines{"spec.capacityType: Invalid value: \"SPOT\": field is immutable"});

  const KindSpec& fp = spec("berth.dev", "v1alpha1", "FargateProfile");
  EXPECT_EQ(check(fp, json::object()), Lines{"spec.selectors: Required value"});
  EXPECT_EQ(check(fp, json{{"spec", {{"selectors", {{{"labels", {{"a", "b"}}}}}}}}}),
            Lines{"spec.selectors[0].namespace: Required value"});
}

TEST(Validation, MiscKinds) {
  EXPECT_EQ(check(spec("autoscaling", "v2", "HorizontalPodAutoscaler"),
                  json::parse(R"({"spec": {"minReplicas": 5, "maxReplicas": 2,
                     "scaleTargetRef": {"kind": "Deployment", "name": "web"}}})")),
            Lines{"spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"});
  EXPECT_EQ(check(spec("policy", "v1", "PodDisruptionBudget"),
                  json::parse(R"({"spec": {"minAvailable": 1, "maxUnavailable": "10%"}})")),
            Lines{"spec: Invalid value: {\"maxUnavailable\":\"10%\",\"minAvailable\":1}: "
                  "minAvailable and maxUnavailable cannot be both set"});
  EXPECT_EQ(check(spec("coordination.k8s.io", "v1", "Lease"),
                  json{{"spec", {{"leaseDurationSeconds", 0}}}}),
            Lines{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"});
  EXPECT_EQ(check(spec("discovery.k8s.io", "v1", "EndpointSlice"), json::object()),
            Lines{"addressType: Required value"});
}

}  // namespace
}  // namespace berth::apiserver
