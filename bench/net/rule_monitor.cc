#include "bench/net/rule_monitor.h"

namespace berth::bench::net {

bool RuleMonitor::start() {
  return proc_.start({"ip", "netns", "exec", netns_, "stdbuf", "-oL", "nft", "monitor"},
                     [this](const std::string& line) { onLine(line, Clock::now()); });
}

void RuleMonitor::stop() { proc_.stop(); }

void RuleMonitor::onLine(const std::string& line, Clock::time_point at) {
  std::lock_guard<std::mutex> l(mu_);
  if (line.rfind("# new generation", 0) == 0) {
    if (table_written_) commits_.push_back({at, std::move(pending_)});
    table_written_ = false;
    pending_.clear();
    cv_.notify_all();
    return;
  }
  if (line.find(" ip berth-proxy-") == std::string::npos) return;
  // A whole-table replace (add/delete table) or an update (rules flushed and all added again):
  // either way the commit adds every DNAT rule the table then has.
  if (line.rfind("add ", 0) == 0 || line.rfind("delete ", 0) == 0) table_written_ = true;
  size_t d = line.find("dnat to ");
  if (line.rfind("add rule ", 0) == 0 && d != std::string::npos) {
    std::string target = line.substr(d + 8);
    pending_.insert(target.substr(0, target.find(':')));
  }
}

std::optional<RuleMonitor::Clock::time_point> RuleMonitor::waitFor(const std::string& ip, bool present,
                                                                   Clock::time_point after,
                                                                   std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  std::optional<Clock::time_point> found;
  size_t checked = 0;
  cv_.wait_for(l, timeout, [&] {
    for (; checked < commits_.size() && !found; ++checked) {
      const Commit& c = commits_[checked];
      if (c.at > after && (c.targets.count(ip) > 0) == present) found = c.at;
    }
    return found.has_value();
  });
  return found;
}

size_t RuleMonitor::commits() const {
  std::lock_guard<std::mutex> l(mu_);
  return commits_.size();
}

}  // namespace berth::bench::net
