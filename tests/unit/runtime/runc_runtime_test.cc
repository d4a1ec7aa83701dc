// RuncRuntime against the real runc and a local registry: pull, run, logs, exec, port-forward,
// stop (SIGTERM, then SIGKILL), exit codes, OOMKilled, adoption by a restarted runtime.
// Needs root (runc, network namespaces, overlayfs), like CI.
#include "kubelet-lite/runtime/runc_runtime.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/strings.h"
#include "tests/testing/test_registry.h"

namespace berth::kubelet {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `pred` until true or the deadline: the log file has no change notification to wait on.
template <typename F>
bool eventually(F pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

class RuncRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() == 0) registry_ = new testing::TestRegistry();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "runc containers need root (network namespaces, overlayfs, cgroups)";
    ASSERT_TRUE(registry_->ok()) << "test registry: " << registry_->error();
    char tmpl[] = "/tmp/berth-runc-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    runtime_ = newRuntime();
    ASSERT_TRUE(runtime_);
    auto id = runtime_->ensureImage({registry_->image("1"), ImagePullPolicy::kIfNotPresent, {}});
    ASSERT_TRUE(id.isOk()) << id.status().toString();
    image_id_ = *id;
    pod_.uid = newUuid();
    pod_.name = "web";
    pod_.ns = "default";
    pod_.hostname = "web";
    pod_.log_directory = root_ + "/pods/default_web_" + pod_.uid;
    pod_.labels = {
        {kLabelPodUid, pod_.uid}, {kLabelPodName, "web"}, {kLabelPodNamespace, "default"}};
    auto sb = runtime_->runPodSandbox(pod_);
    ASSERT_TRUE(sb.isOk()) << sb.status().toString();
    sandbox_ = *sb;
  }

  void TearDown() override {
    if (runtime_) {
      auto sbs = runtime_->listSandboxes();
      if (sbs.isOk())
        for (const auto& s : *sbs) EXPECT_TRUE(runtime_->removePodSandbox(s.id).isOk());
      runtime_.reset();
    }
    if (!root_.empty()) fs::remove_all(root_);
  }

  std::unique_ptr<RuncRuntime> newRuntime() {
    RuncRuntime::Options o;
    o.root = root_ + "/runc";
    o.shim_binary = std::getenv("BERTH_BIN") ? std::getenv("BERTH_BIN") : "berth";
    o.default_registry = registry_->address();
    auto rt = RuncRuntime::create(o);
    EXPECT_TRUE(rt.isOk()) << rt.status().toString();
    if (!rt.isOk()) return nullptr;
    auto r = std::move(rt).value();
    r->setEventHandler([this](const ContainerEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      exited_.push_back(e.container_id);
      cv_.notify_all();
    });
    return r;
  }

  ContainerConfig container(const std::string& name, std::vector<std::string> command) {
    ContainerConfig c;
    c.name = name;
    c.image = registry_->image("1");
    c.image_id = image_id_;
    c.command = std::move(command);
    c.log_path = pod_.log_directory + "/" + name + "/0.log";
    c.labels = pod_.labels;
    c.labels[kLabelContainerName] = name;
    c.labels[kLabelRestartCount] = "0";
    return c;
  }

  std::string run(const ContainerConfig& c) {
    auto id = runtime_->createContainer(sandbox_.id, c, pod_);
    EXPECT_TRUE(id.isOk()) << id.status().toString();
    if (!id.isOk()) return "";
    Status st = runtime_->startContainer(*id);
    EXPECT_TRUE(st.isOk()) << st.toString();
    return *id;
  }

  bool waitExitEvent(const std::string& id, std::chrono::seconds timeout = 30s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(
        l, timeout, [&] { return std::find(exited_.begin(), exited_.end(), id) != exited_.end(); });
  }

  ContainerStatus status(const std::string& id) {
    auto s = runtime_->containerStatus(id);
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    return s.isOk() ? *s : ContainerStatus{};
  }

  // Runs `command` by exec without tty; returns {exit code, stdout}.
  std::pair<int, std::string> execCapture(const std::string& id, std::vector<std::string> command) {
    int out[2];
    EXPECT_EQ(::pipe(out), 0);
    ExecRequest req;
    req.container_id = id;
    req.command = std::move(command);
    req.stdout_fd = out[1];
    auto p = runtime_->exec(req);
    ::close(out[1]);
    if (!p.isOk()) {
      ::close(out[0]);
      ADD_FAILURE() << p.status().toString();
      return {-1, ""};
    }
    std::string text = readAll(out[0]);
    ::close(out[0]);
    auto code = (*p)->wait();
    return {code.isOk() ? *code : -1, text};
  }

  static testing::TestRegistry* registry_;
  std::string root_;
  std::unique_ptr<RuncRuntime> runtime_;
  std::string image_id_;
  PodSandboxConfig pod_;
  SandboxStatus sandbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> exited_;
};
testing::TestRegistry* RuncRuntimeTest::registry_ = nullptr;

