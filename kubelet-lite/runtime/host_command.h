// Running host tools (runc, ip) from the runc runtime: fork/exec without a shell, with chosen
// stdio, every other descriptor closed in the child, and output captured with a deadline.
// Thread-safety: free functions, safe from any thread (the child only calls async-signal-safe
// functions between fork and exec).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::kubelet::runc {

struct SpawnOptions {
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: /dev/null
  int stderr_fd = -1;  // -1: /dev/null
  int fd3 = -1;        // passed to the child as descriptor 3 when >= 0
  bool new_session = false;
  bool controlling_tty = false;  // with new_session: stdin becomes the controlling terminal
};

// Starts argv[0] (looked up in PATH) and returns its pid.
Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;     // stdout and stderr, interleaved
};

// Runs argv to completion (killed after `timeout`), capturing its output. `input` is fed to
// its stdin.
Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                 const std::string& input = "");

// Like runCommand, but a non-zero exit is an error carrying the output.
Result<std::string> runChecked(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Waits for `pid` (any process, not only a child: pidfd) to exit, up to `timeout`.
// True when it has exited (or no longer exists).
bool waitForExit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace berth::kubelet::runc
