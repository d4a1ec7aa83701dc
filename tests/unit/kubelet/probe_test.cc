// Probes: parsing with the API's defaults and validation, the ProbeManager's threshold
// arithmetic, initial delay and startup gating on a fake clock, the PodWorker's readiness and
// liveness restarts against FakeRuntime, and httpGet/tcpSocket against a real local socket.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "kubelet-lite/pod_worker.h"
#include "kubelet-lite/probe.h"
#include "kubelet-lite/prober.h"
#include "tests/unit/kubelet/fake_runtime.h"

namespace berth::kubelet {
namespace {

using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeRuntime;

// ---- parseProbe ----

TEST(ParseProbe, DefaultsAndNamedPorts) {
  json c = json::parse(R"({"name":"app","ports":[{"name":"http","containerPort":8080}],
    "readinessProbe":{"httpGet":{"port":"http","path":"healthz",
      "httpHeaders":[{"name":"X-A","value":"1"}]}},
    "livenessProbe":{"tcpSocket":{"port":9000},"initialDelaySeconds":5,"periodSeconds":2,
      "timeoutSeconds":3,"failureThreshold":4,"terminationGracePeriodSeconds":7}})");
  auto r = parseProbe(c, ProbeKind::kReadiness);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->handler, ProbeSpec::Handler::kHttpGet);
  EXPECT_EQ(r->port, 8080);
  EXPECT_EQ(r->path, "/healthz");
  EXPECT_EQ(r->scheme, "HTTP");
  EXPECT_EQ(r->period, seconds(10));
  EXPECT_EQ(r->timeout, seconds(1));
  EXPECT_EQ(r->success_threshold, 1);
  EXPECT_EQ(r->failure_threshold, 3);
  EXPECT_EQ(r->headers.size(), 1u);
  auto l = parseProbe(c, ProbeKind::kLiveness);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->handler, ProbeSpec::Handler::kTcpSocket);
  EXPECT_EQ(l->port, 9000);
  EXPECT_EQ(l->initial_delay, seconds(5));
  EXPECT_EQ(l->period, seconds(2));
  EXPECT_EQ(l->timeout, seconds(3));
  EXPECT_EQ(l->failure_threshold, 4);
  EXPECT_EQ(l->termination_grace, seconds(7));
  EXPECT_EQ(parseProbe(c, ProbeKind::kStartup).status().code(), Code::kNotFound);
}

TEST(ParseProbe, RejectsWhatTheApiRejects) {
  auto bad = [](const std::string& probe, ProbeKind kind = ProbeKind::kLiveness) {
    json c = json::parse(R"({"name":"app","ports":[{"name":"http","containerPort":80}]})");
    c[probeField(kind)] = json::parse(probe);
    auto r = parseProbe(c, kind);
    EXPECT_EQ(r.status().code(), Code::kInvalid) << probe;
    return r.status().message();
  };
  EXPECT_NE(bad("{}").find("must specify a handler type"), std::string::npos);
  EXPECT_NE(bad(R"({"exec":{"command":["true"]},"tcpSocket":{"port":1}})").find("more than 1 handler"),
            std::string::npos);
  EXPECT_NE(bad(R"({"httpGet":{"port":"metrics"}})").find("no container port named \"metrics\""),
            std::string::npos);
  EXPECT_NE(bad(R"({"tcpSocket":{"port":70000}})").find("invalid port number"), std::string::npos);
  EXPECT_NE(bad(R"({"exec":{"command":["true"]},"successThreshold":2})").find("successThreshold"),
            std::string::npos);
  EXPECT_NE(bad(R"({"exec":{"command":["true"]},"periodSeconds":-1})").find("periodSeconds"),
            std::string::npos);
  EXPECT_NE(bad(R"({"httpGet":{"port":80,"scheme":"FTP"}})").find("scheme"), std::string::npos);
  EXPECT_NE(bad(R"({"exec":{"command":["true"]},"terminationGracePeriodSeconds":5})",
                ProbeKind::kReadiness).find("readinessProbes"), std::string::npos);
  // successThreshold above 1 is fine for readiness.
  json c = {{"name", "app"}, {"readinessProbe", {{"exec", {{"command", {"true"}}}}, {"successThreshold", 2}}}};
  EXPECT_TRUE(parseProbe(c, ProbeKind::kReadiness).isOk());
}

