#include "nodegroups/cloud/local/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace berth::cloud::local {

Result<ProcessRef> spawnDetached(const std::vector<std::string>& argv, const std::string& log_file) {
  if (argv.empty()) return invalid("spawnDetached: empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return internalError("open " + log_file + ": " + std::strerror(errno));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return internalError(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t child = ::fork();
  if (child < 0) {
    ::close(log_fd);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return internalError(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild != 0) {
      int pid = grandchild;
      (void)!::write(pipefd[1], &pid, sizeof pid);
      ::_exit(grandchild < 0 ? 1 : 0);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(pipefd[1]);
  int pid = 0;
  ssize_t n = ::read(pipefd[0], &pid, sizeof pid);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (n != sizeof pid || pid <= 0) return internalError("could not start " + argv[0]);
  ProcessRef ref{pid, processStartTime(pid)};
  return ref;
}

unsigned long long processStartTime(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // The command name (field 2) may hold spaces; fields after it follow the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  std::string state;
  rest >> state;  // field 3
  if (state == "Z" || state == "X") return 0;
  for (int i = 4; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

bool processAlive(const ProcessRef& ref) {
  if (ref.pid <= 0) return false;
  unsigned long long st = processStartTime(ref.pid);
  return st != 0 && (ref.start_time == 0 || st == ref.start_time);
}

namespace {
bool waitGone(const ProcessRef& ref, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (processAlive(ref)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // A child of ours would stay a zombie: reap it if it is one.
    ::waitpid(ref.pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}
}  // namespace

bool stopProcess(const ProcessRef& ref, int grace_ms) {
  if (!processAlive(ref)) return true;
  ::kill(ref.pid, SIGTERM);
  if (waitGone(ref, grace_ms)) return true;
  ::kill(ref.pid, SIGKILL);
  return waitGone(ref, 2000);
}

std::string selfExecutable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "berth";
  buf[n] = 0;
  return buf;
}

}  // namespace berth::cloud::local
