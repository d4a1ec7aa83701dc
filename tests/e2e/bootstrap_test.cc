// End-to-end: a self-managed node joins through user-data, as on EKS with a bootstrap token
// instead of IAM. The real kubectl applies a NodeGroup, `berth nodegroup user-data` prints its
// user-data, and `berth agent --user-data` (no kubeconfig) runs the shell part, gets a client
// certificate through a CSR the csr controller approves and signs, and registers the node with
// the group's labels, taints and maxPods. Bad tokens are refused with the reason; a bootstrap
// token user may only deal with CSRs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;

class BootstrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // tokencleaner is left out so an expired token is still there to be refused as expired.
    server_ = std::make_unique<Server>(std::vector<std::string>{"--controllers", "csr"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    root_ = makeTempDir("berth-bootstrap-root-");
  }
  void TearDown() override {
    if (server_) EXPECT_EQ(server_->stop(), 0);
    fs::remove_all(root_);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = server_->kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " failed: " << r.err;
    return r.out;
  }
  // kubectl as a bearer token user (no client certificate).
  CmdResult asToken(const std::string& token, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig=/dev/null", "--server", server_->url(),
                                     "--certificate-authority", server_->dataDir() + "/pki/ca.crt",
                                     "--token", token};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", {"HOME=" + root_});
  }
  // `berth nodegroup user-data NAME` into a file; returns its path.
  std::string userData(const std::string& group) {
    auto r = run({berthBinary(), "nodegroup", "user-data", group, "--kubeconfig", server_->kubeconfig()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string path = root_ + "/" + group + ".userdata";
    std::ofstream(path) << r.out;
    return path;
  }
  std::unique_ptr<Server> server_;
  std::string root_;
};

std::string nodeGroup(const std::string& name, const std::string& labels, const std::string& command) {
  return "apiVersion: berth.dev/v1alpha1\nkind: NodeGroup\nmetadata:\n  name: " + name +
         "\nspec:\n  type: self-managed\n  capacityType: SPOT\n  instanceTypes: [m5.large]\n"
         "  labels: " + labels + "\n"
         "  taints: [{key: dedicated, value: blue, effect: NoSchedule}]\n"
         "  maxPods: 17\n"
         "  preBootstrapCommands: ['" + command + "']\n";
}

std::string tokenIn(const std::string& path) {
  std::ifstream f(path);
  std::string line, key = "berth.dev/bootstrap-token: ";
  while (std::getline(f, line))
    if (auto at = line.find(key); at != std::string::npos) return line.substr(at + key.size());
  return "";
}

TEST_F(BootstrapTest, SelfManagedNodeJoinsWithUserDataAndBootstrapToken) {
  std::string marker = root_ + "/pre-bootstrap-ran";
  ok({"apply", "-f", "-"}, nodeGroup("ng-boot", "{team: blue}", "echo joined > " + marker));
  std::string ud = userData("ng-boot");
  std::string token = tokenIn(ud);
  ASSERT_EQ(token.size(), 23u) << "no bootstrap token in the user-data";
  std::string id = token.substr(0, 6);
  EXPECT_EQ(ok({"-n", "kube-system", "get", "secret", "bootstrap-token-" + id, "-o", "jsonpath={.type}"}),
            "bootstrap.kubernetes.io/token");

  std::string kubeconfig = root_ + "/bootnode/kubelet.kubeconfig";
  ASSERT_FALSE(fs::exists(kubeconfig));
  Child agent({berthBinary(), "agent", "--runtime", "process", "--user-data", ud, "--node-name", "bootnode",
               "--root-dir", root_, "--kubelet-port", "0", "--bootstrap-timeout", "60s"});
  ASSERT_TRUE(agent.waitFor("berth agent running", std::chrono::seconds(90))) << "the agent did not join";
  EXPECT_TRUE(fs::exists(kubeconfig));
  EXPECT_TRUE(fs::exists(marker)) << "the pre-bootstrap shell part did not run";
  ok({"wait", "--for=condition=Ready", "node/bootnode", "--timeout=60s"});

  std::string row = ok({"get", "node", "bootnode", "--no-headers", "-L",
                        "eks.amazonaws.com/nodegroup,eks.amazonaws.com/capacityType,karpenter.sh/capacity-type,team"});
  EXPECT_NE(row.find("ng-boot"), std::string::npos) << row;
  EXPECT_NE(row.find("SPOT"), std::string::npos) << row;
  EXPECT_NE(row.find("spot"), std::string::npos) << row;
  EXPECT_NE(row.find("blue"), std::string::npos) << row;
  EXPECT_EQ(ok({"get", "node", "bootnode", "-o",
                "jsonpath={.spec.taints[0].key}={.spec.taints[0].value}:{.spec.taints[0].effect} {.status.capacity.pods}"}),
            "dedicated=blue:NoSchedule 17");

  // The CSR the node made with the token: requested by system:bootstrap:<id>, approved, issued.
  std::string csrs = ok({"get", "csr", "--no-headers"});
  EXPECT_NE(csrs.find("system:bootstrap:" + id), std::string::npos) << csrs;
  EXPECT_NE(csrs.find("Approved,Issued"), std::string::npos) << csrs;
  EXPECT_NE(ok({"get", "csr", "-o", "jsonpath={.items[0].status.conditions[0].reason}"}).find("AutoApproved"),
            std::string::npos);

  // A bootstrap token user reads CSRs but nothing else.
  EXPECT_EQ(asToken(token, {"get", "csr"}).exit_code, 0);
  auto pods = asToken(token, {"get", "pods"});
  EXPECT_NE(pods.exit_code, 0);
  EXPECT_NE(pods.err.find("pods is forbidden: User \"system:bootstrap:" + id + "\" cannot list resource \"pods\""),
            std::string::npos) << pods.err;

  agent.kill(SIGTERM);
  EXPECT_EQ(agent.wait(), 0);
}

// kubectl's discovery client drops a 401's message, so these read one resource with --raw, where
// kubectl prints the server's reason.
TEST_F(BootstrapTest, BadTokensAreRefusedWithTheReason) {
  const std::vector<std::string> read = {"get", "--raw", "/apis/certificates.k8s.io/v1/certificatesigningrequests"};
  ok({"-n", "kube-system", "create", "secret", "generic", "bootstrap-token-exp000",
      "--type", "bootstrap.kubernetes.io/token", "--from-literal", "token-id=exp000",
      "--from-literal", "token-secret=0123456789abcdef", "--from-literal", "expiration=2020-01-01T00:00:00Z",
      "--from-literal", "usage-bootstrap-authentication=true"});
  auto expired = asToken("exp000.0123456789abcdef", read);
  EXPECT_NE(expired.exit_code, 0);
  EXPECT_NE(expired.err.find("bootstrap token exp000 has expired"), std::string::npos) << expired.err;
  auto unknown = asToken("nosuch.0123456789abcdef", read);
  EXPECT_NE(unknown.err.find("bootstrap token nosuch is unknown"), std::string::npos) << unknown.err;
  auto garbage = asToken("garbage", read);
  EXPECT_NE(garbage.exit_code, 0);
  EXPECT_NE(garbage.err.find("bootstrap token is malformed"), std::string::npos) << garbage.err;
}

TEST_F(BootstrapTest, AJoinFailsClearlyOnAFailingShellPartOrAForbiddenSelfLabel) {
  ok({"apply", "-f", "-"}, nodeGroup("ng-fail", "{team: red}", "exit 3"));
  auto r = run({berthBinary(), "agent", "--runtime", "process", "--user-data", userData("ng-fail"),
                "--node-name", "failnode", "--root-dir", root_, "--kubelet-port", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << r.err;

  ok({"apply", "-f", "-"}, nodeGroup("ng-role", "{node-role.kubernetes.io/worker: x}", "true"));
  r = run({berthBinary(), "agent", "--runtime", "process", "--user-data", userData("ng-role"),
           "--node-name", "rolenode", "--root-dir", root_, "--kubelet-port", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("node-role.kubernetes.io/worker"), std::string::npos) << r.err;
  EXPECT_EQ(ok({"get", "nodes", "-o", "name"}), "") << "no node may have joined";
}

}  // namespace
}  // namespace berth::e2e
