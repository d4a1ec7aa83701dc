// ServiceProxy: kube-proxy's nftables mode inside the agent. It reads the Services and
// EndpointSlices informers it is given (stripped with stripService/stripEndpointSlice, shared
// with the cluster DNS; see serviceInformers()); any change marks the rules dirty and wakes the
// sync thread, which builds the whole table (proxy_rules.h) and applies it as one nftables
// transaction (NftApplier: in process through libnftables when it loads, else `nft -f -`), so a
// burst of EndpointSlice updates coalesces into one write and packets never see a half-made
// table. The first sync replaces the table (whatever an earlier agent left goes); later syncs
// apply only the difference from the table applied last (renderRulesetUpdate), and a refused
// update falls back to the replace. The table is named after the node ("berth-proxy-<node>"): agents that
// share one network namespace each own theirs; they program the same Services, and the first
// table to DNAT a connection wins. stop() removes the table.
//
// Latency: each sync reports how long the oldest change it carries waited (informer event ->
// rules applied), split into render and nft time, through Options::on_sync and a log line at
// -v=2 ("service proxy rules applied", with nftCpuMs, the applying thread's CPU in nft, and the
// wall-clock times eventUnixUs and appliedUnixUs that bench/net/net_bench reads from the agents'
// logs). A sync whose table did not change applies nothing.
// Thread-safety: start/stop from one thread; lastRuleset()/lastScript() from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "client/informer.h"
#include "kubelet-lite/network/nft_applier.h"
#include "kubelet-lite/network/proxy_rules.h"

namespace berth::kubelet::net {

struct ProxySync {
  std::chrono::steady_clock::time_point applied_at;
  std::chrono::microseconds latency{0};  // oldest change carried -> applied
  std::chrono::microseconds render{0};   // model + script
  std::chrono::microseconds apply{0};    // time in nft
  std::chrono::microseconds apply_cpu{0};  // CPU of the applying thread in nft (the rest waited)
  bool replaced = false;                 // a whole-table replace rather than an update
  size_t service_ports = 0;
};

// The two informers the proxy and the DNS share, stripped, on every namespace (not started).
struct ServiceInformers {
  std::unique_ptr<client::Informer> services;
  std::unique_ptr<client::Informer> slices;
};
ServiceInformers serviceInformers(client::Client* client);

class ServiceProxy {
 public:
  struct Options {
    std::string node_name;
    std::string pod_bridge;          // hairpin masquerade on this bridge (may be empty)
    std::set<std::string> skip_ips;  // cluster IPs not to DNAT (the node-local cluster DNS)
    std::function<void(const ProxySync&)> on_sync;  // called on the sync thread
    std::shared_ptr<NftApplier> nft;                 // null: makeNftApplier()
  };
  // Adds its handlers: call before the informers start.
  ServiceProxy(client::Informer* services, client::Informer* slices, Options opts);
  ~ServiceProxy();

  // Starts the sync thread, which writes once both informers have synced; returns at once.
  void start();
  // Stops the sync thread and deletes the table (the informers are the caller's).
  void stop();
  const std::string& table() const { return table_; }
  // The whole table as last applied, as a replace script ("" before the first apply).
  std::string lastRuleset() const;
  // The script of the last successful apply: a replace or an update.
  std::string lastScript() const;

 private:
  void markDirty();
  void syncLoop();
  bool syncOnce();  // false when applying failed (the change stays pending)

  client::Informer* services_;
  client::Informer* slices_;
  Options opts_;
  std::string table_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;                                          // guarded by mu_
  bool stopping_ = false;                                       // guarded by mu_
  std::optional<std::chrono::steady_clock::time_point> since_;  // guarded by mu_
  std::chrono::system_clock::time_point since_wall_;            // guarded by mu_, with since_
  std::optional<ProxyTable> applied_;  // guarded by mu_; written only by the sync thread
  std::string last_script_;            // guarded by mu_
  std::thread thread_;
};

}  // namespace berth::kubelet::net
