// ClusterDns: the cluster DNS server of a node, dnsmasq fed by Berth (no hand-written
// resolver). dnsmasq listens on the cluster DNS address (kube-system/kube-dns's clusterIP, e.g.
// 10.96.0.10), which is put on a link of its own in the node's namespace ("berth-dns0": a dummy
// link, or a port-less bridge where the kernel has no dummy driver), the way NodeLocal DNSCache
// binds the kube-dns address; the Service proxy leaves that address alone. It has no upstream
// servers (--no-resolv: nothing leaves the machine) and answers from one hosts file:
//   <clusterIP>  NAME.NAMESPACE.svc.<domain> NAME.NAMESPACE.svc
// and, for headless Services, one such line per ready endpoint address. The file is rewritten
// (atomically) when Services or EndpointSlices change and dnsmasq re-reads it on SIGHUP.
//
// One server per network namespace: agents sharing a namespace (run-cluster.sh's three on the
// host) contend for a lock file named after the namespace's inode under <lock_dir>; the holder
// runs dnsmasq, the others wait and take over when it stops. A dnsmasq left by a holder that
// crashed is killed (pid file) by the next one.
// Thread-safety: start/stop from one thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/informer.h"

namespace berth::kubelet::net {

// The hosts file for these (stripped) Services and EndpointSlices, sorted.
std::string renderDnsHosts(const std::vector<nlohmann::json>& services,
                           const std::vector<nlohmann::json>& slices, const std::string& domain);

class ClusterDns {
 public:
  struct Options {
    std::string address;                 // the cluster DNS IP
    std::string domain = "cluster.local";
    std::string lock_dir = "/run/berth/dns";
    std::string dnsmasq = "dnsmasq";
  };
  // Adds its handlers: call before the informers start.
  ClusterDns(client::Informer* services, client::Informer* slices, Options opts);
  ~ClusterDns();
  void start();
  // Stops dnsmasq (when this agent ran it), removes the address and releases the lock.
  void stop();
  // True while this agent's dnsmasq serves the namespace.
  bool serving() const;

 private:
  void markDirty();
  void loop();
  bool acquire();   // takes the namespace's lock without blocking
  Status becomeServer();
  Status writeHosts(bool* changed);
  void stopServer();

  client::Informer* services_;
  client::Informer* slices_;
  Options opts_;
  std::string dir_;  // <lock_dir>/<netns inode>/
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;       // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  bool serving_ = false;    // guarded by mu_
  int lock_fd_ = -1;
  pid_t pid_ = 0;
  std::string link_;        // the link holding the address, once made
  std::string hosts_;       // content last written
  std::thread thread_;
};

}  // namespace berth::kubelet::net