TEST(HttpProbe, RequestAndStatusLine) {
  ProbeSpec s;
  s.handler = ProbeSpec::Handler::kHttpGet;
  s.path = "/healthz?x=1";
  s.headers = {{"X-Custom", "v"}, {"Accept", "application/json"}};
  std::string req = buildHttpRequest(s, "10.0.0.5:8080");
  EXPECT_EQ(req.rfind("GET /healthz?x=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Host: 10.0.0.5:8080\r\n"), std::string::npos);
  EXPECT_NE(req.find("User-Agent: kube-probe/1.32\r\n"), std::string::npos);
  EXPECT_NE(req.find("Accept: application/json\r\n"), std::string::npos);
  EXPECT_EQ(req.find("Accept: */*"), std::string::npos) << "a user header replaces the default";
  EXPECT_NE(req.find("X-Custom: v\r\n"), std::string::npos);
  EXPECT_EQ(parseHttpStatus("HTTP/1.1 302 Found\r\n"), 302);
  EXPECT_EQ(parseHttpStatus("HTTP/1.0 500 x"), 500);
  EXPECT_EQ(parseHttpStatus("SSH-2.0-OpenSSH"), -1);
}

// A one-connection-at-a-time HTTP server on 127.0.0.1 answering with `status`.
class TinyServer {
 public:
  explicit TinyServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 4);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        char buf[4096];
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n > 0) last_request_.assign(buf, n);
        std::string resp = "HTTP/1.1 " + std::to_string(status_.load()) + " X\r\nContent-Length: 0\r\n\r\n";
        ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  void setStatus(int s) { status_ = s; }
  std::string lastRequest() const { return last_request_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> status_;
  std::atomic<bool> stop_{false};
  std::string last_request_;
  std::thread thread_;
};

TEST(HttpProbe, StatusDecidesAndConnectErrorsFail) {
  FakeClock clock;
  FakeRuntime rt(&clock);
  TinyServer server(200);
  ProbeSpec s;
  s.handler = ProbeSpec::Handler::kHttpGet;
  s.host = "127.0.0.1";
  s.port = server.port();
  s.path = "/ok";
  EXPECT_EQ(runProbe(&rt, {}, s).result, ProbeResult::kSuccess);
  EXPECT_NE(server.lastRequest().find("GET /ok HTTP/1.1"), std::string::npos);
  server.setStatus(399);
  EXPECT_EQ(runProbe(&rt, {}, s).result, ProbeResult::kSuccess);
  server.setStatus(503);
  auto out = runProbe(&rt, {}, s);
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_EQ(out.message, "HTTP probe failed with statuscode: 503");
  s.handler = ProbeSpec::Handler::kTcpSocket;
  EXPECT_EQ(runProbe(&rt, {}, s).result, ProbeResult::kSuccess);

  // A closed port: refused, as Go words it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  s.port = ntohs(a.sin_port);
  ::close(fd);
  out = runProbe(&rt, {}, s);
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_NE(out.message.find("connect: Connection refused"), std::string::npos) << out.message;
  s.handler = ProbeSpec::Handler::kHttpGet;
  out = runProbe(&rt, {}, s);
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_EQ(out.message.rfind("Get \"http://127.0.0.1:", 0), 0u) << out.message;
}

// ---- ProbeManager ----

class ProberTest : public ::testing::Test {
 protected:
  ProberTest() {
    ProbeManager::Hooks h;
    h.changed = [this](const std::string& uid) { changes_.push_back(uid); };
    h.event = [this](const PodRef&, const std::string& c, bool warning, const std::string& reason,
                     const std::string& msg) {
      EXPECT_TRUE(warning);
      events_.push_back(c + " " + reason + ": " + msg);
    };
    prober_ = std::make_unique<ProbeManager>(&rt_, &clock_, ProbeManager::Options{0}, h);
  }
  // Starts container `name` in the fake runtime and returns its status.
  ContainerStatus run(const std::string& name) {
    ContainerConfig c;
    c.name = name;
    c.labels = {{kLabelPodUid, "u1"}, {kLabelContainerName, name}};
    auto id = rt_.createContainer("sb", c, {});
    EXPECT_TRUE(rt_.startContainer(*id).isOk());
    return *rt_.containerStatus(*id);
  }
  static ProbeSpec exec(int period = 1, int success = 1, int failure = 3, int delay = 0) {
    ProbeSpec s;
    s.command = {"check"};
    s.period = seconds(period);
    s.success_threshold = success;
    s.failure_threshold = failure;
    s.initial_delay = seconds(delay);
    return s;
  }
  ProbeManager::Container target(const ContainerStatus& s) {
    ProbeManager::Container c;
    c.name = s.name;
    c.target = {s.id, "sb", "10.0.0.2"};
    c.started_at = s.started_at;
    return c;
  }
  // Advances the clock by a second and runs what is due.
  void tick(int times = 1) {
    for (int i = 0; i < times; ++i) {
      clock_.advance(seconds(1));
      prober_->runDue();
    }
  }
  ProbeManager::Verdict verdict(const ContainerStatus& s) { return prober_->verdict("u1", s.name, s.id); }

