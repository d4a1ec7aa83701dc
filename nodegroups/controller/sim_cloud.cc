#include "nodegroups/controller/sim_cloud.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/user_data.h"

namespace berth::nodegroups {

using nlohmann::json;

namespace {

std::string randomHex(size_t n) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

// The node labels and taints the user-data asks for (--node-labels and --register-with-taints
// of its NodeConfig).
bootstrap::KubeletSettings settingsOf(const std::string& user_data) {
  if (user_data.empty()) return {};
  Result<bootstrap::UserData> ud = bootstrap::parseUserData(user_data);
  if (!ud.isOk()) return {};
  Result<bootstrap::KubeletSettings> ks = bootstrap::kubeletSettings(ud->config);
  if (!ks.isOk()) return {};
  return *ks;
}

std::string renderTaints(const std::vector<bootstrap::Taint>& taints) {
  std::vector<std::string> out;
  for (const auto& t : taints) out.push_back(t.key + (t.value.empty() ? "" : "=" + t.value) + ":" + t.effect);
  return join(out, ",");
}

}  // namespace

SimCloud::SimCloud(Options opts) : opts_(std::move(opts)) {
  spawner_ = std::thread([this] { spawner(); });
  if (opts_.berth_bin.empty()) {
    std::error_code ec;
    opts_.berth_bin = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  }
  std::error_code ec;
  std::filesystem::create_directories(opts_.state_dir, ec);
}

SimCloud::~SimCloud() {
  {
    std::lock_guard<std::mutex> l(spawn_mu_);
    spawn_stop_ = true;
  }
  spawn_cv_.notify_all();
  if (spawner_.joinable()) spawner_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, vm] : vms_) {
    if (vm.pid > 0) kill(vm.pid, SIGTERM);
  }
  for (auto& [id, vm] : vms_) {
    if (vm.pid > 0) waitpid(vm.pid, nullptr, 0);
  }
}

SimCloud::Faults SimCloud::readFaults() const {
  Faults f;
  std::ifstream in(opts_.state_dir + "/faults.json");
  if (!in) return f;
  std::stringstream ss;
  ss << in.rdbuf();
  json doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    BLOG(1, "sim cloud: faults.json is not a JSON object; ignored");
    return f;
  }
  for (const json& p : doc.value("insufficientCapacity", json::array())) {
    if (!p.is_object()) continue;
    Result<cloud::CapacityType> ct = cloud::parseCapacityType(p.value("capacityType", "on-demand"));
    if (!ct.isOk()) continue;
    f.ice.insert(p.value("instanceType", "") + "/" + p.value("zone", "") + "/" + cloud::toString(*ct));
  }
  for (const json& id : doc.value("crash", json::array())) {
    if (id.is_string()) f.crash.insert(id.get<std::string>());
  }
  for (const json& id : doc.value("spotInterruption", json::array())) {
    if (id.is_string()) f.interrupt.insert(id.get<std::string>());
  }
  return f;
}

