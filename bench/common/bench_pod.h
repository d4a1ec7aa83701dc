// The pod the API benchmarks create: a realistic ~2 KB pod with labels, annotations, one
// container with env, ports, resources and a probe, a volume and tolerations.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace berth::bench {

// The tolerations the DefaultTolerationSeconds admission gives every pod.
inline nlohmann::json defaultTolerations() {
  nlohmann::json out = nlohmann::json::array();
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
    out.push_back({{"key", key},
                   {"operator", "Exists"},
                   {"effect", "NoExecute"},
                   {"tolerationSeconds", 300}});
  return out;
}

inline nlohmann::json podTemplate(const std::string& ns) {
  using nlohmann::json;
  json env = json::array();
  for (auto [k, v] : std::vector<std::pair<const char*, const char*>>{
           {"DB_HOST", "postgres.payments.svc.cluster.local"},
           {"DB_PORT", "5432"},
           {"DB_NAME", "checkout"},
           {"REDIS_URL", "redis://redis.payments.svc.cluster.local:6379/0"},
           {"LOG_LEVEL", "info"},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability:4317"},
           {"FEATURE_FLAGS", "fast-checkout,new-pricing,async-receipts"}})
    env.push_back({{"name", k}, {"value", v}});
  env.push_back(
      {{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
  env.push_back(
      {{"name", "POD_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}});
  json container = {
      {"name", "app"},
      {"image", "registry.example.com/payments/checkout:v1.14.2"},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", {"/app/checkout"}},
      {"args", {"--config=/etc/checkout/config.yaml", "--log-level=info", "--port=8080"}},
      {"ports",
       {{{"name", "http"}, {"containerPort", 8080}, {"protocol", "TCP"}},
        {{"name", "metrics"}, {"containerPort", 9090}, {"protocol", "TCP"}}}},
      {"env", env},
      {"resources",
       {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}},
        {"limits", {{"cpu", "1"}, {"memory", "512Mi"}}}}},
      {"volumeMounts", {{{"name", "config"}, {"mountPath", "/etc/checkout"}, {"readOnly", true}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", 8080}}},
        {"initialDelaySeconds", 5},
        {"periodSeconds", 10}}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", "x"},
            {"namespace", ns},
            {"labels",
             {{"app", "checkout"},
              {"tier", "backend"},
              {"version", "v1.14.2"},
              {"team", "payments"},
              {"environment", "production"},
              {"pod-template-hash", "7d9f8c6b5d"}}},
            {"annotations",
             {{"prometheus.io/scrape", "true"},
              {"prometheus.io/port", "9090"},
              {"kubectl.kubernetes.io/default-container", "app"}}}}},
          {"spec",
           {{"containers", {container}},
            {"volumes", {{{"name", "config"}, {"configMap", {{"name", "checkout-config"}}}}}},
            {"restartPolicy", "Always"},
            {"terminationGracePeriodSeconds", 30},
            {"dnsPolicy", "ClusterFirst"},
            {"serviceAccountName", "default"},
            {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
            {"tolerations", defaultTolerations()}}}};
}

}  // namespace berth::bench