TEST_F(RuncRuntimeTest, RunsAContainerThatLogsInCriFormat) {
  ContainerConfig c = container(
      "app",
      {"sh", "-c",
       "echo hello from $HOSTNAME; echo oops >&2; cat /etc/hostname /etc/berth-version; exit 3"});
  c.env = {{"GREETING", "hi"}};
  std::string id = run(c);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(waitExitEvent(id));
  ContainerStatus s = status(id);
  EXPECT_EQ(s.state, ContainerState::kExited);
  EXPECT_EQ(s.exit_code, 3);
  EXPECT_EQ(s.reason, "Error");
  EXPECT_GT(s.finished_at, s.started_at);
  EXPECT_TRUE(s.image_id.find("@sha256:") != std::string::npos) << s.image_id;
  std::string log = slurp(c.log_path);
  std::regex line(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F .*)");
  std::vector<std::string> lines = split(log.substr(0, log.size() - 1), '\n');
  ASSERT_EQ(lines.size(), 4u) << log;
  for (const std::string& l : lines) EXPECT_TRUE(std::regex_match(l, line)) << l;
  EXPECT_NE(log.find(" stdout F hello from web\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stderr F oops\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stdout F web\n"), std::string::npos) << "hostname is the pod's: " << log;
  EXPECT_NE(log.find(" stdout F 1\n"), std::string::npos) << log;
  ASSERT_TRUE(runtime_->removeContainer(id).isOk());
  EXPECT_FALSE(runtime_->containerStatus(id).isOk());
  EXPECT_TRUE(fs::exists(c.log_path)) << "logs belong to the agent";
}

TEST_F(RuncRuntimeTest, ExecSharedNetworkAndPortForward) {
  std::string web = run(container(
      "web", {"sh", "-c",
              "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www"}));
  std::string side = run(container("side", {"sleep", "1000"}));
  ASSERT_FALSE(web.empty() || side.empty());
  EXPECT_EQ(status(web).state, ContainerState::kRunning);
  // The sidecar reaches the web container on 127.0.0.1: one network namespace per pod.
  std::pair<int, std::string> got;
  ASSERT_TRUE(eventually([&] {
    got = execCapture(side, {"wget", "-qO-", "http://127.0.0.1:8080/"});
    return got.first == 0;
  })) << got.second;
  EXPECT_EQ(got.second, "served\n");
  auto hn = execCapture(side, {"cat", "/etc/hostname"});
  EXPECT_EQ(hn, std::make_pair(0, std::string("web\n")));
  EXPECT_EQ(execCapture(side, {"sh", "-c", "exit 5"}).first, 5);
  auto sync = runtime_->execSync(side, {"sh", "-c", "echo $PATH"}, 10s);
  ASSERT_TRUE(sync.isOk());
  EXPECT_EQ(sync->exit_code, 0);
  EXPECT_EQ(sync->output, "/bin:/usr/bin:/sbin:/usr/sbin\n") << "the image's Env";
  auto slow = runtime_->execSync(side, {"sleep", "30"}, 300ms);
  ASSERT_TRUE(slow.isOk());
  EXPECT_TRUE(slow->timed_out);

  auto fd = runtime_->portForward(sandbox_.id, 8080);
  ASSERT_TRUE(fd.isOk()) << fd.status().toString();
  std::string req = "GET /index.html HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::write(*fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string resp = readAll(*fd);
  ::close(*fd);
  EXPECT_NE(resp.find("200 OK"), std::string::npos) << resp;
  EXPECT_NE(resp.find("served"), std::string::npos) << resp;
  EXPECT_FALSE(runtime_->portForward(sandbox_.id, 8081).isOk()) << "nothing listens on 8081";
}

