// End-to-end test harness: starts the real `berth server` on a free port with a temp data
// dir, and runs the real `kubectl` against it with a fresh HOME (no discovery cache).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace berth::e2e {

struct CmdResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion, feeding `input` on stdin. `timeout` kills it (exit_code -9).
CmdResult run(const std::vector<std::string>& argv, const std::string& input = "",
              const std::vector<std::string>& extra_env = {},
              std::chrono::seconds timeout = std::chrono::seconds(60));

// A long-running child whose stdout is read line by line (kubectl get -w, the server).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});
  ~Child();
  // Next stdout line, waiting up to `timeout`. False on timeout or EOF.
  bool readLine(std::string* line, std::chrono::milliseconds timeout);
  // Reads lines until one contains `needle`; false on timeout/EOF.
  bool waitFor(const std::string& needle, std::chrono::milliseconds timeout, std::string* seen = nullptr);
  void kill(int sig);
  int wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buf_;
  bool reaped_ = false;
};

class Server {
 public:
  // Starts `berth server` with a temp data dir (or `data_dir` to restart on the same state).
  explicit Server(const std::vector<std::string>& extra_args = {}, std::string data_dir = "");
  ~Server();
  const std::string& dataDir() const { return data_dir_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& url() const { return url_; }
  bool ok() const { return ok_; }
  void kill(int sig);  // and wait
  // Stops the server with SIGTERM and returns its exit status (0 when it shut down cleanly;
  // under ASan a leak or error makes it non-zero).
  int stop();
  // kubectl with this server's kubeconfig and a private HOME.
  CmdResult kubectl(const std::vector<std::string>& args, const std::string& input = "") const;
  std::vector<std::string> kubectlEnv() const;
  std::vector<std::string> kubectlArgv(const std::vector<std::string>& args) const;

 private:
  std::string data_dir_, home_, kubeconfig_, url_;
  bool own_dir_ = false;
  bool ok_ = false;
  Child* child_ = nullptr;
};

std::string berthBinary();
std::string makeTempDir(const std::string& prefix);

}  // namespace berth::e2e
