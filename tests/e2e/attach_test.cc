// End-to-end: interactive containers through the real kubectl and `berth agent --runtime
// process`: `kubectl run -i --rm --restart=Never` with commands piped on stdin (output, the
// exit code kubectl reports, the pod deleted), `kubectl attach -i` to a stdin: true /
// stdinOnce: true pod, and with a terminal (kubectl needs one for -t: it runs under
// `script -qec` on a pseudo-terminal of a known size) `kubectl run -it` and `kubectl exec -it`,
// whose `stty size` inside proves the container has a terminal that took kubectl's size. The
// runc runtime's side of the same flows is in e2e-agent (root, local registry).
#include <gtest/gtest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

constexpr char kNode[] = "attach-proc-1";

class AttachTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server({"--controllers", "scheduler,namespace"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    root_ = new std::string(makeTempDir("berth-attach-root-"));
    agent_ = new Child({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime",
                        "process", "--kubelet-port", "0", "--node-name", kNode, "--root-dir", *root_});
    ASSERT_TRUE(agent_->waitFor("berth agent running", std::chrono::seconds(60)));
    auto r = server_->kubectl({"wait", "--for=condition=Ready", std::string("node/") + kNode, "--timeout=60s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    if (agent_) {
      agent_->kill(SIGTERM);
      EXPECT_EQ(agent_->wait(), 0);
      delete agent_;
    }
    EXPECT_EQ(server_->stop(), 0);
    delete server_;
    if (root_) std::filesystem::remove_all(*root_);
    delete root_;
  }
  static std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = server_->kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " failed: " << r.err;
    return r.out;
  }
  // Runs kubectl `args` under `script` on a pseudo-terminal of 33 rows and 77 columns, with
  // `input` typed into it.
  static CmdResult kubectlOnTerminal(const std::vector<std::string>& args, const std::string& input) {
    std::string cmd = "stty rows 33 cols 77; exec";
    for (const auto& a : server_->kubectlArgv(args)) cmd += " '" + a + "'";
    return run({"script", "-qec", cmd, "/dev/null"}, input, server_->kubectlEnv(), std::chrono::seconds(120));
  }
  static void expectDeleted(const std::string& pod) {
    ok({"wait", "--for=delete", "pod/" + pod, "--timeout=60s"});
    auto r = server_->kubectl({"get", "pod", pod});
    EXPECT_NE(r.err.find("NotFound"), std::string::npos) << r.out << r.err;
  }

  static Server* server_;
  static Child* agent_;
  static std::string* root_;
};

Server* AttachTest::server_ = nullptr;
Child* AttachTest::agent_ = nullptr;
std::string* AttachTest::root_ = nullptr;

TEST_F(AttachTest, RunInteractivePipesStdinAndReportsTheExitCode) {
  // "$((6*7))" is computed by the container's shell: 42 in the output is its answer, not our input.
  auto r = server_->kubectl({"run", "-i", "--rm", "--restart=Never", "piped", "--image=busybox", "--", "sh"},
                            "echo answer $((6*7)); echo oops >&2; exit 3\n");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("answer 42"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("oops"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pod default/piped terminated (Error)"), std::string::npos) << r.err;
  expectDeleted("piped");

  // A clean end is exit code 0 for kubectl too.
  r = server_->kubectl({"run", "-i", "--rm", "--restart=Never", "clean", "--image=busybox", "--", "sh"},
                       "echo fine $((1+1))\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("fine 2"), std::string::npos) << r.out << r.err;
  expectDeleted("clean");
}

TEST_F(AttachTest, AttachFeedsAStdinPodAndStdinOnceClosesIt) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "reader"}, {"namespace", "default"}}},
              {"spec",
               {{"restartPolicy", "Never"},
                {"containers", json::array({{{"name", "app"},
                                             {"image", "busybox"},
                                             {"command", json::array({"sh", "-c", "cat; echo eof-seen"})},
                                             {"stdin", true},
                                             {"stdinOnce", true}}})}}}};
  ok({"apply", "-f", "-"}, pod.dump());
  ok({"wait", "--for=condition=Ready", "pod/reader", "--timeout=60s"});
  // cat echoes the input back; the end of kubectl's input closes cat's stdin (stdinOnce), so the
  // container ends, and with it the attachment.
  auto r = server_->kubectl({"attach", "-i", "reader", "-c", "app"}, "first line\nsecond line\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("first line\nsecond line\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eof-seen"), std::string::npos) << r.out;
  ok({"wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/reader", "--timeout=60s"});
  EXPECT_NE(ok({"logs", "reader"}).find("second line"), std::string::npos);
  ok({"delete", "pod", "reader", "--timeout=60s"});
}

TEST_F(AttachTest, AttachEndsWithItsInputWhenStdinStaysOpen) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "echoer"}, {"namespace", "default"}}},
              {"spec",
               {{"containers", json::array({{{"name", "app"},
                                             {"image", "busybox"},
                                             {"command", json::array({"sh", "-c", "while read l; do echo got $l; done"})},
                                             {"stdin", true}}})}}}};
  ok({"apply", "-f", "-"}, pod.dump());
  ok({"wait", "--for=condition=Ready", "pod/echoer", "--timeout=60s"});
  // Without stdinOnce the end of kubectl's input ends the attachment (it would otherwise follow
  // until the container stops), and the container's stdin stays open for the next one.
  auto r = run(server_->kubectlArgv({"attach", "-i", "echoer"}), "first\n", server_->kubectlEnv(),
               std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run(server_->kubectlArgv({"attach", "-i", "echoer"}), "second\n", server_->kubectlEnv(),
          std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ok({"wait", "--for=condition=Ready", "pod/echoer", "--timeout=10s"});
  // Both inputs reached the same shell (its log; the attachments may end before its answers).
  Child logs(server_->kubectlArgv({"logs", "-f", "echoer"}), server_->kubectlEnv());
  std::string seen;
  EXPECT_TRUE(logs.waitFor("got first", std::chrono::seconds(30), &seen)) << seen;
  EXPECT_TRUE(logs.waitFor("got second", std::chrono::seconds(30), &seen)) << seen;
  logs.kill(SIGTERM);
  logs.wait();
  ok({"delete", "pod", "echoer", "--timeout=60s"});
}

TEST_F(AttachTest, RunWithATerminalGetsKubectlsSize) {
  auto r = kubectlOnTerminal({"run", "-it", "--rm", "--restart=Never", "term", "--image=busybox", "--", "sh"},
                             "stty size; echo answer $((6*7)); exit 3\n");
  // `script -e` exits with kubectl's code.
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  // The container's terminal has the size of kubectl's (set at attach, a resize on the master).
  EXPECT_NE(r.out.find("33 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answer 42"), std::string::npos) << r.out;
  expectDeleted("term");
}

TEST_F(AttachTest, ExecWithATerminal) {
  ok({"run", "--restart=Never", "sleeper", "--image=busybox", "--", "sleep", "300"});
  ok({"wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s"});
  auto r = kubectlOnTerminal({"exec", "-it", "sleeper", "--", "sh"}, "stty size; tty; exit 4\n");
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("33 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
  ok({"delete", "pod", "sleeper", "--timeout=60s"});
}

}  // namespace
}  // namespace berth::e2e
