// Running host tools (ip, nft, sysctl, haproxy) for the local network: fork/exec without a
// shell, output captured with a deadline, and detached daemons (double fork, new session) whose
// pid is returned so state can record it.
// Thread-safety: free functions, safe from any thread (children only call async-signal-safe
// functions between fork and exec).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::networking {

struct ExecResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;     // stdout and stderr, interleaved
};

// Runs argv (argv[0] looked up in PATH) to completion, killed after `timeout`; `input` is fed
// to its stdin.
Result<ExecResult> execCommand(const std::vector<std::string>& argv, const std::string& input = "",
                               std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Like execCommand, but a non-zero exit is an internal error carrying the command and output.
Result<std::string> execChecked(const std::vector<std::string>& argv, const std::string& input = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Starts argv as a daemon (its own session, reparented to init, stdout/stderr appended to
// `log_path`) and returns its pid.
Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& log_path);

// True when `pid` exists and its command line contains `marker`.
bool processMatches(pid_t pid, const std::string& marker);

// SIGTERM, then SIGKILL after `grace` if it is still there.
void killProcess(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

}  // namespace berth::networking
