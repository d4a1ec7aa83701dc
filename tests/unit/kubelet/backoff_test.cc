#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "kubelet-lite/backoff.h"
#include "kubelet-lite/node_status.h"
#include "kubelet-lite/pod_status_util.h"
#include "kubelet-lite/runtime/cri_log.h"

namespace berth::kubelet {
namespace {

using namespace std::chrono_literals;

TEST(CrashBackoff, FirstRestartImmediateThenDoublingToFiveMinutes) {
  CrashBackoff b;
  TimePoint t(1000s);
  TimePoint until;
  EXPECT_FALSE(b.inBackoff("u/c", t, t, &until));
  b.recordRestart("u/c", t, t, t);
  std::vector<int> delays;
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(b.inBackoff("u/c", t, t, &until));
    delays.push_back(static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(until - t).count()));
    EXPECT_FALSE(b.inBackoff("u/c", t, until, &until));
    b.recordRestart("u/c", t, t + 1s, t + 1s);
  }
  EXPECT_EQ(delays, (std::vector<int>{10, 20, 40, 80, 160, 300, 300, 300}));
}

TEST(CrashBackoff, ResetsAfterTenMinutesRunning) {
  CrashBackoff b;
  TimePoint t(1000s);
  for (int i = 0; i < 4; ++i) b.recordRestart("k", t, t, t);
  EXPECT_EQ(b.currentDelay("k"), 80s);
  b.recordRestart("k", t, t + 601s, t + 601s);
  EXPECT_EQ(b.currentDelay("k"), 10s);
  b.forgetPrefix("k");
  EXPECT_EQ(b.currentDelay("k"), 0s);
}

TEST(CriLog, WritesFullAndPartialRecords) {
  char path[] = "/tmp/berth-crilog-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  {
    CriLogWriter w(fd, "stdout");
    w.write("hello\nwor");
    w.write("ld\n");
    w.write(std::string(CriLogWriter::kMaxLine + 5, 'x'));
    w.flush();
  }
  close(fd);
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  std::remove(path);
  ASSERT_EQ(lines.size(), 4u);
  auto body = [](const std::string& l) { return l.substr(l.find(' ') + 1); };
  EXPECT_EQ(body(lines[0]), "stdout F hello");
  EXPECT_EQ(body(lines[1]), "stdout F world");
  EXPECT_EQ(body(lines[2]).substr(0, 9), "stdout P ");
  EXPECT_EQ(body(lines[3]), "stdout F xxxxx");
  // RFC3339Nano timestamp: 2024-05-01T10:00:00.123456789Z
  EXPECT_EQ(lines[0].find(' '), 30u);
  EXPECT_EQ(lines[0][29], 'Z');
}

TEST(NodeStatus, QuantitiesAndPodCidrs) {
  EXPECT_EQ(*parseCpuMillis("4"), 4000);
  EXPECT_EQ(*parseCpuMillis("250m"), 250);
  EXPECT_EQ(*parseBytes("8Gi"), int64_t{8} << 30);
  EXPECT_EQ(*parseBytes("1G"), 1000000000);
  EXPECT_FALSE(parseBytes("lots").isOk());
  EXPECT_FALSE(parseCpuMillis("4Gi").isOk());
  EXPECT_EQ(podCidrForIndex(3), "10.244.3.0/24");
  EXPECT_EQ(podCidrForIndex(257), "10.245.1.0/24");
  EXPECT_EQ(firstFreePodCidrIndex({"10.244.0.0/24", "10.244.2.0/24"}), 1);
  EXPECT_EQ(podIpInCidr("10.244.3.0/24", 7), "10.244.3.7");
}

TEST(NodeStatus, NodeCarriesLabelsCapacityAndInfo) {
  NodeIdentity id;
  id.name = "n1";
  id.zone = "local-1a";
  id.region = "local-1";
  id.instance_type = "m5.large";
  id.extra_labels = {{"team", "a"}};
  id.internal_ip = "10.0.0.5";
  id.pod_cidr = "10.244.1.0/24";
  id.cpu_millis = 2000;
  id.memory_bytes = int64_t{4} << 30;
  id.runtime_version = "process://0.1.0";
  id.host.architecture = "amd64";
  json n = buildNode(id, TimePoint(1000s));
  const json& l = n["metadata"]["labels"];
  EXPECT_EQ(l["kubernetes.io/hostname"], "n1");
  EXPECT_EQ(l["topology.kubernetes.io/zone"], "local-1a");
  EXPECT_EQ(l["topology.kubernetes.io/region"], "local-1");
  EXPECT_EQ(l["node.kubernetes.io/instance-type"], "m5.large");
  EXPECT_EQ(l["team"], "a");
  EXPECT_EQ(n["spec"]["podCIDR"], "10.244.1.0/24");
  EXPECT_EQ(n["status"]["capacity"]["cpu"], "2");
  EXPECT_EQ(n["status"]["capacity"]["memory"], "4194304Ki");
  EXPECT_EQ(n["status"]["capacity"]["pods"], "110");
  EXPECT_EQ(n["status"]["nodeInfo"]["containerRuntimeVersion"], "process://0.1.0");
  EXPECT_EQ(n["status"]["addresses"][0]["address"], "10.0.0.5");
  EXPECT_EQ(n["status"]["conditions"][3]["type"], "Ready");
}

TEST(PodStatusUtil, QosClass) {
  auto pod = [](const char* res) {
    return json::parse(std::string(R"({"spec":{"containers":[{"name":"a","resources":)") + res + "}]}}");
  };
  EXPECT_EQ(qosClass(pod("{}")), "BestEffort");
  EXPECT_EQ(qosClass(pod(R"({"limits":{"cpu":"1","memory":"1Gi"}})")), "Guaranteed");
  EXPECT_EQ(qosClass(pod(R"({"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}})")), "Burstable");
  EXPECT_EQ(qosClass(pod(R"({"requests":{"cpu":"1"}})")), "Burstable");
}

}  // namespace
}  // namespace berth::kubelet