TEST_F(RuncRuntimeTest, ExecWithTerminal) {
  std::string id = run(container("sh", {"sleep", "1000"}));
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  ExecRequest req;
  req.container_id = id;
  req.command = {"sh"};
  req.tty = true;
  req.stdin_fd = in[0];
  req.stdout_fd = out[1];
  req.initial_size = TerminalSize{100, 40};
  auto p = runtime_->exec(req);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  std::string cmds = "tty; stty size; exit 4\n";
  ASSERT_EQ(::write(in[1], cmds.data(), cmds.size()), static_cast<ssize_t>(cmds.size()));
  auto code = (*p)->wait();
  ::close(out[1]);
  std::string text = readAll(out[0]);
  ::close(out[0]);
  ::close(in[0]);
  ::close(in[1]);
  ASSERT_TRUE(code.isOk());
  EXPECT_EQ(*code, 4);
  EXPECT_NE(text.find("/dev/pts/"), std::string::npos) << text;
  EXPECT_NE(text.find("40 100"), std::string::npos)
      << "initial size reaches the container: " << text;
  for (const auto& f : fs::directory_iterator(root_ + "/runc/containers/" + id)) {
    EXPECT_EQ(f.path().filename().string().rfind("exec-", 0), std::string::npos)
        << "the exec's pid and process files are removed once it is reaped: " << f.path();
  }
}

TEST_F(RuncRuntimeTest, StopSendsTermThenKill) {
  ContainerConfig polite = container(
      "polite", {"sh", "-c",
                 "trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.1; done"});
  ContainerConfig stubborn = container(
      "stubborn", {"sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"});
  std::string a = run(polite), b = run(stubborn);
  ASSERT_TRUE(
      eventually([&] { return slurp(polite.log_path).find("ready") != std::string::npos; }));
  ASSERT_TRUE(
      eventually([&] { return slurp(stubborn.log_path).find("ready") != std::string::npos; }));
  ASSERT_TRUE(runtime_->stopContainer(a, 10s).isOk());
  ContainerStatus sa = status(a);
  EXPECT_EQ(sa.state, ContainerState::kExited);
  EXPECT_EQ(sa.exit_code, 42);
  EXPECT_NE(slurp(polite.log_path).find("got TERM"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runtime_->stopContainer(b, 1s).isOk());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1s) << "the grace period is honoured";
  ContainerStatus sb = status(b);
  EXPECT_EQ(sb.state, ContainerState::kExited);
  EXPECT_EQ(sb.exit_code, 137) << "SIGKILL after the grace period";
  EXPECT_TRUE(runtime_->stopContainer(b, 1s).isOk()) << "stopping an exited container is OK";
}

