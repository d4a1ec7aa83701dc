// The HAProxy process of one local load balancer (Debian's /usr/sbin/haproxy, found in PATH):
// started in master-worker mode (-W) inside the balancer's network namespace as a detached
// daemon with its pid file, configuration and log under the cluster's state dir. A new
// configuration is checked with `haproxy -c` before it replaces the old one, and applied by
// SIGUSR2 to the master: the new worker takes the listening sockets over from the old one
// (haproxy passes them itself, -x sockpair), which finishes its connections, so the listeners
// never close.
// Thread-safety: free functions; callers serialise per balancer.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::networking {

struct HaproxyFiles {
  std::string config;   // haproxy.cfg
  std::string pidfile;  // the master's pid
  std::string log;      // the master's and workers' stderr
};

// Writes `text` as the configuration after `haproxy -c` accepted it (the old file stays when
// it does not; the error carries haproxy's complaint).
Status installHaproxyConfig(const HaproxyFiles& files, const std::string& text);

// True when `master` is a running haproxy master of this configuration.
bool haproxyRunning(pid_t master, const HaproxyFiles& files);

// Starts the master in `netns` and waits until the namespace listens on every `listen`
// ("ip:port"). Returns the master's pid.
Result<pid_t> startHaproxy(const std::string& netns, const HaproxyFiles& files,
                           const std::vector<std::pair<std::string, int>>& listen);

// Reloads the running master: waits until a worker forked after the signal runs and the
// namespace listens on every `listen`.
Status reloadHaproxy(pid_t master, const HaproxyFiles& files,
                     const std::vector<std::pair<std::string, int>>& listen);

// Workers of `master` (its child processes).
std::vector<pid_t> haproxyWorkers(pid_t master);

}  // namespace berth::networking