  FakeClock clock_;
  FakeRuntime rt_{&clock_};
  std::unique_ptr<ProbeManager> prober_;
  PodRef pod_{"u1", "p", "ns"};
  std::vector<std::string> changes_, events_;
};

TEST_F(ProberTest, ReadinessNeedsSuccessThresholdAndFailureThresholdInARow) {
  ContainerStatus app = run("app");
  auto c = target(app);
  c.readiness = exec(1, 2, 3);
  prober_->syncPod(pod_, {c});
  EXPECT_FALSE(verdict(app).ready) << "not ready before the first success";
  prober_->runDue();
  EXPECT_FALSE(verdict(app).ready) << "one success of two";
  tick();
  EXPECT_TRUE(verdict(app).ready);
  EXPECT_EQ(changes_.size(), 1u);
  rt_.setExecResult("app", 1, "not yet\n");
  tick(2);
  EXPECT_TRUE(verdict(app).ready) << "two failures of three";
  rt_.setExecResult("app", 0);
  tick();  // a success resets the failure run
  rt_.setExecResult("app", 1, "not yet\n");
  tick(2);
  EXPECT_TRUE(verdict(app).ready);
  tick();
  EXPECT_FALSE(verdict(app).ready);
  EXPECT_EQ(changes_.size(), 2u);
  ASSERT_EQ(events_.size(), 5u);
  EXPECT_EQ(events_[0], "spec.containers{app} Unhealthy: Readiness probe failed: not yet");
  EXPECT_FALSE(verdict(app).kill) << "readiness never kills";
}

TEST_F(ProberTest, InitialDelayAndPeriod) {
  ContainerStatus app = run("app");
  auto c = target(app);
  c.readiness = exec(/*period=*/3, 1, 3, /*delay=*/5);
  prober_->syncPod(pod_, {c});
  tick(4);
  EXPECT_TRUE(rt_.execs().empty()) << "ran before initialDelaySeconds";
  tick();
  EXPECT_EQ(rt_.execs().size(), 1u);
  EXPECT_TRUE(verdict(app).ready);
  tick(2);
  EXPECT_EQ(rt_.execs().size(), 1u) << "ran before periodSeconds";
  tick();
  EXPECT_EQ(rt_.execs().size(), 2u);
}

TEST_F(ProberTest, StartupGatesLivenessAndReadiness) {
  ContainerStatus app = run("app");
  auto c = target(app);
  c.startup = exec(1, 1, 10);
  c.liveness = exec(1, 1, 1);
  c.readiness = exec(1, 1, 1);
  rt_.setExecResult("app", 1, "starting");
  prober_->syncPod(pod_, {c});
  tick(3);
  EXPECT_EQ(rt_.execs().size(), 3u) << "only the startup probe runs";
  auto v = verdict(app);
  EXPECT_FALSE(v.started);
  EXPECT_FALSE(v.ready);
  EXPECT_FALSE(v.kill) << "startup failures below the threshold do not kill";
  rt_.setExecResult("app", 0);
  tick();
  EXPECT_TRUE(verdict(app).started);
  EXPECT_FALSE(verdict(app).ready);
  size_t before = rt_.execs().size();
  tick();
  EXPECT_EQ(rt_.execs().size(), before + 2) << "liveness and readiness run, startup no more";
  EXPECT_TRUE(verdict(app).ready);
}

