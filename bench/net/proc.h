// Processes for net_bench: a command run to completion with its output, and a long-running
// child whose stdout lines are handed to a callback on a reader thread.
// Thread-safety: runCommand is safe from any thread; a LineProcess is started and stopped from
// one thread (its callback runs on the reader thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace berth::bench::net {

struct CommandResult {
  int exit_code = -1;  // -9 when killed at the timeout
  std::string out, err;
};

// Runs argv (PATH is searched), feeding `input` on stdin; killed (with its process group) at
// `timeout`.
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input = "",
                         std::chrono::seconds timeout = std::chrono::seconds(120));

// "prog arg ...: exit N: <stderr>" for error messages.
std::string describe(const std::vector<std::string>& argv, const CommandResult& r);

class LineProcess {
 public:
  using LineHandler = std::function<void(const std::string& line)>;
  LineProcess() = default;
  ~LineProcess() { stop(); }
  LineProcess(const LineProcess&) = delete;
  LineProcess& operator=(const LineProcess&) = delete;

  // Starts argv in its own process group; each stdout line goes to `on_line`.
  bool start(const std::vector<std::string>& argv, LineHandler on_line);
  // SIGTERM to the group, reaps it, joins the reader.
  void stop();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
};

}  // namespace berth::bench::net
