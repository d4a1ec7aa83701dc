// Thin wrappers over ip(8), nft(8) and sysctl inside network namespaces, each idempotent where
// the kernel object may already exist. Namespace "" means the host.
// Thread-safety: free functions; the kernel serialises.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/ipv4.h"

namespace berth::networking {

Status requireRoot();

// `ip -n NS ARGS...` (host when ns is empty).
Status ipIn(const std::string& ns, const std::vector<std::string>& args);
Status ipHost(const std::vector<std::string>& args);
// `ip netns exec NS ARGV...` with optional stdin, output returned.
Result<std::string> execIn(const std::string& ns, const std::vector<std::string>& argv,
                           const std::string& input = "");

std::vector<std::string> listNamespaces();
bool namespaceExists(const std::string& ns);
bool linkExists(const std::string& ns, const std::string& link);
// Adds the namespace if missing and brings its lo up.
Status ensureNamespace(const std::string& ns);
// Kills every process in the namespace, then deletes it; ok when it does not exist.
Status removeNamespace(const std::string& ns);
// A veth pair with end `a` in ns_a and `b` in ns_b (created directly there), unless `a` exists.
Status ensureVeth(const std::string& ns_a, const std::string& a, const std::string& ns_b, const std::string& b);
Status sysctlIn(const std::string& ns, const std::string& key, const std::string& value);
// Loads an nft script in the namespace (atomically, as one transaction).
Status nftIn(const std::string& ns, const std::string& script);
// Deletes `table inet NAME` when present.
Status deleteNftTable(const std::string& ns, const std::string& name);

// Host interface names starting with `prefix`.
std::vector<std::string> hostLinksWithPrefix(const std::string& prefix);
// Destinations of the host's IPv4 routes (main table; default excluded).
Result<std::vector<Ipv4Cidr>> hostRoutes();

// Waits until the process `pid` has a TCP socket listening on ip:port in its namespace.
bool waitListening(pid_t pid, const std::string& ip, int port, std::chrono::milliseconds timeout);

}  // namespace berth::networking
