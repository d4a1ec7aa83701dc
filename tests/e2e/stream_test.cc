// End-to-end: kubectl logs / exec / port-forward through `berth server` to a kubelet endpoint.
// The kubelet here is fake_kubelet (the real KubeletServer over a runtime fake that runs exec
// commands as host processes and port-forwards to loopback), registered as a Node with
// InternalIP 127.0.0.1 and its port in daemonEndpoints, like an agent would be.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class StreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server();
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    dir_ = new std::string(makeTempDir("stream-kubelet"));
    const char* bin = std::getenv("FAKE_KUBELET_BIN");
    ASSERT_NE(bin, nullptr);
    kubelet_ = new Child({bin, "--ca", server_->dataDir() + "/pki/ca.crt", "--dir", *dir_,
                          "--pod", "default/web/app", "--pod", "default/web/side"});
    std::string line;
    ASSERT_TRUE(kubelet_->waitFor("port=", std::chrono::seconds(30), &line));
    port_ = std::stoi(line.substr(line.find('=') + 1));
    auto node = server_->kubectl({"apply", "-f", "-"}, R"(apiVersion: v1
kind: Node
metadata:
  name: n1
)");
    ASSERT_EQ(node.exit_code, 0) << node.err;
    json status = {{"status",
                    {{"addresses", {{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                     {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", port_}}}}}}}};
    auto st = server_->kubectl({"patch", "node", "n1", "--subresource=status", "--type=merge",
                                "-p", status.dump()});
    ASSERT_EQ(st.exit_code, 0) << st.err;
    auto pod = server_->kubectl({"apply", "-f", "-"}, R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  nodeName: n1
  containers:
  - name: app
    image: busybox
  - name: side
    image: busybox
  - name: restarted
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: pending
  namespace: default
spec:
  nodeSelector:
    stream-test/never: "true"  # stays unscheduled whatever the scheduler does
  containers:
  - name: app
    image: busybox
)");
    ASSERT_EQ(pod.exit_code, 0) << pod.err;
    auto phase = server_->kubectl({"patch", "pod", "web", "--subresource=status", "--type=merge",
                                   "-p", R"({"status":{"phase":"Running"}})"});
    ASSERT_EQ(phase.exit_code, 0) << phase.err;
    std::string uid = server_->kubectl({"get", "pod", "web", "-o", "jsonpath={.metadata.uid}"}).out;
    ASSERT_FALSE(uid.empty());
    log_dir_ = new std::string(*dir_ + "/pods/default_web_" + uid);
    fs::create_directories(*log_dir_ + "/app");
    fs::create_directories(*log_dir_ + "/side");
    std::ofstream(*log_dir_ + "/app/0.log")
        << "2026-11-27T10:00:00.000000001Z stdout F line one\n"
        << "2026-11-27T10:00:01.000000000Z stderr F line two\n"
        << "2026-11-27T10:00:02.000000000Z stdout F line three\n";
    std::ofstream(*log_dir_ + "/side/0.log") << "2026-11-27T10:00:00Z stdout F from the side\n";
    fs::create_directories(*log_dir_ + "/restarted");
    std::ofstream(*log_dir_ + "/restarted/0.log") << "2026-11-27T10:00:00Z stdout F first run\n";
    std::ofstream(*log_dir_ + "/restarted/1.log") << "2026-11-27T10:01:00Z stdout F second run\n";
  }
  static void TearDownTestSuite() {
    if (kubelet_) {
      kubelet_->kill(SIGTERM);
      kubelet_->wait();
    }
    delete kubelet_;
    if (server_) server_->stop();
    delete server_;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    delete log_dir_;
  }
  CmdResult k(std::vector<std::string> args, const std::string& input = "") {
    return server_->kubectl(args, input);
  }

  static Server* server_;
  static Child* kubelet_;
  static std::string* dir_;
  static std::string* log_dir_;
  static int port_;
};

Server* StreamTest::server_ = nullptr;
Child* StreamTest::kubelet_ = nullptr;
std::string* StreamTest::dir_ = nullptr;
std::string* StreamTest::log_dir_ = nullptr;
int StreamTest::port_ = 0;

TEST_F(StreamTest, Logs) {
  auto r = k({"logs", "web", "-c", "app"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "line one\nline two\nline three\n");
  r = k({"logs", "web", "-c", "app", "--tail=2"});
  EXPECT_EQ(r.out, "line two\nline three\n") << r.err;
  r = k({"logs", "web", "-c", "app", "--tail=1", "--timestamps"});
  EXPECT_EQ(r.out, "2026-11-27T10:00:02.000000000Z line three\n") << r.err;
  r = k({"logs", "web", "-c", "side"});
  EXPECT_EQ(r.out, "from the side\n") << r.err;
  r = k({"logs", "pod/web", "--all-containers", "--prefix"});
  EXPECT_NE(r.out.find("[pod/web/side] from the side"), std::string::npos) << r.out << r.err;
}

TEST_F(StreamTest, PreviousLogs) {
  auto r = k({"logs", "web", "-c", "restarted"});
  EXPECT_EQ(r.out, "second run\n") << r.err;
  r = k({"logs", "web", "-c", "restarted", "--previous"});
  EXPECT_EQ(r.out, "first run\n") << r.err;
}

TEST_F(StreamTest, LogErrors) {
  auto r = k({"logs", "web", "-c", "nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("container nope is not valid for pod web"), std::string::npos) << r.err;
  r = k({"logs", "pending"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pod pending does not have a host assigned"), std::string::npos) << r.err;
  r = k({"logs", "web", "-c", "app", "--previous"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("previous terminated container"), std::string::npos) << r.err;
}

TEST_F(StreamTest, FollowedLogsShowNewLines) {
  Child follow(server_->kubectlArgv({"logs", "-f", "web", "-c", "app", "--tail=1"}),
               server_->kubectlEnv());
  ASSERT_TRUE(follow.waitFor("line three", std::chrono::seconds(30)));
  std::ofstream(*log_dir_ + "/app/0.log", std::ios::app)
      << "2026-11-27T10:00:05.000000000Z stdout F line four\n";
  EXPECT_TRUE(follow.waitFor("line four", std::chrono::seconds(30)));
  follow.kill(SIGTERM);
  follow.wait();
}

TEST_F(StreamTest, ExecRunsTheCommandAndPropagatesTheExitCode) {
  auto r = k({"exec", "web", "-c", "app", "--", "sh", "-c", "echo hello from $0; echo oops >&2", "exec"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from exec\n");
  EXPECT_EQ(r.err, "oops\n");
  r = k({"exec", "web", "-c", "app", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("command terminated with exit code 3"), std::string::npos) << r.err;
}

TEST_F(StreamTest, ExecOverSpdy) {
  // kubectl's fallback transport, forced.
  auto env = server_->kubectlEnv();
  env.push_back("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false");
  auto r = run(server_->kubectlArgv({"exec", "-i", "web", "-c", "app", "--", "sh", "-c",
                                     "tr a-z A-Z; echo done >&2; exit 4"}),
               "over spdy\n", env);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.out, "OVER SPDY\n");
  EXPECT_NE(r.err.find("done\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("command terminated with exit code 4"), std::string::npos) << r.err;
}

TEST_F(StreamTest, ExecWithStdin) {
  auto r = k({"exec", "-i", "web", "-c", "app", "--", "tr", "a-z", "A-Z"}, "piped through\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "PIPED THROUGH\n");
}

// Forwards to a small HTTP server "in the pod" (on loopback: the fake runtime dials 127.0.0.1).
// Fetches a page twice over one forwarding session (two connections), then downloads and
// uploads 2 MiB (well past SPDY's 64 KiB initial window). `extra_env` selects kubectl's transport.
void portForwardRoundTrip(Server& server, const std::string& dir,
                          const std::vector<std::string>& extra_env) {
  std::string www = dir + "/www";
  fs::create_directories(www);
  std::ofstream(www + "/index.html") << "hello through port-forward\n";
  std::string big;
  for (int i = 0; big.size() < (2u << 20); ++i) big += "block " + std::to_string(i) + "\n";
  std::ofstream(www + "/big.txt") << big;
  // GET serves files; POST answers with the number of body bytes it received.
  Child http({"python3", "-u", "-c",
              "import http.server,socketserver,functools,sys\n"
              "class H(http.server.SimpleHTTPRequestHandler):\n"
              "  def do_POST(self):\n"
              "    n=len(self.rfile.read(int(self.headers['Content-Length'])))\n"
              "    b=str(n).encode()\n"
              "    self.send_response(200);self.send_header('Content-Length',str(len(b)))\n"
              "    self.end_headers();self.wfile.write(b)\n"
              "h=functools.partial(H,directory=sys.argv[1])\n"
              "s=socketserver.ThreadingTCPServer(('127.0.0.1',0),h)\n"
              "print('listening',s.server_address[1],flush=True)\n"
              "s.serve_forever()\n",
              www});
  std::string line;
  ASSERT_TRUE(http.waitFor("listening", std::chrono::seconds(30), &line));
  std::string pod_port = std::to_string(std::stoi(line.substr(line.find(' ') + 1)));
  auto env = server.kubectlEnv();
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  Child pf(server.kubectlArgv({"port-forward", "pod/web", ":" + pod_port}), env);
  ASSERT_TRUE(pf.waitFor("Forwarding from 127.0.0.1:", std::chrono::seconds(30), &line)) << line;
  // "Forwarding from 127.0.0.1:41234 -> 8080"
  auto start = line.find("127.0.0.1:") + 10;
  std::string local = line.substr(start, line.find(' ', start) - start);
  for (int i = 0; i < 2; ++i) {
    auto r = run({"curl", "-sS", "--max-time", "20", "http://127.0.0.1:" + local + "/index.html"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "hello through port-forward\n");
  }
  auto r = run({"curl", "-sS", "--max-time", "60", "http://127.0.0.1:" + local + "/big.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == big) << "got " << r.out.size() << " of " << big.size() << " bytes";
  r = run({"curl", "-sS", "--max-time", "60", "--data-binary", "@" + www + "/big.txt",
           "http://127.0.0.1:" + local + "/upload"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(big.size()));
  pf.kill(SIGTERM);
  pf.wait();
  http.kill(SIGTERM);
  http.wait();
}

TEST_F(StreamTest, PortForwardOverWebSocket) { portForwardRoundTrip(*server_, *dir_, {}); }

TEST_F(StreamTest, PortForwardOverSpdy) {
  portForwardRoundTrip(*server_, *dir_, {"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"});
}

TEST_F(StreamTest, KubeletRefusesClientsWithoutTheApiServersCertificate) {
  auto r = run({"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                "https://127.0.0.1:" + std::to_string(port_) + "/containerLogs/default/web/app"});
  EXPECT_EQ(r.out, "401") << r.err;
}

}  // namespace
}  // namespace berth::e2e
