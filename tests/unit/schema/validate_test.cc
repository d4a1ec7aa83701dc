// Strict decoding helpers: unknown fields, type errors, duplicate keys, YAML scalars.
#include <gtest/gtest.h>

#include "apiserver/schema/schema.h"
#include "apiserver/schema/validate.h"

namespace berth::apiserver::schema {
namespace {

using nlohmann::json;

const Type& deployment() { return *Registry::get().forKind({"apps", "v1", "Deployment"}); }

TEST(UnknownFieldsTest, FindsMisspelledFields) {
  json d = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","labels":{"anything":"goes"}},
    "spec":{"replicaz":3,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
        {"name":"a","image":"x"},
        {"name":"b","imagee":"y","ports":[{"containerPort":80,"protocl":"TCP"}],
         "resources":{"limits":{"cpu":"1"}}}],
        "volumes":[{"name":"v","nfs":{"server":"s","path":"/"}},{"name":"w","emptyDir":{"medum":"Memory"}}]}},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxSurg":2}}}})");
  auto got = unknownFields(d, deployment());
  std::vector<std::string> want = {
      "spec.replicaz",
      "spec.strategy.rollingUpdate.maxSurg",
      "spec.template.spec.containers[1].imagee",
      "spec.template.spec.containers[1].ports[0].protocl",
      "spec.template.spec.volumes[1].emptyDir.medum",
  };
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

TEST(UnknownFieldsTest, EverydayManifestsAreClean) {
  json pod = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
    "annotations":{"a":"b"},"ownerReferences":[{"apiVersion":"v1","kind":"X","name":"n","uid":"u"}]},
    "spec":{"serviceAccountName":"sa","hostNetwork":false,"dnsPolicy":"ClusterFirst",
      "restartPolicy":"Always","terminationGracePeriodSeconds":30,"priorityClassName":"high",
      "nodeSelector":{"kubernetes.io/os":"linux"},
      "securityContext":{"runAsNonRoot":true,"fsGroup":2000,"seccompProfile":{"type":"RuntimeDefault"}},
      "tolerations":[{"key":"k","operator":"Exists"}],
      "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule",
        "labelSelector":{"matchLabels":{"app":"x"}}}],
      "affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,
        "podAffinityTerm":{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchExpressions":[
        {"key":"app","operator":"In","values":["x"]}]}}}]}},
      "initContainers":[{"name":"init","image":"busybox","command":["sh","-c","true"]}],
      "containers":[{"name":"c","image":"nginx","imagePullPolicy":"IfNotPresent","workingDir":"/w",
        "args":["-v"],"stdin":true,"tty":true,"terminationMessagePath":"/dev/termination-log",
        "terminationMessagePolicy":"File",
        "ports":[{"name":"http","containerPort":80,"protocol":"TCP"}],
        "env":[{"name":"A","value":"1"},{"name":"B","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},
               {"name":"C","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu","divisor":"1m"}}}],
        "envFrom":[{"configMapRef":{"name":"cm"},"prefix":"X_"}],
        "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"memory":"128Mi"}},
        "volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true}],
        "livenessProbe":{"httpGet":{"path":"/","port":"http","httpHeaders":[{"name":"h","value":"v"}]},
          "initialDelaySeconds":3,"periodSeconds":10},
        "readinessProbe":{"tcpSocket":{"port":80}},"startupProbe":{"exec":{"command":["true"]}},
        "lifecycle":{"preStop":{"exec":{"command":["sleep","5"]}},"postStart":{"httpGet":{"port":80}}},
        "securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},
          "readOnlyRootFilesystem":true}}],
      "volumes":[{"name":"data","persistentVolumeClaim":{"claimName":"c"}},
        {"name":"cfg","configMap":{"name":"cm","items":[{"key":"a","path":"a"}]}},
        {"name":"sec","secret":{"secretName":"s","defaultMode":420}},
        {"name":"tmp","emptyDir":{"sizeLimit":"1Gi"}},{"name":"h","hostPath":{"path":"/var","type":"Directory"}},
        {"name":"p","projected":{"sources":[{"serviceAccountToken":{"path":"t","expirationSeconds":3600}},
          {"downwardAPI":{"items":[{"path":"l","fieldRef":{"fieldPath":"metadata.labels"}}]}}]}},
        {"name":"d","downwardAPI":{"items":[{"path":"n","fieldRef":{"fieldPath":"metadata.name"}}]}},
        {"name":"g","grpc_unknown_source":{}}]}})");
  // The last volume source is not one we describe: volumes preserve unknown sources.
  EXPECT_EQ(unknownFields(pod, *Registry::get().forKind({"", "v1", "Pod"})),
            std::vector<std::string>{});
  json svc = json::parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"type":"NodePort","selector":{"app":"x"},"ports":[{"name":"http","port":80,
    "targetPort":"http","nodePort":30080,"protocol":"TCP"}],"sessionAffinity":"None",
    "externalTrafficPolicy":"Local","ipFamilyPolicy":"SingleStack"}})");
  EXPECT_TRUE(unknownFields(svc, *Registry::get().forKind({"", "v1", "Service"})).empty());
}