TEST_F(ProberTest, StartupFailureAtThresholdKills) {
  ContainerStatus app = run("app");
  auto c = target(app);
  c.startup = exec(1, 1, 2);
  rt_.setExecResult("app", 1);
  prober_->syncPod(pod_, {c});
  prober_->runDue();
  EXPECT_FALSE(verdict(app).kill);
  tick();
  EXPECT_EQ(verdict(app).kill, ProbeKind::kStartup);
}

TEST_F(ProberTest, LivenessFailureKillsAndHoldsUntilANewInstance) {
  ContainerStatus app = run("app");
  auto c = target(app);
  c.liveness = exec(1, 1, 3);
  prober_->syncPod(pod_, {c});
  prober_->runDue();
  EXPECT_TRUE(verdict(app).started);
  EXPECT_TRUE(verdict(app).ready) << "no readiness probe: ready once started";
  rt_.setExecResult("app", 1, "boom");
  tick(2);
  EXPECT_FALSE(verdict(app).kill);
  tick();
  EXPECT_EQ(verdict(app).kill, ProbeKind::kLiveness);
  EXPECT_EQ(events_.back(), "spec.containers{app} Unhealthy: Liveness probe failed: boom");
  size_t execs = rt_.execs().size();
  tick(3);
  EXPECT_EQ(rt_.execs().size(), execs) << "on hold after the failure";
  // The replacement starts over with liveness Success.
  rt_.exitContainer("app", 137);
  ContainerStatus next = run("app");
  prober_->syncPod(pod_, {target(next)});
  EXPECT_EQ(prober_->probeCount(), 0u) << "the new instance has no probe in this sync";
  auto c2 = target(next);
  c2.liveness = exec(1, 1, 3);
  prober_->syncPod(pod_, {c2});
  EXPECT_FALSE(verdict(next).kill);
  EXPECT_EQ(prober_->probeCount(), 1u);
  prober_->removePod("u1");
  EXPECT_EQ(prober_->probeCount(), 0u);
}

TEST(ProbeManagerThreads, RunsProbesOnItsOwnThreads) {
  FakeClock fake;
  FakeRuntime rt(&fake);
  std::mutex mu;
  std::condition_variable cv;
  int changed = 0;
  ProbeManager::Hooks h;
  h.changed = [&](const std::string&) {
    std::lock_guard<std::mutex> l(mu);
    ++changed;
    cv.notify_all();
  };
  ProbeManager pm(&rt, &SystemClock::instance(), ProbeManager::Options{2}, h);
  pm.start();
  ContainerConfig cc;
  cc.name = "app";
  auto id = rt.createContainer("sb", cc, {});
  ASSERT_TRUE(rt.startContainer(*id).isOk());
  ProbeManager::Container c;
  c.name = "app";
  c.target = {*id, "sb", ""};
  c.started_at = SystemClock::instance().now();
  c.readiness = ProbeSpec();
  c.readiness->command = {"check"};
  pm.syncPod({"u1", "p", "ns"}, {c});
  std::unique_lock<std::mutex> l(mu);
  EXPECT_TRUE(cv.wait_for(l, seconds(10), [&] { return changed > 0; }));
  EXPECT_TRUE(pm.verdict("u1", "app", *id).ready);
  l.unlock();
  pm.stop();
}

// ---- PodWorker with probes ----

class PodWorkerProbeTest : public ProberTest {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("berth-probes-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    PodWorker::Options o;
    o.root_dir = root_.string();
    o.node_name = "n1";
    o.host_ip = "192.168.0.10";
    o.prober = prober_.get();
    o.event = [this](const PodRef&, const std::string& c, bool, const std::string& reason,
                     const std::string& msg) {
      if (reason == "Killing") events_.push_back(c + " " + reason + ": " + msg);
    };
    worker_ = std::make_unique<PodWorker>(
        &rt_, &clock_,
        PodConfigResolver([](const std::string&, const std::string&, const std::string& name) -> Result<json> {
          return notFound(name);
        }),
        o);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  json pod(const std::string& probes, const std::string& policy = "Always") {
    return json::parse(R"({"metadata":{"name":"p","namespace":"ns","uid":"u1"},
      "spec":{"nodeName":"n1","restartPolicy":")" + policy + R"(","terminationGracePeriodSeconds":12,
        "containers":[{"name":"app","image":"busybox:1",)" + probes + R"(}]}})");
  }
  void sync(json& p) {
    auto r = worker_->sync(p);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    if (!r->status.is_null()) p["status"] = r->status;
  }
  static std::string condition(const json& p, const std::string& type) {
    for (const auto& c : p["status"]["conditions"])
      if (c["type"] == type) return c["status"];
    return "";
  }

