#include "networking/local/host_exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace berth::networking {

namespace {

std::vector<char*> argvOf(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

// In a forked child: stdio onto the given descriptors, everything else closed, default signal
// state, then exec. Async-signal-safe only.
[[noreturn]] void execChild(char** args, int in, int out, int err) {
  int fds[3] = {in, out, err};
  for (int& f : fds) f = ::fcntl(f, F_DUPFD_CLOEXEC, 10);
  ::dup2(fds[0], 0);
  ::dup2(fds[1], 1);
  ::dup2(fds[2], 2);
  ::syscall(SYS_close_range, 3, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::execvp(args[0], args);
  ::_exit(127);
}

std::string joined(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

}  // namespace

Result<ExecResult> execCommand(const std::vector<std::string>& argv, const std::string& input,
                               std::chrono::milliseconds timeout) {
  if (argv.empty()) return internalError("exec: empty argv");
  std::vector<char*> args = argvOf(argv);
  int outp[2], inp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return internalError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(inp, O_CLOEXEC) != 0) {
    ::close(outp[0]);
    ::close(outp[1]);
    return internalError(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid == 0) execChild(args.data(), inp[0], outp[1], outp[1]);
  ::close(outp[1]);
  ::close(inp[0]);
  if (pid < 0) {
    ::close(outp[0]);
    ::close(inp[1]);
    return internalError(std::string("fork: ") + std::strerror(errno));
  }
  // Inputs are small (nft scripts, configs): they fit the pipe buffer.
  if (!input.empty() && ::write(inp[1], input.data(), input.size()) < 0) {
  }
  ::close(inp[1]);
  ExecResult res;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  bool killed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd p{outp[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc <= 0) continue;
    ssize_t n = ::read(outp[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    res.out.append(buf, static_cast<size_t>(n));
  }
  ::close(outp[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) return Status(Code::kTimeout, joined(argv) + " did not finish in time");
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

Result<std::string> execChecked(const std::vector<std::string>& argv, const std::string& input,
                                std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(ExecResult r, execCommand(argv, input, timeout));
  if (r.exit_code != 0) {
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return internalError(joined(argv) + " exited " + std::to_string(r.exit_code) + ": " + r.out);
  }
  return r.out;
}

Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) return internalError("spawn: empty argv");
  std::vector<char*> args = argvOf(argv);
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return internalError("open " + log_path + ": " + std::strerror(errno));
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pidp[2];
  if (devnull < 0 || ::pipe2(pidp, O_CLOEXEC) != 0) {
    ::close(log);
    if (devnull >= 0) ::close(devnull);
    return internalError(std::string("spawn: ") + std::strerror(errno));
  }
  pid_t mid = ::fork();
  if (mid == 0) {
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild == 0) execChild(args.data(), devnull, log, log);
    ssize_t w = ::write(pidp[1], &grandchild, sizeof grandchild);
    ::_exit(w == sizeof grandchild ? 0 : 1);
  }
  ::close(pidp[1]);
  ::close(log);
  ::close(devnull);
  pid_t daemon = -1;
  ssize_t n = mid > 0 ? ::read(pidp[0], &daemon, sizeof daemon) : -1;
  ::close(pidp[0]);
  if (mid > 0) {
    while (::waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (n != sizeof daemon || daemon <= 0) return internalError("spawn " + joined(argv) + " failed");
  return daemon;
}

bool processMatches(pid_t pid, const std::string& marker) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string cmd = ss.str();
  for (char& c : cmd)
    if (c == '\0') c = ' ';
  return cmd.find(marker) != std::string::npos;
}

void killProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0 || ::kill(pid, SIGTERM) != 0) return;
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd >= 0) {
    pollfd p{pfd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(grace.count()));
    ::close(pfd);
    if (rc > 0) {
      ::waitpid(pid, nullptr, WNOHANG);
      return;
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, WNOHANG);
}

}  // namespace berth::networking
