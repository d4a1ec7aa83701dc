// NftApplier: applies an nftables script (one `nft -f` transaction) in the calling process's
// network namespace. Two ways:
//   - in process through libnftables (libnftables.so.1, the library the `nft` tool is built on,
//     loaded with dlopen so no development package is needed at build time), with one nft
//     context kept for the applier's lifetime: ~1 ms for a small table;
//   - `nft -f -` as a child process when the library cannot be loaded: a fork, an exec and the
//     tool's start-up on every apply, which on a loaded 2-core machine took 200-500 ms and was
//     most of the Service proxy's endpoint-change latency (bench/net/net_bench).
// Either way the script is one atomic transaction: the kernel applies all of it or nothing.
// Thread-safety: apply() serialises callers on an internal mutex (an nft context is not
// thread-safe).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace berth::kubelet::net {

class NftApplier {
 public:
  virtual ~NftApplier() = default;
  // Applies `script`; the error carries nft's message.
  virtual Status apply(const std::string& script) = 0;
  // "libnftables" or "nft-command", for logs.
  virtual const char* mode() const = 0;
};

// libnftables when it loads, else the `nft` command.
std::unique_ptr<NftApplier> makeNftApplier();
// Just the command (for comparison and when the library misbehaves).
std::unique_ptr<NftApplier> makeNftCommandApplier();
// Just the library; an error when it cannot be loaded.
Result<std::unique_ptr<NftApplier>> makeLibNftablesApplier();

}  // namespace berth::kubelet::net
