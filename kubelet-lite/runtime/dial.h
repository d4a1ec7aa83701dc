// TCP dialling with a deadline, for probes and runtimes' dialPod(). Errors read like Go's net
// package, as upstream's probe messages quote them: "dial tcp 127.0.0.1:8080: connect:
// connection refused", "dial tcp 10.0.0.1:80: i/o timeout".
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace berth::kubelet {

// Connects `fd` (a fresh AF_INET stream socket, blocking or not; left blocking) to
// `ipv4`:`port` within `timeout`. Does not close `fd` on failure.
Status connectWithin(int fd, const std::string& ipv4, int port, std::chrono::milliseconds timeout);
// Resolves `host` (an IPv4 literal or a name) and returns a connected socket (the caller closes
// it). kUnavailable when the connection is refused or times out.
Result<int> dialTcp(const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace berth::kubelet
