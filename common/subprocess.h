// Running host programs (runc, ip, nft, haproxy, ...) without a shell: fork/exec with chosen
// stdio and every other descriptor closed in the child, commands run to completion with their
// output captured under a deadline, detached daemons, and waiting for or stopping processes
// through pidfds.
// Thread-safety: free functions, safe from any thread (the child only calls async-signal-safe
// functions between fork and exec).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth {

struct SpawnOptions {
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: /dev/null
  int stderr_fd = -1;  // -1: /dev/null
  int fd3 = -1;        // passed to the child as descriptor 3 when >= 0
  bool new_session = false;
  bool controlling_tty = false;  // with new_session: stdin becomes the controlling terminal
};

// Starts argv[0] (looked up in PATH) and returns its pid; the caller reaps it.
Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;     // stdout and stderr, interleaved
};

// Runs argv to completion (killed after `timeout`, which is then a kTimeout error), capturing
// its output. `input` is fed to its stdin (small inputs only: it must fit the pipe buffer).
Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                 const std::string& input = "");

// Like runCommand, but a non-zero exit is an internal error carrying the command and output.
Result<std::string> runChecked(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30),
                               const std::string& input = "");

// Starts argv as a daemon (its own session, reparented to init, stdout/stderr appended to
// `log_path`) and returns its pid.
Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& log_path);

// Waits for `pid` (any process, not only a child) to exit, up to `timeout`. True when it has
// exited or no longer exists; a child of ours is reaped.
bool waitForExit(pid_t pid, std::chrono::milliseconds timeout);

// True when `pid` exists and its command line contains `marker`.
bool processMatches(pid_t pid, const std::string& marker);

// SIGTERM, then SIGKILL after `grace` if it is still there.
void killProcess(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

}  // namespace berth