TEST(TypeErrorsTest, ReportsMismatches) {
  json d = json::parse(R"({"metadata":{"name":5,"labels":{"a":true}},
    "spec":{"replicas":"3","paused":"yes","minReadySeconds":1.5,"revisionHistoryLimit":null,
    "strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":1.5}},
    "template":{"spec":{"containers":{"name":"x"}}}}})");
  auto causes = typeErrors(d, deployment());
  std::map<std::string, std::string> by_field;
  for (const auto& c : causes) {
    EXPECT_EQ(c.reason, "FieldValueTypeInvalid");
    by_field[c.field] = c.message;
  }
  EXPECT_EQ(by_field.size(), 7u);
  EXPECT_EQ(by_field["spec.replicas"], "spec.replicas: expected integer, got string \"3\"");
  EXPECT_TRUE(by_field.count("metadata.name"));
  EXPECT_TRUE(by_field.count("metadata.labels.a"));
  EXPECT_TRUE(by_field.count("spec.paused"));
  EXPECT_TRUE(by_field.count("spec.minReadySeconds"));
  EXPECT_TRUE(by_field.count("spec.strategy.rollingUpdate.maxUnavailable"));
  EXPECT_TRUE(by_field.count("spec.template.spec.containers"));
  EXPECT_TRUE(typeErrors(json::parse(R"({"spec":{"replicas":2,"template":{"spec":{"containers":[
    {"resources":{"limits":{"cpu":1,"memory":"1Gi"}}}]}}}})"), deployment()).empty());
}

TEST(ParseJsonStrictTest, ReportsDuplicateKeysAsPaths) {
  std::vector<std::string> dups;
  auto r = parseJsonStrict(R"({"metadata":{"name":"a","name":"b"},
    "spec":{"template":{"spec":{"containers":[{"name":"x"},{"name":"y","image":"1","image":"2"}]}}},
    "spec2":[[{"k":1,"k":2}]]})", &dups);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ((*r)["metadata"]["name"], "b");  // last wins
  EXPECT_EQ(dups, (std::vector<std::string>{"metadata.name",
                                             "spec.template.spec.containers[1].image",
                                             "spec2[0][0].k"}));
  std::vector<std::string> none;
  ASSERT_TRUE(parseJsonStrict(R"({"a":{"x":1},"b":{"x":1},"c":[1,{"x":2}]})", &none).isOk());
  EXPECT_TRUE(none.empty());
}

TEST(ParseJsonStrictTest, SyntaxErrorsAreBadRequests) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1}x", "nul"}) {
    auto r = parseJsonStrict(bad, nullptr);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().code(), Code::kBadRequest);
    EXPECT_NE(r.status().message().find("parse error"), std::string::npos) << r.status().message();
  }
  std::string deep(5000, '[');
  auto r = parseJsonStrict(deep, nullptr);
  EXPECT_FALSE(r.isOk());
}

TEST(YamlToJsonTest, ScalarsFollowYaml11) {
  auto r = yamlToJson(R"(
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  labels: {a: "true", b: "01"}
data:
  bools: [true, false, True, FALSE, yes, No, on, OFF]
  ints: [0, -17, +5, 0x1F, 0o17, 017, 1_000]
  floats: [1.5, -0.25, 1e3, .5]
  nulls: [null, ~, Null, NULL]
  strings: ["true", 'yes', 1.2.3, v1, "", .inf, 2024-01-01, "123"]
  empty:
  big: 18446744073709551615
)");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const json& d = (*r)["data"];
  EXPECT_EQ(d["bools"], json({true, false, true, false, true, false, true, false}));
  EXPECT_EQ(d["ints"], json({0, -17, 5, 31, 15, 15, 1000}));
  EXPECT_EQ(d["floats"], json({1.5, -0.25, 1000.0, 0.5}));
  EXPECT_EQ(d["nulls"], json({nullptr, nullptr, nullptr, nullptr}));
  EXPECT_EQ(d["strings"], json({"true", "yes", "1.2.3", "v1", "", ".inf", "2024-01-01", "123"}));
  EXPECT_TRUE(d["empty"].is_null());
  EXPECT_TRUE(d["ints"][0].is_number_integer());
  EXPECT_EQ(d["big"].get<uint64_t>(), 18446744073709551615ULL);
  EXPECT_EQ((*r)["metadata"]["labels"], json({{"a", "true"}, {"b", "01"}}));
}

TEST(YamlToJsonTest, BlockScalarsAndAnchors) {
  auto r = yamlToJson("a: &x {k: v}\nb: *x\nc: |\n  line1\n  line2\n");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ((*r)["b"], json({{"k", "v"}}));
  EXPECT_EQ((*r)["c"], "line1\nline2\n");
}

TEST(YamlToJsonTest, ErrorsCarryLineAndColumn) {
  auto r = yamlToJson("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("line"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("column"), std::string::npos);
  EXPECT_FALSE(yamlToJson("a: b: c").isOk());
  EXPECT_FALSE(yamlToJson("a: \xff\xfe").isOk());  // invalid UTF-8
  EXPECT_FALSE(yamlToJson(std::string("\0\0\0a: b", 7)).isOk());  // NULs (UTF-32 guess)
  EXPECT_EQ((*yamlToJson("a: \"\\xff\"\n"))["a"], "\xc3\xbf");  // \xff is U+00FF
  EXPECT_TRUE(yamlToJson("a: \"\\u00e9\"\n").isOk());
  EXPECT_FALSE(yamlToJson("? [1]\n: x\n").isOk());  // non-scalar key
}

TEST(YamlToJsonTest, AliasBombIsBounded) {
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    std::string p = "*a" + std::to_string(i - 1);
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + p + ", " + p + ", " + p +
         ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + "]\n";
  }
  auto r = yamlToJson(y);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("too large"), std::string::npos);
}

}  // namespace
}  // namespace berth::apiserver::schema
