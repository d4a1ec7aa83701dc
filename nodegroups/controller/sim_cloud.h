// SimCloud: a CloudDriver whose instances are `berth agent --runtime simulated --nodes 1`
// processes on this machine (no namespaces, no root), for tests and benchmarks of the node-group
// controllers (`berth server --cloud-provider simulated`). The node name is the instance id;
// labels and taints come from the user-data's NodeConfig (--node-labels, --register-with-taints),
// as the real agent reads them.
//
// Faults are injected through <state_dir>/faults.json, read on every call:
//   {"insufficientCapacity": [{"instanceType": "m5.large", "zone": "local-1a",
//                              "capacityType": "spot"}],   // runInstance fails for that pool
//    "crash": ["i-..."],              // the agent is killed: terminated, Server.InternalError
//    "spotInterruption": ["i-..."]}   // the notice: interruption_time = now + 2 minutes
// An agent that exits by itself is an instance failure (Server.InternalError) too.
// The network is a fixed VPC: a public and a private subnet per zone; an instance gets the next
// address of its zone's private subnet as private IP (the agent's --node-ip, the Node's
// InternalIP). Routes are accepted and ignored. Load balancers carry no traffic: each gets a
// stable address from 198.51.100.0/24 (a documentation range, from .10), state "active", kept
// by name in <state_dir>/loadbalancers.json (read on every call, so two SimCloud instances on one
// state dir and a restarted server agree) with its zones and listeners.
// Launches may run at once (the state mutex is not held while an agent starts). Agents are
// started with vfork+exec from one spawner thread the SimCloud owns, so their parent-death
// signal (SIGTERM) follows the SimCloud's life, not the life of the thread that launched them.
// Thread-safety: every method may be called from any thread (one mutex for the state).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodegroups/cloud/cloud_driver.h"

namespace berth::nodegroups {

class SimCloud : public cloud::CloudDriver, cloud::InstanceDriver, cloud::NetworkDriver {
 public:
  struct Options {
    std::string cluster;
    std::string region = "local-1";
    std::vector<std::string> zones = {"local-1a", "local-1b", "local-1c"};
    std::string kubeconfig;  // what the agents use to reach the API server
    std::string state_dir;   // agent root dirs and logs, faults.json
    std::string berth_bin;   // default: this executable
  };
  explicit SimCloud(Options opts);
  ~SimCloud() override;  // stops every agent

  std::string provider() const override { return "sim"; }
  std::string region() const override { return opts_.region; }
  cloud::InstanceDriver& instances() override { return *this; }
  cloud::NetworkDriver& network() override { return *this; }

  Result<cloud::Instance> runInstance(const cloud::RunInstanceRequest& req) override;
  Status terminateInstance(const std::string& id) override;
  Result<std::vector<cloud::Instance>> describeInstances(
      const std::map<std::string, std::string>& tags) override;

  Result<cloud::Vpc> ensureNetwork(const cloud::NetworkSpec& spec) override;
  Result<cloud::Vpc> describeNetwork() override;
  Status deleteNetwork() override { return Status::ok(); }
  Result<cloud::LoadBalancer> ensureLoadBalancer(const cloud::LoadBalancerSpec& spec) override;
  Status deleteLoadBalancer(const std::string& name) override;
  Result<std::vector<cloud::LoadBalancer>> listLoadBalancers() override;
  Status ensureRoute(const std::string&, const std::string&) override { return Status::ok(); }
  Status deleteRoute(const std::string&) override { return Status::ok(); }

 private:
  struct Vm {
    cloud::Instance inst;
    int pid = -1;
  };
  struct Faults {
    std::set<std::string> ice;  // Pool-like "type/zone/capacity"
    std::set<std::string> crash;
    std::set<std::string> interrupt;
  };
  Faults readFaults() const;
  void reapLocked(const Faults& f);
  Result<int> spawnAgent(const cloud::Instance& inst, const std::string& user_data);
  std::string privateIpLocked(const std::string& zone);
  // loadbalancers.json: {name: {id, address, zones, listeners}}.
  Result<nlohmann::json> readBalancersLocked() const;
  Status writeBalancersLocked(const nlohmann::json& doc) const;
  // On the spawner thread: vfork + exec of argv with stdout/stderr on log_fd.
  static Result<int> vforkExec(const std::vector<char*>& argv, int log_fd);
  void postSpawn(std::function<void()> fn);
  void spawner();

  Options opts_;
  std::mutex mu_;
  std::map<std::string, Vm> vms_;                  // by id
  std::map<std::string, std::string> by_token_;    // client token -> id
  std::map<std::string, int> launched_in_zone_;    // zone -> instances launched (private IPs)
  std::set<std::string> launching_;                // client tokens being launched

  std::mutex spawn_mu_;
  std::condition_variable spawn_cv_;
  std::deque<std::function<void()>> spawn_tasks_;
  bool spawn_stop_ = false;
  std::thread spawner_;
};

}  // namespace berth::nodegroups
