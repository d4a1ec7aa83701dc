// Helpers the benchmarks share: the machine they ran on, a process's memory and CPU from /proc,
// percentiles, and a child process (its own process group) whose stdout is read line by line.
// Thread-safety: free functions; a ChildProcess is used from one thread.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace berth::bench {

std::string cpuModel();
long memTotalMiB();
// A "Key: N kB" field of /proc/PID/status (VmRSS, VmHWM, ...), in KiB; -1 when absent.
long statusKb(pid_t pid, const std::string& key);
// User + system CPU seconds the process has used.
double cpuSeconds(pid_t pid);
// The p-th quantile (0..1) of v, nearest rank.
double percentile(std::vector<double> v, double p);

// A child in its own process group whose stdout is read until a line containing a needle.
struct ChildProcess {
  pid_t pid = -1;
  FILE* out = nullptr;
  std::string seen;

  bool start(const std::vector<std::string>& argv);
  bool waitFor(const std::string& needle);
  // SIGTERM to the whole group, then reaps the child.
  void stop();
};

}  // namespace berth::bench
