#include "bench/net/agent_trace.h"

#include <cstdlib>
#include <fstream>

namespace berth::bench::net {

namespace {

// The value of " key=" in `line`, up to the next space.
std::optional<std::string> field(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return std::nullopt;
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

}  // namespace

std::vector<ProxySyncTrace> readProxySyncs(const std::string& log_path) {
  std::vector<ProxySyncTrace> out;
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("] service proxy rules applied") == std::string::npos) continue;
    auto ev = field(line, "eventUnixUs"), ap = field(line, "appliedUnixUs");
    auto render = field(line, "renderMs"), nft = field(line, "nftMs");
    if (!ev || !ap || !render || !nft) continue;
    ProxySyncTrace t;
    t.event_us = std::strtoll(ev->c_str(), nullptr, 10);
    t.applied_us = std::strtoll(ap->c_str(), nullptr, 10);
    t.render_ms = std::strtod(render->c_str(), nullptr);
    t.nft_ms = std::strtod(nft->c_str(), nullptr);
    if (auto cpu = field(line, "nftCpuMs")) t.nft_cpu_ms = std::strtod(cpu->c_str(), nullptr);
    out.push_back(t);
  }
  return out;
}

std::optional<ProxySyncTrace> syncBefore(const std::vector<ProxySyncTrace>& syncs, int64_t after_us,
                                         int64_t commit_us, int64_t slack_us) {
  std::optional<ProxySyncTrace> found;
  for (const auto& s : syncs)
    if (s.applied_us >= after_us && s.applied_us <= commit_us + slack_us &&
        (!found || s.applied_us > found->applied_us))
      found = s;
  return found;
}

}  // namespace berth::bench::net
