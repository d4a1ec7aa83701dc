#include "bench/net/rule_monitor.h"

namespace berth::bench::net {

namespace {

// The words of a monitor line up to a " # " comment.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string cut = line.substr(0, line.find(" # "));
  size_t at = 0;
  while (at < cut.size()) {
    size_t end = cut.find(' ', at);
    if (end == std::string::npos) end = cut.size();
    if (end > at) out.push_back(cut.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

}  // namespace

bool RuleMonitor::start() {
  // -a: rules carry their handles, so a deleted rule (a flush lists each) can be matched.
  return proc_.start({"ip", "netns", "exec", netns_, "stdbuf", "-oL", "nft", "-a", "monitor"},
                     [this](const std::string& line) { onLine(line, Clock::now()); });
}

void RuleMonitor::stop() { proc_.stop(); }

void RuleMonitor::onLine(const std::string& line, Clock::time_point at) {
  std::lock_guard<std::mutex> l(mu_);
  if (line.rfind("# new generation", 0) == 0) {
    if (table_written_) {
      std::set<std::string> targets;
      for (const auto& [chain, rules] : dnat_)
        for (const auto& [handle, ip] : rules) targets.insert(ip);
      commits_.push_back({at, std::move(targets)});
    }
    table_written_ = false;
    cv_.notify_all();
    return;
  }
  if (line.find(" ip berth-proxy-") == std::string::npos) return;
  auto w = words(line);
  // "add|delete table|chain|rule|... ip TABLE [CHAIN ...]"
  if (w.size() < 4 || (w[0] != "add" && w[0] != "delete") || w[2] != "ip") return;
  table_written_ = true;
  const std::string& table = w[3];
  if (w[1] == "table") {
    if (w[0] == "delete")
      for (auto it = dnat_.begin(); it != dnat_.end();)
        it = it->first.rfind(table + " ", 0) == 0 ? dnat_.erase(it) : std::next(it);
    return;
  }
  if (w.size() < 5) return;
  std::string chain = table + " " + w[4];
  if (w[1] == "chain" && w[0] == "delete") {
    dnat_.erase(chain);
  } else if (w[1] == "rule" && w[0] == "delete" && w.size() >= 7 && w[5] == "handle") {
    auto it = dnat_.find(chain);
    if (it != dnat_.end()) it->second.erase(w[6]);
  } else if (w[1] == "rule" && w[0] == "add") {
    size_t d = line.find("dnat to ");
    size_t h = line.rfind(" # handle ");
    if (d == std::string::npos || h == std::string::npos) return;
    std::string target = line.substr(d + 8);
    dnat_[chain][line.substr(h + 10)] = target.substr(0, target.find(':'));
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