Result<int> SimCloud::spawnAgent(const cloud::Instance& inst, const std::string& user_data) {
  bootstrap::KubeletSettings settings = settingsOf(user_data);
  std::vector<std::string> labels;
  for (const auto& [k, v] : settings.labels) {
    if (k == "topology.kubernetes.io/zone" || k == "topology.kubernetes.io/region" ||
        k == "node.kubernetes.io/instance-type") {
      continue;  // the agent's own flags set these
    }
    labels.push_back(k + "=" + v);
  }
  std::string dir = opts_.state_dir + "/" + inst.id;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::vector<std::string> args = {opts_.berth_bin, "agent", "--runtime", "simulated",
                                   "--nodes", "1", "--node-name",
                                   settings.hostname_override.empty() ? inst.id : settings.hostname_override,
                                   "--kubeconfig", opts_.kubeconfig, "--zone", inst.zone,
                                   "--region", opts_.region, "--instance-type", inst.instance_type,
                                   "--kubelet-port", "0", "--root-dir", dir,
                                   "--delete-nodes-on-exit"};
  if (!inst.private_ip.empty()) {
    args.push_back("--node-ip");
    args.push_back(inst.private_ip);
  }
  if (!labels.empty()) {
    args.push_back("--labels");
    args.push_back(join(labels, ","));
  }
  if (!settings.taints.empty()) {
    args.push_back("--register-with-taints");
    args.push_back(renderTaints(settings.taints));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = open((dir + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  // The agent's parent-death signal follows the thread that spawns it: always the spawner.
  std::promise<Result<int>> done;
  std::future<Result<int>> result = done.get_future();
  postSpawn([&] { done.set_value(vforkExec(argv, log_fd)); });
  Result<int> pid = result.get();
  if (log_fd >= 0) close(log_fd);
  return pid;
}

Result<int> SimCloud::vforkExec(const std::vector<char*>& argv, int log_fd) {
  // vfork, not fork: the server's address space is neither copied nor write-protected for
  // copy-on-write until the exec (a fork per launch stalled the whole server for seconds).
  // Signals stay blocked in the child until the exec so no handler runs on the shared stack.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t parent = getpid();
  pid_t pid = vfork();
  if (pid == 0) {
    // Only raw system calls until exec. The agent dies with the server.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return internalError("vfork: " + std::string(strerror(err)));
  return static_cast<int>(pid);
}

void SimCloud::postSpawn(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(spawn_mu_);
    spawn_tasks_.push_back(std::move(fn));
  }
  spawn_cv_.notify_one();
}

void SimCloud::spawner() {
  std::unique_lock<std::mutex> l(spawn_mu_);
  for (;;) {
    spawn_cv_.wait(l, [&] { return spawn_stop_ || !spawn_tasks_.empty(); });
    if (spawn_tasks_.empty()) return;  // stopping, nothing left to run
    auto fn = std::move(spawn_tasks_.front());
    spawn_tasks_.pop_front();
    l.unlock();
    fn();
    l.lock();
  }
}

Result<cloud::Instance> SimCloud::runInstance(const cloud::RunInstanceRequest& req) {
  if (req.client_token.empty()) return invalid("runInstance: client_token is required");
  if (!req.tags.count(cloud::kTagCluster)) return invalid("runInstance: the cluster tag is required");
  if (std::find(opts_.zones.begin(), opts_.zones.end(), req.zone) == opts_.zones.end()) {
    return invalid("runInstance: unknown zone \"" + req.zone + "\" (zones: " + join(opts_.zones, ", ") + ")");
  }
  Faults f = readFaults();
  std::string pool = req.instance_type + "/" + req.zone + "/" + cloud::toString(req.capacity_type);
  cloud::Instance inst;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = by_token_.find(req.client_token); it != by_token_.end()) {
      return vms_[it->second].inst;
    }
    if (launching_.count(req.client_token)) {
      return Status(Code::kUnavailable,
                    "runInstance: a launch with client token " + req.client_token + " is in progress");
    }
    if (f.ice.count(pool)) return cloud::insufficientCapacity(req.instance_type, req.zone, req.capacity_type);
    launching_.insert(req.client_token);
    inst.private_ip = privateIpLocked(req.zone);
  }
  inst.id = "i-" + randomHex(17);
  inst.instance_type = req.instance_type;
  inst.zone = req.zone;
  inst.subnet_id = req.subnet_id;
  inst.capacity_type = req.capacity_type;
  inst.state = cloud::InstanceState::kRunning;
  inst.launch_time = std::chrono::system_clock::now();
  inst.tags = req.tags;
  inst.region = opts_.region;
  // Launches run at once: the lock is not held while the agent starts.
  Result<int> pid = spawnAgent(inst, req.user_data);
  std::lock_guard<std::mutex> l(mu_);
  launching_.erase(req.client_token);
  if (!pid.isOk()) return pid.status();
  vms_[inst.id] = Vm{inst, *pid};
  by_token_[req.client_token] = inst.id;
  BLOG(2, "sim cloud: launched").kv("instance", inst.id).kv("pool", pool).kv("pid", *pid);
  return inst;
}

Status SimCloud::terminateInstance(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = vms_.find(id);
  if (it == vms_.end()) return notFound("instance " + id + " not found");
  Vm& vm = it->second;
  if (vm.inst.state == cloud::InstanceState::kTerminated) return Status::ok();
  if (vm.pid > 0) {
    kill(vm.pid, SIGTERM);
    waitpid(vm.pid, nullptr, 0);
    vm.pid = -1;
  }
  vm.inst.state = cloud::InstanceState::kTerminated;
  vm.inst.state_reason = "Client.UserInitiatedShutdown";
  return Status::ok();
}

void SimCloud::reapLocked(const Faults& f) {
  for (auto& [id, vm] : vms_) {
    if (vm.inst.state == cloud::InstanceState::kTerminated) continue;
    if (f.crash.count(id) && vm.pid > 0) {
      kill(vm.pid, SIGKILL);
      waitpid(vm.pid, nullptr, 0);
      vm.pid = -1;
    }
    if (vm.pid > 0 && waitpid(vm.pid, nullptr, WNOHANG) == vm.pid) vm.pid = -1;
    if (vm.pid < 0) {
      vm.inst.state = cloud::InstanceState::kTerminated;
      vm.inst.state_reason = "Server.InternalError";
      continue;
    }
    if (f.interrupt.count(id) && !vm.inst.interruption_time) {
      vm.inst.interruption_time = std::chrono::system_clock::now() + std::chrono::minutes(2);
    }
  }
}

Result<std::vector<cloud::Instance>> SimCloud::describeInstances(
    const std::map<std::string, std::string>& tags) {
  Faults f = readFaults();
  std::lock_guard<std::mutex> l(mu_);
  reapLocked(f);
  std::vector<cloud::Instance> out;
  for (const auto& [id, vm] : vms_) {
    bool match = true;
    for (const auto& [k, v] : tags) {
      auto t = vm.inst.tags.find(k);
      if (t == vm.inst.tags.end() || t->second != v) match = false;
    }
    if (match) out.push_back(vm.inst);
  }
  return out;
}

Result<cloud::Vpc> SimCloud::describeNetwork() {
  cloud::Vpc vpc;
  vpc.id = "vpc-sim";
  vpc.cluster = opts_.cluster;
  vpc.cidr = "192.168.0.0/16";
  vpc.state = "available";
  int i = 0;
  for (const std::string& z : opts_.zones) {
    for (bool pub : {true, false}) {
      cloud::Subnet s;
      s.id = std::string("subnet-sim-") + (pub ? "public-" : "private-") + z;
      s.zone = z;
      s.cidr = "192.168." + std::to_string(i++ * 32) + ".0/19";
      s.is_public = pub;
      vpc.subnets.push_back(s);
    }
  }
  return vpc;
}

Result<cloud::Vpc> SimCloud::ensureNetwork(const cloud::NetworkSpec&) { return describeNetwork(); }

std::string SimCloud::privateIpLocked(const std::string& zone) {
  // The zone's private subnet is the (2k+1)-th /19 of describeNetwork; hosts from .10.
  size_t k = std::find(opts_.zones.begin(), opts_.zones.end(), zone) - opts_.zones.begin();
  int n = launched_in_zone_[zone]++;
  return "192.168." + std::to_string((2 * k + 1) * 32 + n / 240) + "." + std::to_string(n % 240 + 10);
}

namespace {

constexpr char kBalancerPrefix[] = "198.51.100.";
constexpr int kFirstBalancerHost = 10;

cloud::LoadBalancer balancerOf(const std::string& name, const json& entry) {
  return cloud::LoadBalancer{name, entry.value("id", ""), entry.value("address", ""), "active"};
}

}  // namespace

Result<json> SimCloud::readBalancersLocked() const {
  std::ifstream in(opts_.state_dir + "/loadbalancers.json");
  if (!in) return json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  json doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return internalError("sim cloud: " + opts_.state_dir + "/loadbalancers.json is not a JSON object");
  return doc;
}

Status SimCloud::writeBalancersLocked(const json& doc) const {
  std::string path = opts_.state_dir + "/loadbalancers.json";
  {
    std::ofstream out(path + ".tmp");
    out << doc.dump(2);
    if (!out) return internalError("sim cloud: cannot write " + path + ".tmp");
  }
  std::error_code ec;
  std::filesystem::rename(path + ".tmp", path, ec);
  if (ec) return internalError("sim cloud: cannot rename to " + path + ": " + ec.message());
  return Status::ok();
}

Result<cloud::LoadBalancer> SimCloud::ensureLoadBalancer(const cloud::LoadBalancerSpec& spec) {
  if (spec.name.empty()) return invalid("ensureLoadBalancer: name is required");
  std::lock_guard<std::mutex> l(mu_);
  BERTH_ASSIGN_OR_RETURN(json doc, readBalancersLocked());
  json entry = doc.value(spec.name, json::object());
  if (entry.value("address", "").empty()) {
    std::set<std::string> used;
    for (const auto& [_, e] : doc.items()) used.insert(e.value("address", ""));
    for (int h = kFirstBalancerHost; h < 255 && entry.value("address", "").empty(); ++h)
      if (!used.count(kBalancerPrefix + std::to_string(h))) entry["address"] = kBalancerPrefix + std::to_string(h);
    if (entry.value("address", "").empty())
      return Status(Code::kUnavailable, "sim cloud: no free load balancer address in 198.51.100.0/24");
    entry["id"] = "lb-" + randomHex(17);
  }
  json listeners = json::array();
  for (const cloud::LoadBalancerListener& li : spec.listeners) {
    json targets = json::array();
    for (const cloud::LoadBalancerTarget& t : li.targets)
      targets.push_back({{"ip", t.ip}, {"port", t.port}, {"zone", t.zone}});
    listeners.push_back({{"port", li.port}, {"protocol", li.protocol}, {"targets", targets}});
  }
  entry["zones"] = spec.zones;
  entry["listeners"] = listeners;
  doc[spec.name] = entry;
  BERTH_RETURN_IF_ERROR(writeBalancersLocked(doc));
  return balancerOf(spec.name, entry);
}

Status SimCloud::deleteLoadBalancer(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  BERTH_ASSIGN_OR_RETURN(json doc, readBalancersLocked());
  if (!doc.contains(name)) return Status::ok();
  doc.erase(name);
  return writeBalancersLocked(doc);
}

Result<std::vector<cloud::LoadBalancer>> SimCloud::listLoadBalancers() {
  std::lock_guard<std::mutex> l(mu_);
  BERTH_ASSIGN_OR_RETURN(json doc, readBalancersLocked());
  std::vector<cloud::LoadBalancer> out;
  for (const auto& [name, e] : doc.items()) out.push_back(balancerOf(name, e));
  return out;
}

}  // namespace berth::nodegroups
