// The local instance driver with real supervisors in real network namespaces (root only). The
// network is a stand-in (a bare namespace with the metadata address on lo) and so is the agent
// (a script that sleeps), so this runs without the VPC and without an API server.
#include "nodegroups/cloud/local/local_instance_driver.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/strings.h"
#include "nodegroups/cloud/local/local_state.h"

namespace berth::cloud::local {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Namespaces named "lct<pid>-<instance id suffix>", removed by the test's TearDown too.
class FakeNetwork : public InstanceNetwork {
 public:
  explicit FakeNetwork(std::string prefix) : prefix_(std::move(prefix)) {}
  Result<std::string> attachInstance(const std::string& id, const std::string& subnet,
                                     std::string* netns) override {
    *netns = nameOf(id);
    std::string ns = *netns;
    if (system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up && ip -n " + ns +
                " addr add 169.254.169.254/32 dev lo").c_str()) != 0) {
      return internalError("cannot make namespace " + ns);
    }
    return std::string("10.9.0.5");
  }
  Status detachInstance(const std::string& id) override {
    (void)system(("ip netns del " + nameOf(id) + " 2>/dev/null").c_str());
    return Status::ok();
  }
  std::string nameOf(const std::string& id) const { return prefix_ + id.substr(id.size() - 6); }
  bool exists(const std::string& id) const { return fs::exists("/run/netns/" + nameOf(id)); }

 private:
  std::string prefix_;
};

class LocalDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    char tmpl[] = "/tmp/berth-lcdrv-XXXXXX";
    dir_ = mkdtemp(tmpl);
    agent_ = dir_ + "/fake-agent";
    std::ofstream(agent_) << "#!/bin/sh\nexec sleep 600\n";
    fs::permissions(agent_, fs::perms::owner_all);
    net_ = std::make_unique<FakeNetwork>("lct" + std::to_string(getpid()) + "-");
    LocalInstanceDriver::Options o;
    o.cloud_dir = dir_;
    o.config.cluster = "c1";
    o.config.zones = {"local-1a", "local-1b"};
    o.config.node_runtime = "simulated";
    o.config.agent_binary = agent_;
    o.berth_binary = BERTH_BINARY;
    driver_ = std::make_unique<LocalInstanceDriver>(o, net_.get());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const Instance& i : peekInstances(dir_)) {
      (void)driver_->terminateInstance(i.id);
      (void)net_->detachInstance(i.id);
    }
    fs::remove_all(dir_);
  }

  RunInstanceRequest request(const std::string& token, CapacityType ct = CapacityType::kOnDemand) {
    RunInstanceRequest r;
    r.client_token = token;
    r.instance_type = "m5.large";
    r.zone = "local-1a";
    r.subnet_id = "subnet-a";
    r.capacity_type = ct;
    r.user_data = "user-data of " + token;
    r.tags = {{kTagCluster, "c1"}, {kTagNodeGroup, "ng"}};
    return r;
  }
  // Describes until `pred` holds for the instance or 20 s pass.
  Instance waitFor(const std::string& id, const std::function<bool(const Instance&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    Instance last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto all = driver_->describeInstances({{kTagCluster, "c1"}});
      EXPECT_TRUE(all.isOk());
      for (const Instance& i : *all) {
        if (i.id == id) last = i;
      }
      if (last.id == id && pred(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "instance " << id << " never reached the state; last: "
                  << toString(last.state) << " " << last.state_reason;
    return last;
  }
  std::string imds(const std::string& id, const std::string& path) {
    return run("ip netns exec " + net_->nameOf(id) + " curl -s -m 2 http://169.254.169.254" + path);
  }
  static bool running(const Instance& i) { return i.state == InstanceState::kRunning; }
  static bool terminated(const Instance& i) { return i.state == InstanceState::kTerminated; }

  std::string dir_, agent_;
  std::unique_ptr<FakeNetwork> net_;
  std::unique_ptr<LocalInstanceDriver> driver_;
};

TEST_F(LocalDriverTest, LaunchIsIdempotentPerTokenAndServesMetadata) {
  auto a = driver_->runInstance(request("tok-1"));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  auto again = driver_->runInstance(request("tok-1"));
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->id, a->id);
  EXPECT_EQ(a->private_ip, "10.9.0.5");
  EXPECT_EQ(a->providerId("local"), "local:///local-1a/" + a->id);
  waitFor(a->id, running);
  EXPECT_EQ(imds(a->id, "/latest/meta-data/instance-id"), a->id);
  EXPECT_EQ(imds(a->id, "/latest/meta-data/placement/availability-zone"), "local-1a");
  EXPECT_EQ(imds(a->id, "/latest/user-data"), "user-data of tok-1");
  std::string token = run("ip netns exec " + net_->nameOf(a->id) +
                          " curl -s -m 2 -X PUT --data '' -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "
                          "http://169.254.169.254/latest/api/token");
  EXPECT_FALSE(token.empty());
  EXPECT_EQ(run("ip netns exec " + net_->nameOf(a->id) + " curl -s -m 2 -H 'X-aws-ec2-metadata-token: " +
                token + "' http://169.254.169.254/latest/meta-data/instance-type"),
            "m5.large");
  auto all = driver_->describeInstances({{kTagCluster, "c1"}});
  ASSERT_TRUE(all.isOk());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_TRUE(driver_->describeInstances({{kTagCluster, "other"}})->empty());

  ASSERT_TRUE(driver_->terminateInstance(a->id).isOk());
  Instance t = waitFor(a->id, terminated);
  EXPECT_EQ(t.state_reason, "Client.UserInitiatedShutdown");
  EXPECT_FALSE(net_->exists(a->id));
  EXPECT_TRUE(driver_->terminateInstance(a->id).isOk());  // idempotent
  EXPECT_EQ(driver_->terminateInstance("i-00000000000000000").code(), Code::kNotFound);
}

TEST_F(LocalDriverTest, RefusesBadRequestsAndInjectedCapacityShortages) {
  RunInstanceRequest bad = request("tok-2");
  bad.instance_type = "m5.enormous";
  EXPECT_EQ(driver_->runInstance(bad).status().code(), Code::kInvalid);
  EXPECT_NE(driver_->runInstance(bad).status().message().find("nearest: m5."), std::string::npos)
      << "the catalogue's nearest names";
  bad = request("tok-2");
  bad.zone = "local-1z";
  EXPECT_EQ(driver_->runInstance(bad).status().code(), Code::kInvalid);
  bad = request("");
  EXPECT_EQ(driver_->runInstance(bad).status().code(), Code::kInvalid);

  ASSERT_TRUE(addCapacityFault(dir_, {"m5.large", "local-1a", CapacityType::kSpot, std::nullopt},
                               std::chrono::system_clock::now()).isOk());
  auto r = driver_->runInstance(request("tok-3", CapacityType::kSpot));
  ASSERT_FALSE(r.isOk());
  EXPECT_TRUE(isInsufficientCapacity(r.status())) << r.status().toString();
  // The on-demand pool of the same type and zone still has capacity.
  auto od = driver_->runInstance(request("tok-4"));
  ASSERT_TRUE(od.isOk()) << od.status().toString();
}

TEST_F(LocalDriverTest, ACrashedAgentFailsTheInstance) {
  auto a = driver_->runInstance(request("tok-5"));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  waitFor(a->id, running);
  auto st = readJsonFile(instanceDir(dir_, a->id) + "/status.json");
  ASSERT_TRUE(st.isOk());
  ProcessRef agent = supervisorStatusFromJson(*st).agent;
  ASSERT_TRUE(processAlive(agent));
  ASSERT_EQ(::kill(agent.pid, SIGKILL), 0);
  Instance t = waitFor(a->id, terminated);
  EXPECT_EQ(t.state_reason, "Server.InternalError");
  EXPECT_FALSE(net_->exists(a->id));
}

TEST_F(LocalDriverTest, ZoneOutageCrashesItsInstancesAndRefusesLaunchesThere) {
  auto a = driver_->runInstance(request("tok-9"));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  waitFor(a->id, running);
  // What `berth cloud inject zone-outage` does: the outage first, then every instance crashes.
  ASSERT_TRUE(addZoneOutage(dir_, {"local-1a", std::nullopt}, std::chrono::system_clock::now()).isOk());
  ASSERT_TRUE(crashInstance(dir_, a->id).isOk());
  Instance t = waitFor(a->id, terminated);
  EXPECT_EQ(t.state_reason, "Server.InternalError");
  EXPECT_FALSE(net_->exists(a->id));
  EXPECT_EQ(crashInstance(dir_, a->id).code(), Code::kConflict);
  EXPECT_EQ(crashInstance(dir_, "i-00000000000000000").code(), Code::kNotFound);
  auto r = driver_->runInstance(request("tok-10", CapacityType::kSpot));
  ASSERT_FALSE(r.isOk());
  EXPECT_TRUE(isInsufficientCapacity(r.status())) << r.status().toString();
  RunInstanceRequest other = request("tok-11");
  other.zone = "local-1b";
  other.subnet_id = "subnet-b";
  auto b = driver_->runInstance(other);
  EXPECT_TRUE(b.isOk()) << b.status().toString();
  ASSERT_TRUE(clearFaults(dir_).isOk());
  auto again = driver_->runInstance(request("tok-12"));
  EXPECT_TRUE(again.isOk()) << again.status().toString();
}

TEST_F(LocalDriverTest, SpotNoticeIsServedThenTheInstanceIsReclaimed) {
  auto a = driver_->runInstance(request("tok-6", CapacityType::kSpot));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  waitFor(a->id, running);
  EXPECT_NE(imds(a->id, "/latest/meta-data/spot/instance-action").find("Not Found"), std::string::npos);
  TimePoint when = std::chrono::system_clock::now() + std::chrono::seconds(2);
  ASSERT_TRUE(writeSpotNotice(instanceDir(dir_, a->id), when).isOk());
  std::string notice = imds(a->id, "/latest/meta-data/spot/instance-action");
  EXPECT_NE(notice.find("\"action\":\"terminate\""), std::string::npos) << notice;
  EXPECT_NE(notice.find(formatRfc3339(when)), std::string::npos) << notice;
  Instance t = waitFor(a->id, terminated);
  EXPECT_EQ(t.state_reason, "Server.SpotInstanceTermination");
  ASSERT_TRUE(t.interruption_time.has_value());
}

}  // namespace
}  // namespace berth::cloud::local
