// Detached processes of the local cloud (instance supervisors, `berth server` started by
// `berth cluster create`): started in a session of their own so they outlive their starter,
// identified by pid + start time so a recycled pid is never mistaken for them.
// Thread-safety: pure functions (spawnDetached forks; it may be called from any thread).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace berth::cloud::local {

struct ProcessRef {
  int pid = 0;
  unsigned long long start_time = 0;  // /proc/<pid>/stat field 22 (clock ticks since boot)
};

// Starts argv[0] (a path) with `argv` in a new session (setsid), stdin from /dev/null and
// stdout/stderr appended to `log_file`, not a child of the caller (double fork), so nothing has
// to reap it. Returns its pid and start time.
Result<ProcessRef> spawnDetached(const std::vector<std::string>& argv, const std::string& log_file);

// Start time of `pid`, 0 when there is no such process (or it is a zombie).
unsigned long long processStartTime(int pid);
// True when the process `ref` names still runs (same pid and start time).
bool processAlive(const ProcessRef& ref);
// Sends SIGTERM, waits up to `grace_ms` for the process to go, then SIGKILL and waits up to
// 2 s more. True when it is gone.
bool stopProcess(const ProcessRef& ref, int grace_ms);

// The path of the running executable (/proc/self/exe resolved).
std::string selfExecutable();

}  // namespace berth::cloud::local