  std::filesystem::path root_;
  std::unique_ptr<PodWorker> worker_;
};

TEST_F(PodWorkerProbeTest, ReadinessDrivesContainerAndPodConditions) {
  json p = pod(R"("readinessProbe":{"exec":{"command":["cat","/ready"]},"periodSeconds":1,"failureThreshold":1})");
  sync(p);
  EXPECT_EQ(p["status"]["phase"], "Running");
  EXPECT_EQ(p["status"]["containerStatuses"][0]["ready"], false);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["started"], true);
  EXPECT_EQ(condition(p, "Ready"), "False");
  EXPECT_EQ(condition(p, "ContainersReady"), "False");
  prober_->runDue();
  ASSERT_EQ(changes_, std::vector<std::string>{"u1"});
  sync(p);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["ready"], true);
  EXPECT_EQ(condition(p, "Ready"), "True");
  EXPECT_EQ(condition(p, "ContainersReady"), "True");
  rt_.setExecResult("app", 1, "cat: /ready: No such file");
  tick();
  sync(p);
  EXPECT_EQ(condition(p, "Ready"), "False");
  EXPECT_EQ(p["status"]["containerStatuses"][0]["restartCount"], 0) << "readiness never restarts";
}

TEST_F(PodWorkerProbeTest, StartupProbeHoldsStartedAndReady) {
  json p = pod(R"("startupProbe":{"exec":{"command":["check"]},"periodSeconds":1,"failureThreshold":30})");
  rt_.setExecResult("app", 1);
  sync(p);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["started"], false);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["ready"], false);
  prober_->runDue();
  rt_.setExecResult("app", 0);
  tick();
  sync(p);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["started"], true);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["ready"], true);
}

TEST_F(PodWorkerProbeTest, LivenessFailureRestartsWithBackoffAndEvents) {
  json p = pod(R"("livenessProbe":{"exec":{"command":["check"]},"periodSeconds":1,"failureThreshold":2})");
  sync(p);
  EXPECT_EQ(condition(p, "Ready"), "True");
  rt_.setExecResult("app", 1, "unhealthy");
  tick(2);
  ASSERT_FALSE(changes_.empty());
  sync(p);
  // Killed with the pod's grace period and restarted at once (the first restart has no back-off).
  ASSERT_EQ(rt_.stops().size(), 1u);
  EXPECT_EQ(rt_.stops()[0].second, seconds(12));
  EXPECT_EQ(rt_.created().size(), 2u);
  const json& cs = p["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_TRUE(cs["state"].contains("running"));
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 143);
  ASSERT_GE(events_.size(), 3u);
  EXPECT_EQ(events_[0], "spec.containers{app} Unhealthy: Liveness probe failed: unhealthy");
  EXPECT_EQ(events_.back(), "spec.containers{app} Killing: Container app failed liveness probe, will be restarted");
  // The new instance fails too: killed again, then it waits in CrashLoopBackOff.
  tick(2);
  sync(p);
  EXPECT_EQ(rt_.stops().size(), 2u);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(p["status"]["containerStatuses"][0]["restartCount"], 1);
  clock_.advance(seconds(11));
  sync(p);
  EXPECT_EQ(p["status"]["containerStatuses"][0]["restartCount"], 2);
  EXPECT_TRUE(p["status"]["containerStatuses"][0]["state"].contains("running"));
}

TEST_F(PodWorkerProbeTest, LivenessFailureWithRestartPolicyNeverEndsThePod) {
  json p = pod(R"("livenessProbe":{"exec":{"command":["check"]},"periodSeconds":1,"failureThreshold":1,
                  "terminationGracePeriodSeconds":3})", "Never");
  sync(p);
  rt_.setExecResult("app", 1);
  prober_->runDue();
  sync(p);
  ASSERT_EQ(rt_.stops().size(), 1u);
  EXPECT_EQ(rt_.stops()[0].second, seconds(3)) << "the probe's grace period wins";
  EXPECT_EQ(rt_.created().size(), 1u);
  EXPECT_EQ(p["status"]["phase"], "Failed");
}

}  // namespace
}  // namespace berth::kubelet