TEST_F(RuncRuntimeTest, MemoryLimitKillIsOOMKilled) {
  ContainerConfig c = container("hog", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  c.memory_limit_bytes = 8 << 20;
  c.cpu_limit_millis = 500;
  std::string id = run(c);
  ASSERT_TRUE(waitExitEvent(id));
  ContainerStatus s = status(id);
  EXPECT_EQ(s.state, ContainerState::kExited);
  EXPECT_EQ(s.exit_code, 137);
  EXPECT_EQ(s.reason, "OOMKilled");
  // The reason survives the container's removal of its cgroup (runc delete) in the record.
  ContainerConfig ok = container("fine", {"true"});
  ok.memory_limit_bytes = 8 << 20;
  std::string id2 = run(ok);
  ASSERT_TRUE(waitExitEvent(id2));
  EXPECT_EQ(status(id2).reason, "Completed");
}

TEST_F(RuncRuntimeTest, RestartedRuntimeAdoptsRunningContainers) {
  ContainerConfig c = container(
      "long", {"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"});
  std::string id = run(c);
  ASSERT_TRUE(eventually([&] { return slurp(c.log_path).find("tick 1") != std::string::npos; }));
  runtime_.reset();  // the agent goes away; the shim and the container stay
  size_t before = slurp(c.log_path).size();
  ASSERT_TRUE(eventually([&] { return slurp(c.log_path).size() > before; }))
      << "logging goes on without the agent";
  runtime_ = newRuntime();
  ASSERT_TRUE(runtime_);
  auto list = runtime_->listContainers();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, id);
  EXPECT_EQ((*list)[0].state, ContainerState::kRunning);
  EXPECT_EQ((*list)[0].labels.at(kLabelContainerName), "long");
  auto sbs = runtime_->listSandboxes();
  ASSERT_TRUE(sbs.isOk());
  ASSERT_EQ(sbs->size(), 1u);
  EXPECT_EQ((*sbs)[0].state, SandboxState::kReady);
  EXPECT_EQ(runtime_->runPodSandbox(pod_)->id, sandbox_.id) << "the same pod keeps its sandbox";
  EXPECT_EQ(execCapture(id, {"cat", "/etc/berth-version"}).second, "1\n");
  ASSERT_TRUE(runtime_->stopContainer(id, 5s).isOk());
  ASSERT_TRUE(waitExitEvent(id)) << "exit events for adopted containers";
  EXPECT_EQ(status(id).state, ContainerState::kExited);
}

TEST_F(RuncRuntimeTest, ImageErrorsAndSandboxTeardown) {
  auto missing =
      runtime_->ensureImage({registry_->image("nope"), ImagePullPolicy::kIfNotPresent, {}});
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().code(), Code::kNotFound) << "NotFound is reserved for kNever";
  EXPECT_NE(missing.status().message().find("manifest unknown"), std::string::npos)
      << missing.status().message();
  auto never = runtime_->ensureImage({registry_->image("2"), ImagePullPolicy::kNever, {}});
  ASSERT_FALSE(never.isOk());
  EXPECT_EQ(never.status().code(), Code::kNotFound);
  ContainerConfig bad = container("bad", {});
  bad.command.clear();
  bad.args.clear();
  auto img2 = runtime_->ensureImage({registry_->image("2"), ImagePullPolicy::kIfNotPresent, {}});
  ASSERT_TRUE(img2.isOk());
  bad.image_id = *img2;
  bad.args = {"sh", "-c", "ls /bin/echo; cat /data/file"};
  std::string id = run(bad);
  ASSERT_TRUE(waitExitEvent(id));
  std::string log = slurp(bad.log_path);
  EXPECT_NE(log.find("layer two"), std::string::npos) << log;
  EXPECT_NE(log.find("No such file"), std::string::npos) << "the whiteout hid /bin/echo: " << log;
  std::string netns = sandbox_.netns_path;
  ASSERT_TRUE(fs::exists(netns));
  ASSERT_TRUE(runtime_->removePodSandbox(sandbox_.id).isOk());
  EXPECT_FALSE(fs::exists(netns));
  EXPECT_FALSE(runtime_->containerStatus(id).isOk());
}

}  // namespace
}  // namespace berth::kubelet
