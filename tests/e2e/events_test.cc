// End-to-end: Events written by client::EventRecorder (in this process, over HTTPS) against the
// real `berth server`, read back with the real kubectl: `describe pod`, `describe node` (which
// select events by involvedObject fields) and `get events`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/event_recorder.h"
#include "client/rest_client.h"
#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

const char* kPod = R"(apiVersion: v1
kind: Pod
metadata:
  name: ev-pod
  namespace: evns
spec:
  schedulerName: not-scheduled-here
  containers:
  - name: c
    image: busybox
)";

const char* kNode = R"(apiVersion: v1
kind: Node
metadata:
  name: ev-node
)";

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(std::vector<std::string>{"--controllers", "none"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    auto c = client::RestClient::fromKubeconfig(server_->kubeconfig());
    ASSERT_TRUE(c.isOk()) << c.status().toString();
    client_ = std::move(c).value();
  }
  void TearDown() override {
    client_.reset();
    if (server_) EXPECT_EQ(server_->stop(), 0);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = server_->kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << ": " << r.err;
    return r.out;
  }
  // The object as the informer would hand it to a controller (kind and apiVersion set).
  json object(const std::vector<std::string>& get_args, const std::string& kind) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), get_args.begin(), get_args.end());
    args.insert(args.end(), {"-o", "json"});
    json o = json::parse(ok(args));
    o["kind"] = kind;
    o["apiVersion"] = "v1";
    return o;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<client::RestClient> client_;
};

TEST_F(EventsTest, DescribeAndGetShowRecordedEventsWithCounts) {
  ok({"create", "namespace", "evns"});
  ok({"apply", "-f", "-"}, kPod);
  ok({"apply", "-f", "-"}, kNode);
  json pod = object({"-n", "evns", "pod", "ev-pod"}, "Pod");
  json node = object({"node", "ev-node"}, "Node");

  client::EventRecorder rec(client_.get(), "default-scheduler", "");
  rec.event(pod, client::EventRecorder::Type::kWarning, "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.");
  rec.event(pod, client::EventRecorder::Type::kWarning, "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.");
  rec.event(pod, client::EventRecorder::Type::kNormal, "Scheduled",
            "Successfully assigned evns/ev-pod to ev-node");
  rec.event(node, client::EventRecorder::Type::kNormal, "NodeNotSchedulable",
            "Node ev-node status is now: NodeNotSchedulable");
  rec.flush();

  // Two FailedScheduling occurrences are one Event with count 2.
  json events = json::parse(ok({"get", "events", "-n", "evns", "-o", "json"}));
  ASSERT_EQ(events["items"].size(), 2u) << events.dump();
  for (const auto& e : events["items"]) {
    EXPECT_EQ(e["involvedObject"]["uid"], pod["metadata"]["uid"]);
    EXPECT_EQ(e["source"]["component"], "default-scheduler");
    if (e["reason"] == "FailedScheduling") EXPECT_EQ(e["count"], 2);
    else EXPECT_EQ(e["count"], 1);
  }

  std::string describe = ok({"describe", "pod", "-n", "evns", "ev-pod"});
  EXPECT_NE(describe.find("Warning  FailedScheduling"), std::string::npos) << describe;
  EXPECT_NE(describe.find("0/3 nodes are available: 3 Insufficient cpu."), std::string::npos)
      << describe;
  EXPECT_NE(describe.find("(x2 over"), std::string::npos) << describe;
  EXPECT_NE(describe.find("Successfully assigned evns/ev-pod to ev-node"), std::string::npos)
      << describe;
  EXPECT_NE(describe.find("default-scheduler"), std::string::npos) << describe;

  std::string node_describe = ok({"describe", "node", "ev-node"});
  EXPECT_NE(node_describe.find("NodeNotSchedulable"), std::string::npos) << node_describe;
  EXPECT_EQ(node_describe.find("FailedScheduling"), std::string::npos) << node_describe;

  std::string table = ok({"get", "events", "-n", "evns"});
  EXPECT_NE(table.find("pod/ev-pod"), std::string::npos) << table;
  EXPECT_NE(table.find("FailedScheduling"), std::string::npos) << table;
  std::string node_events = ok({"get", "events", "-n", "default"});
  EXPECT_NE(node_events.find("node/ev-node"), std::string::npos) << node_events;
}

}  // namespace
}  // namespace berth::e2e
