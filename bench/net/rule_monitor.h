// RuleMonitor: follows one node's Service proxy table through `nft monitor` run in the node's
// network namespace. The agent changes its table ("berth-proxy-<node>") one transaction at a
// time: a whole-table replace, a flush and re-add, or an update of only the chains and map
// elements that changed. The monitor keeps the table's DNAT rules (by chain and rule handle,
// from `nft -a monitor`'s adds and deletes) and, at each transaction's end ("# new generation
// ..."), records the set of endpoint IPs the table then sends traffic to, with the time the
// line was read. No polling: the kernel reports each commit.
// Thread-safety: the reader thread records; waitFor/state from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bench/net/proc.h"

namespace berth::bench::net {

class RuleMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RuleMonitor(std::string netns) : netns_(std::move(netns)) {}
  ~RuleMonitor() { stop(); }

  bool start();
  void stop();

  // The time of the first committed table after `after` whose DNAT targets contain (present)
  // or do not contain (!present) `ip`; nullopt at the timeout.
  std::optional<Clock::time_point> waitFor(const std::string& ip, bool present, Clock::time_point after,
                                           std::chrono::milliseconds timeout);
  // Transactions of the proxy table seen so far.
  size_t commits() const;

  // Parses one monitor line (exposed for the reader).
  void onLine(const std::string& line, Clock::time_point at);

 private:
  struct Commit {
    Clock::time_point at;
    std::set<std::string> targets;
  };
  std::string netns_;
  LineProcess proc_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool table_written_ = false;        // guarded by mu_: this transaction touched the table
  // guarded by mu_: "table chain" -> rule handle -> DNAT target IP, as the kernel holds them
  std::map<std::string, std::map<std::string, std::string>> dnat_;
  std::vector<Commit> commits_;       // guarded by mu_
};

}  // namespace berth::bench::net
