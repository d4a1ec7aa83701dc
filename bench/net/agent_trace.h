// AgentTrace: the node agents' own timing of each service proxy sync, read from their logs
// (kubelet-lite/network/service_proxy.cc logs "service proxy rules applied" at -v=2 with
// eventUnixUs, appliedUnixUs, renderMs, nftMs and nftCpuMs), so net_bench can split an endpoint change's
// latency into: API watch -> agent informer event, event -> rules applied (render, nft), and
// applied -> the bench's `nft monitor` line. Every process runs on this host, so wall-clock
// times are comparable.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::bench::net {

struct ProxySyncTrace {
  int64_t event_us = 0;    // unix µs: the oldest informer event the sync carried
  int64_t applied_us = 0;  // unix µs: the nft transaction returned
  double render_ms = 0, nft_ms = 0;
  std::optional<double> nft_cpu_ms;  // the applying thread's CPU in nft (logged since 2026-11-28)
};

// The syncs logged in `log_path`, in log order; empty when the file is missing.
std::vector<ProxySyncTrace> readProxySyncs(const std::string& log_path);

// The sync that produced a commit the monitor saw at `commit_us`: the last one applied at or
// before it (with `slack_us` for clock reads racing), not before `after_us`.
std::optional<ProxySyncTrace> syncBefore(const std::vector<ProxySyncTrace>& syncs, int64_t after_us,
                                         int64_t commit_us, int64_t slack_us = 2000);

}  // namespace berth::bench::net
