// The local cloud's load balancers on real kernel networking and the real HAProxy (root only),
// driven through the hidden `berth net lb-*` commands: the host reaches a balancer's public
// address and through it echo servers in private instances of three zones; an unchanged spec
// changes nothing; a dead target is taken out by the health checks without a failed request;
// a changed spec reloads HAProxy without closing the listener; a killed HAProxy is restarted
// by the next ensure; delete (of the balancer or of the whole network) leaves no namespace,
// link, route or process; bad specs are refused naming the field.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string randomName() {
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s = "l";
  for (int i = 0; i < 5; ++i) s += kChars[rd() % 36];
  return s;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// Exists and is not a zombie.
bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (pid <= 0 || !std::getline(f, stat)) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] != 'Z';
}

// Live children of `pid` (HAProxy's workers of a master).
std::set<pid_t> childrenOf(pid_t pid) {
  std::set<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    std::istringstream rest(stat.substr(stat.rfind(')') + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid && state != "Z") out.insert(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Processes whose command line contains `needle`.
int processesMatching(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (contains(cmd, needle)) ++n;
  }
  return n;
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
  json create(const std::string& zones, const std::string& cidr) {
    CmdResult r = berth({"create", "--zones", zones, "--cidr", cidr});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    vpc_ = r.exit_code == 0 ? json::parse(r.out) : json::object();
    return vpc_;
  }
  std::string subnet(const std::string& zone, bool is_public) const {
    for (const json& s : vpc_.value("subnets", json::array()))
      if (s["zone"] == zone && s["public"] == is_public) return s["id"];
    return "";
  }
  // Attaches an instance to the zone's private subnet; returns "IP NETNS".
  std::pair<std::string, std::string> attach(const std::string& id, const std::string& zone) {
    CmdResult r = berth({"attach", "--instance", id, "--subnet", subnet(zone, false)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream ss(r.out);
    std::string ip, netns;
    ss >> ip >> netns;
    return {ip, netns};
  }
  json state() const {
    std::ifstream f(root_ + "/" + name_ + "/cloud/network.json");
    return f ? json::parse(f) : json::object();
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string root_;
  json vpc_;
};

std::unique_ptr<Child> serveIn(const std::string& ns, const std::string& listen) {
  auto c = std::make_unique<Child>(std::vector<std::string>{"ip", "netns", "exec", ns, berthBinary(), "net",
                                                            "echo-server", "--listen", listen});
  EXPECT_TRUE(c->waitFor("listening on", std::chrono::seconds(10)));
  return c;
}

// What the echo server behind `url` reports: {"client": ..., "server": ...} without ports,
// empty when the request failed.
std::map<std::string, std::string> ask(const std::string& url) {
  CmdResult r = run({"curl", "-s", "--max-time", "3", url});
  std::map<std::string, std::string> out;
  if (r.exit_code != 0) return out;
  std::istringstream ss(r.out);
  std::string field;
  while (ss >> field) {
    size_t eq = field.find('='), colon = field.rfind(':');
    if (eq != std::string::npos) out[field.substr(0, eq)] = field.substr(eq + 1, colon - eq - 1);
  }
  return out;
}

class LoadBalancerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, haproxy)";
    if (::access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "haproxy is not installed";
    root_ = makeTempDir("berth-lb-e2e");
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  std::string root_;
};

TEST_F(LoadBalancerE2E, SpreadsOverZonesChecksTargetsReloadsAndDeletes) {
  Net net(root_);
  net.create("local-1a,local-1b,local-1c", "10.161.0.0/16");
  std::vector<std::string> zones = {"local-1a", "local-1b", "local-1c"};
  std::vector<std::string> ips;
  std::vector<std::unique_ptr<Child>> servers;
  for (size_t i = 0; i < zones.size(); ++i) {
    auto [ip, ns] = net.attach("i-00000000000000" + std::string(1, static_cast<char>('a' + i)) + "07", zones[i]);
    ips.push_back(ip);
    servers.push_back(serveIn(ns, "0.0.0.0:8080"));
  }
  std::string targets = ips[0] + ":8080@local-1a," + ips[1] + ":8080@local-1b," + ips[2] + ":8080@local-1c";
  CmdResult made = net.berth({"lb-ensure", "--name", "web", "--listener", "80=" + targets});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string address = made.out.substr(0, made.out.find('\n'));
  json st = net.state();
  std::string block = st["publicBlock"];
  EXPECT_EQ(address, block.substr(0, block.rfind('.')) + ".64");
  json lb = st["loadBalancers"]["web"];
  ASSERT_EQ(lb["legs"].size(), 3u) << lb.dump();
  std::set<std::string> legs;
  for (const json& leg : lb["legs"]) legs.insert(leg["ip"]);
  std::string netns = lb["netns"];
  EXPECT_TRUE(contains(netns, "berth-" + net.name() + "-lb-")) << netns;
  CmdResult listed = net.berth({"lb-list"});
  EXPECT_TRUE(contains(listed.out, "web " + lb["id"].get<std::string>() + " " + address + " active")) << listed.out;

  // From the host, to every zone's target; the targets see the balancer's legs as the source.
  std::string url = "http://" + address + "/";
  std::set<std::string> seen;
  for (int i = 0; i < 9; ++i) {
    auto answer = ask(url);
    ASSERT_FALSE(answer.empty()) << "request " << i << " to " << url << " failed";
    seen.insert(answer["server"]);
    EXPECT_TRUE(legs.count(answer["client"])) << answer["client"];
  }
  EXPECT_EQ(seen, std::set<std::string>(ips.begin(), ips.end()));

  // The same spec (targets in another order) changes nothing: no reload, no new worker.
  pid_t master = lb["haproxyPid"];
  ASSERT_TRUE(alive(master));
  std::set<pid_t> workers = childrenOf(master);
  ASSERT_EQ(workers.size(), 1u);
  std::string reordered = ips[2] + ":8080@local-1c," + ips[0] + ":8080@local-1a," + ips[1] + ":8080@local-1b";
  ASSERT_EQ(net.berth({"lb-ensure", "--name", "web", "--listener", "80=" + reordered}).exit_code, 0);
  EXPECT_EQ(net.state()["loadBalancers"]["web"]["haproxyPid"], master);
  EXPECT_EQ(childrenOf(master), workers);

  // A dead target leaves the rotation through the health checks; no request fails meanwhile
  // (a refused connection is retried on another target).
  servers[2].reset();
  int failures = 0, clean = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (clean < 10 && std::chrono::steady_clock::now() < deadline) {
    auto answer = ask(url);
    if (answer.empty()) ++failures;
    clean = !answer.empty() && answer["server"] != ips[2] ? clean + 1 : 0;
  }
  EXPECT_EQ(clean, 10) << "the dead target was still used";
  EXPECT_EQ(failures, 0);

  // A changed spec reloads HAProxy in place: same master, a new worker, a new listener, and
  // requests sent all along never fail.
  Child load({"sh", "-c", "while :; do if curl -s -m 3 -o /dev/null " + url + "; then echo ok; else echo fail; fi; done"});
  std::string line;
  ASSERT_TRUE(load.readLine(&line, std::chrono::seconds(10)));
  CmdResult changed = net.berth({"lb-ensure", "--name", "web", "--listener", "80=" + targets,
                                 "--listener", "8081=" + ips[0] + ":8080@local-1a"});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_EQ(changed.out.substr(0, changed.out.find('\n')), address);
  EXPECT_EQ(net.state()["loadBalancers"]["web"]["haproxyPid"], master);
  std::set<pid_t> now = childrenOf(master);
  bool fresh = false;
  for (pid_t w : now) fresh = fresh || !workers.count(w);
  EXPECT_TRUE(fresh) << "no new worker after the reload";
  EXPECT_EQ(ask("http://" + address + ":8081/")["server"], ips[0]);
  for (int i = 0; i < 5 && load.readLine(&line, std::chrono::seconds(10)); ++i) {
  }
  load.kill(SIGTERM);
  int ok = 0, failed = 0;
  while (load.readLine(&line, std::chrono::seconds(5))) (line == "ok" ? ok : failed)++;
  EXPECT_GT(ok, 0);
  EXPECT_EQ(failed, 0) << "requests failed during the reload";

  // A killed HAProxy shows as impaired and the next ensure starts it again.
  ::kill(master, SIGKILL);
  for (int i = 0; i < 100 && alive(master); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(contains(net.berth({"lb-list"}).out, " active_impaired")) << net.berth({"lb-list"}).out;
  ASSERT_EQ(net.berth({"lb-ensure", "--name", "web", "--listener", "80=" + targets,
                       "--listener", "8081=" + ips[0] + ":8080@local-1a"}).exit_code, 0);
  pid_t restarted = net.state()["loadBalancers"]["web"]["haproxyPid"];
  EXPECT_NE(restarted, master);
  EXPECT_TRUE(alive(restarted));
  EXPECT_FALSE(ask(url).empty());

  // Delete: namespace, router route, legs and HAProxy gone; idempotent.
  CmdResult del = net.berth({"lb-delete", "--name", "web"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(alive(restarted));
  EXPECT_TRUE(childrenOf(restarted).empty());
  EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, netns));
  std::string router = "berth-" + net.name() + "-router";
  EXPECT_FALSE(contains(run({"ip", "-n", router, "route"}).out, address));
  std::string links = run({"ip", "-n", router, "-o", "link"}).out;
  for (const json& leg : lb["legs"]) EXPECT_FALSE(contains(links, leg["routerLink"].get<std::string>() + "@")) << links;
  EXPECT_TRUE(ask(url).empty());
  EXPECT_EQ(net.berth({"lb-delete", "--name", "web"}).exit_code, 0);
  EXPECT_TRUE(net.state()["loadBalancers"].empty());
  EXPECT_EQ(processesMatching(root_ + "/" + net.name() + "/cloud/network/lb-"), 0);
}

TEST_F(LoadBalancerE2E, NetworkDeleteRemovesEveryBalancer) {
  auto net = std::make_unique<Net>(root_);
  net->create("local-1a,local-1b", "10.162.0.0/16");
  CmdResult one = net->berth({"lb-ensure", "--name", "one", "--listener", "80="});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  CmdResult two = net->berth({"lb-ensure", "--name", "two", "--listener", "80=", "--zones", "local-1b"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(one.out, two.out);  // each its own public address
  json st = net->state();
  EXPECT_EQ(st["loadBalancers"]["one"]["legs"].size(), 2u);
  EXPECT_EQ(st["loadBalancers"]["two"]["legs"].size(), 1u);
  std::string name = net->name(), prefix = st["prefix"];
  std::string state_dir = root_ + "/" + name + "/cloud/network/lb-";
  pid_t master_one = st["loadBalancers"]["one"]["haproxyPid"], master_two = st["loadBalancers"]["two"]["haproxyPid"];
  EXPECT_TRUE(alive(master_one));
  EXPECT_TRUE(alive(master_two));
  EXPECT_GE(processesMatching(state_dir), 2);
  ASSERT_EQ(net->berth({"delete"}).exit_code, 0);
  EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, "berth-" + name + "-"));
  EXPECT_FALSE(contains(run({"ip", "-o", "link", "show"}).out, prefix));
  EXPECT_FALSE(contains(run({"nft", "list", "tables"}).out, "berth_" + name));
  EXPECT_EQ(processesMatching(state_dir), 0);
  EXPECT_FALSE(alive(master_one));
  EXPECT_FALSE(alive(master_two));
}

TEST_F(LoadBalancerE2E, BadSpecsAreRefusedNamingTheField) {
  Net net(root_);
  CmdResult early = net.berth({"lb-ensure", "--name", "web", "--listener", "80=10.0.0.1:80"});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_TRUE(contains(early.err, "has no network")) << early.err;
  net.create("local-1a", "10.163.0.0/16");
  struct Case {
    std::vector<std::string> args;
    std::string field;
  } cases[] = {
      {{"--name", "Web", "--listener", "80=10.163.64.4:80"}, "spec.name"},
      {{"--name", "web"}, "spec.listeners"},
      {{"--name", "web", "--listener", "0=10.163.64.4:80"}, "spec.listeners[0].port"},
      {{"--name", "web", "--listener", "80=10.163.64:80"}, "spec.listeners[0].targets[0].ip"},
      {{"--name", "web", "--listener", "80=10.163.64.4:0"}, "spec.listeners[0].targets[0].port"},
      {{"--name", "web", "--listener", "80=10.163.64.4:80", "--zones", "local-1z"}, "spec.zones"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"lb-ensure"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CmdResult r = net.berth(args);
    EXPECT_NE(r.exit_code, 0) << c.field;
    EXPECT_TRUE(contains(r.err, c.field)) << r.err;
  }
  EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, "berth-" + net.name() + "-lb"));
  EXPECT_TRUE(net.state()["loadBalancers"].empty());
}

}  // namespace
}  // namespace berth::e2e
