// The local VPC on real kernel networking (root only): NAT gateways per mode and the source
// address the outside sees, no way in from the internet namespace, the host's control-plane leg,
// delete leaving nothing of one cluster and sparing another, bad specs refused before anything
// is made. Drives LocalNetwork through the hidden `berth net` commands.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "common/strings.h"
#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using nlohmann::json;

std::string randomName() {
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s = "t";
  for (int i = 0; i < 5; ++i) s += kChars[rd() % 36];
  return s;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
bool startsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Exists and is not a zombie.
bool alive(pid_t pid) {
  CmdResult r = run({"cat", "/proc/" + std::to_string(pid) + "/stat"});
  if (r.exit_code != 0) return false;
  size_t paren = r.out.rfind(')');
  return paren != std::string::npos && r.out.size() > paren + 2 && r.out[paren + 2] != 'Z';
}

// One cluster's network, deleted when the test ends (whatever happened).
class Net {
 public:
  explicit Net(std::string root) : name_(randomName()), root_(std::move(root)) {}
  ~Net() { berth({"delete"}); }

  CmdResult berth(std::vector<std::string> args) const {
    std::vector<std::string> argv = {berthBinary(), "net", args[0], "--cluster", name_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return run(argv, "", {"BERTH_STATE_DIR=" + root_}, std::chrono::seconds(120));
  }
  // Creates the network and returns the VPC as `berth net create` prints it.
  json create(std::vector<std::string> flags) {
    flags.insert(flags.begin(), "create");
    CmdResult r = berth(flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    vpc_ = r.exit_code == 0 ? json::parse(r.out) : json::object();
    return vpc_;
  }
  std::string subnet(const std::string& zone, bool is_public) const {
    for (const json& s : vpc_.value("subnets", json::array()))
      if (s["zone"] == zone && s["public"] == is_public) return s["id"];
    return "";
  }
  std::string natIp(const std::string& zone) const {
    for (const json& n : vpc_.value("natGateways", json::array()))
      if (n["zone"] == zone) return n["publicIp"];
    return "";
  }
  // Attaches an instance and returns its namespace.
  std::string attach(const std::string& id, const std::string& subnet_id, std::string* ip = nullptr) {
    CmdResult r = berth({"attach", "--instance", id, "--subnet", subnet_id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream ss(r.out);
    std::string addr, netns;
    ss >> addr >> netns;
    if (ip) *ip = addr;
    return netns;
  }
  std::string stateFile() const { return root_ + "/" + name_ + "/cloud/network.json"; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string root_;
  json vpc_;
};

CmdResult inNs(const std::string& ns, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return run(argv, "", {}, std::chrono::seconds(30));
}

// What 203.0.113.10 reports as the client's address, or "" when it cannot be reached.
std::string sourceSeenOutside(const std::string& ns) {
  CmdResult r = inNs(ns, {"curl", "-s", "--max-time", "3", "http://203.0.113.10/"});
  if (r.exit_code != 0 || !startsWith(r.out, "client=")) return "";
  return r.out.substr(7, r.out.find(':') - 7);
}

// An echo server inside an instance namespace, up once it printed that it listens.
std::unique_ptr<Child> serveIn(const std::string& ns, const std::string& listen) {
  auto c = std::make_unique<Child>(std::vector<std::string>{"ip", "netns", "exec", ns, berthBinary(), "net",
                                                            "echo-server", "--listen", listen});
  EXPECT_TRUE(c->waitFor("listening on", std::chrono::seconds(10)));
  return c;
}

class NetworkE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    root_ = makeTempDir("berth-net-e2e");
  }
  // Each test's Net has deleted its VPC by now; its state directory goes too.
  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) std::filesystem::remove_all(root_, ec);
  }
  std::string root_;
};

TEST_F(NetworkE2E, HighlyAvailableNatPerZoneAndNoWayIn) {
  Net net(root_);
  net.create({"--zones", "local-1a,local-1b", "--cidr", "10.151.0.0/16", "--nat", "HighlyAvailable"});
  ASSERT_FALSE(net.natIp("local-1a").empty());
  ASSERT_FALSE(net.natIp("local-1b").empty());
  ASSERT_NE(net.natIp("local-1a"), net.natIp("local-1b"));
  std::string ip_a;
  std::string ns_a = net.attach("i-00000000000000a01", net.subnet("local-1a", false), &ip_a);
  std::string ns_b = net.attach("i-00000000000000b01", net.subnet("local-1b", false));
  EXPECT_EQ(sourceSeenOutside(ns_a), net.natIp("local-1a"));
  EXPECT_EQ(sourceSeenOutside(ns_b), net.natIp("local-1b"));

  // The host reaches the private instance over its control-plane leg.
  auto server = serveIn(ns_a, "0.0.0.0:8080");
  CmdResult direct = run({"curl", "-s", "--max-time", "3", "http://" + ip_a + ":8080/"});
  EXPECT_EQ(direct.exit_code, 0);
  EXPECT_TRUE(contains(direct.out, "server=" + ip_a + ":8080")) << direct.out;

  // Nothing in the internet namespace opens a connection to it: it has no route, and even
  // with one pointed at the router the router refuses new connections into the VPC.
  std::string inet = "berth-" + net.name() + "-inet";
  CmdResult in = inNs(inet, {"curl", "-s", "--max-time", "2", "http://" + ip_a + ":8080/"});
  EXPECT_NE(in.exit_code, 0) << in.out;
  json state = json::parse(run({"cat", net.stateFile()}).out);
  std::string block = state["publicBlock"];
  std::string router_ip = block.substr(0, block.rfind('.')) + ".5";
  ASSERT_EQ(inNs(inet, {"ip", "route", "add", "10.151.0.0/16", "via", router_ip}).exit_code, 0);
  in = inNs(inet, {"curl", "-s", "--max-time", "2", "http://" + ip_a + ":8080/"});
  EXPECT_NE(in.exit_code, 0) << in.out;
  inNs(inet, {"ip", "route", "del", "10.151.0.0/16"});
}

TEST_F(NetworkE2E, SingleNatServesEveryZoneAndPublicSubnetsUseTheGateway) {
  Net net(root_);
  net.create({"--zones", "local-1a,local-1b", "--cidr", "10.152.0.0/16"});
  ASSERT_EQ(net.natIp("local-1b"), "");
  std::string nat = net.natIp("local-1a");
  ASSERT_FALSE(nat.empty());
  EXPECT_EQ(sourceSeenOutside(net.attach("i-00000000000000a02", net.subnet("local-1a", false))), nat);
  EXPECT_EQ(sourceSeenOutside(net.attach("i-00000000000000b02", net.subnet("local-1b", false))), nat);
  std::string pub = sourceSeenOutside(net.attach("i-00000000000000c02", net.subnet("local-1b", true)));
  EXPECT_FALSE(pub.empty());
  EXPECT_NE(pub, nat);
}

TEST_F(NetworkE2E, DisableLeavesPrivateSubnetsWithoutEgress) {
  Net net(root_);
  json vpc = net.create({"--zones", "local-1a", "--cidr", "10.153.0.0/16", "--nat", "Disable"});
  EXPECT_TRUE(vpc["natGateways"].empty());
  EXPECT_EQ(sourceSeenOutside(net.attach("i-00000000000000a03", net.subnet("local-1a", false))), "");
  EXPECT_NE(sourceSeenOutside(net.attach("i-00000000000000a13", net.subnet("local-1a", true))), "");
}

TEST_F(NetworkE2E, DeleteRemovesOneClusterOnly) {
  auto doomed = std::make_unique<Net>(root_);
  Net kept(root_);
  doomed->create({"--zones", "local-1a", "--cidr", "10.154.0.0/16"});
  kept.create({"--zones", "local-1a", "--cidr", "10.155.0.0/16"});
  std::string ns = doomed->attach("i-00000000000000a04", doomed->subnet("local-1a", false));
  auto server = serveIn(ns, "0.0.0.0:8080");
  std::string kept_ns = kept.attach("i-00000000000000a05", kept.subnet("local-1a", false));
  json state = json::parse(run({"cat", doomed->stateFile()}).out);
  std::string prefix = state["prefix"];
  int echo_pid = state["echoPid"];
  ASSERT_GT(echo_pid, 0);
  ASSERT_TRUE(alive(echo_pid));

  CmdResult del = doomed->berth({"delete"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  std::string name = doomed->name();
  EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, "berth-" + name + "-"));
  EXPECT_FALSE(contains(run({"ip", "-o", "link", "show"}).out, prefix));
  std::string table = "berth_" + name;
  EXPECT_FALSE(contains(run({"nft", "list", "tables"}).out, table));
  EXPECT_FALSE(alive(echo_pid)) << "the internet namespace's echo server survived";
  EXPECT_FALSE(alive(server->pid())) << "a process in an instance namespace survived";
  EXPECT_NE(::access(doomed->stateFile().c_str(), F_OK), 0);
  EXPECT_FALSE(contains(run({"ip", "route"}).out, "10.154."));

  // The other cluster still works.
  EXPECT_TRUE(contains(run({"nft", "list", "tables"}).out, "berth_" + kept.name()));
  EXPECT_EQ(sourceSeenOutside(kept_ns), kept.natIp("local-1a"));
  // And delete is idempotent, also without state.
  EXPECT_EQ(doomed->berth({"delete"}).exit_code, 0);
}

TEST_F(NetworkE2E, KubectlShowsThePublishedNetwork) {
  Server server;
  ASSERT_TRUE(server.ok());
  Net net(root_);
  json vpc = net.create({"--zones", "local-1a,local-1b", "--cidr", "10.158.0.0/16", "--nat", "HighlyAvailable",
                         "--kubeconfig", server.kubeconfig()});
  ASSERT_EQ(vpc["subnets"].size(), 4u);
  CmdResult r = server.kubectl({"get", "vpcs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "CONTROL-PLANE-IP")) << r.out;
  EXPECT_TRUE(contains(r.out, vpc["id"].get<std::string>())) << r.out;
  EXPECT_TRUE(contains(r.out, "10.158.0.0/16")) << r.out;
  EXPECT_TRUE(contains(r.out, "HighlyAvailable")) << r.out;
  r = server.kubectl({"get", "subnets", "-o", "wide"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const json& s : vpc["subnets"]) {
    EXPECT_TRUE(contains(r.out, s["id"].get<std::string>())) << r.out;
    EXPECT_TRUE(contains(r.out, s["cidr"].get<std::string>())) << r.out;
  }
  EXPECT_TRUE(contains(r.out, "local-1b-private")) << r.out;
  EXPECT_TRUE(contains(r.out, "public")) << r.out;
  r = server.kubectl({"get", "natgateways"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, net.natIp("local-1a"))) << r.out;
  EXPECT_TRUE(contains(r.out, net.natIp("local-1b"))) << r.out;
  std::string before = server.kubectl({"get", "vpc", net.name(), "-o", "jsonpath={.metadata.resourceVersion}"}).out;
  // Publishing again writes nothing.
  net.create({"--zones", "local-1a,local-1b", "--cidr", "10.158.0.0/16", "--nat", "HighlyAvailable",
              "--kubeconfig", server.kubeconfig()});
  EXPECT_EQ(server.kubectl({"get", "vpc", net.name(), "-o", "jsonpath={.metadata.resourceVersion}"}).out, before);
  // Validation of the kinds.
  r = server.kubectl({"create", "-f", "-"},
                     R"({"apiVersion":"berth.dev/v1alpha1","kind":"Subnet","metadata":{"name":"bad"},)"
                     R"("spec":{"vpc":"x","zone":"a","cidr":"10.0.0.1/16"}})");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "spec.cidr")) << r.err;
}

TEST_F(NetworkE2E, BadSpecsAreRefusedBeforeAnythingIsMade) {
  Net net(root_);
  struct Case {
    std::vector<std::string> flags;
    std::string field;
  } cases[] = {
      {{"create", "--cidr", "10.0.0.0/8"}, "vpc.cidr"},
      {{"create", "--cidr", "10.156.0.1/16"}, "vpc.cidr"},
      {{"create", "--nat", "Triple"}, "vpc.nat.gateway"},
      {{"create", "--cidr", "10.156.0.0/16", "--public", "local-1a=10.157.0.0/24"}, "vpc.subnets.public.local-1a.cidr"},
      {{"create", "--cidr", "10.156.0.0/16", "--public", "local-1a=10.156.0.0/20",
        "--private", "local-1b=10.156.8.0/24"}, "vpc.subnets.private.local-1b.cidr"},
      {{"create", "--zones", "a,b,c,d,e,f,g,h,i"}, "availabilityZones"},
  };
  std::vector<Case> all(std::begin(cases), std::end(cases));
  // A VPC on top of one of the host's own networks.
  for (const std::string& line : split(run({"ip", "-4", "-o", "route", "show"}).out, '\n')) {
    std::string dst = line.substr(0, line.find(' '));
    size_t slash = dst.find('/');
    if (slash == std::string::npos) continue;
    int prefix = std::stoi(dst.substr(slash + 1));
    if (prefix >= 16 && prefix <= 24) {
      all.push_back({{"create", "--cidr", dst}, "vpc.cidr: " + dst});
      break;
    }
  }
  for (const Case& c : all) {
    CmdResult r = net.berth(c.flags);
    EXPECT_NE(r.exit_code, 0) << c.field;
    EXPECT_TRUE(contains(r.err, c.field)) << r.err;
    EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, "berth-" + net.name() + "-")) << c.field;
    EXPECT_FALSE(contains(run({"nft", "list", "tables"}).out, "berth_" + net.name())) << c.field;
  }
}

}  // namespace
}  // namespace berth::e2e
