#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace berth {

namespace {

std::vector<char*> argvOf(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

// In a forked child: stdio (and optionally descriptor 3) onto the given descriptors, everything
// else closed, default signal state, then exec. Async-signal-safe only.
[[noreturn]] void execChild(char** args, int in, int out, int err, int fd3, bool new_session,
                            bool controlling_tty) {
  // Move every source above 10 first so the dup2s below cannot clobber one another.
  int fds[4] = {in, out, err, fd3};
  for (int& f : fds)
    if (f >= 0) f = ::fcntl(f, F_DUPFD_CLOEXEC, 10);
  if (new_session) ::setsid();
  ::dup2(fds[0], 0);
  ::dup2(fds[1], 1);
  ::dup2(fds[2], 2);
  if (fds[3] >= 0) ::dup2(fds[3], 3);
  ::syscall(SYS_close_range, fds[3] >= 0 ? 4 : 3, ~0U, 0);
  if (new_session && controlling_tty) ::ioctl(0, TIOCSCTTY, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::execvp(args[0], args);
  ::_exit(127);
}

}  // namespace

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) return internalError("spawn: empty argv");
  // Prepared before fork: nothing after it may allocate.
  std::vector<char*> args = argvOf(argv);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return internalError(std::string("open /dev/null: ") + std::strerror(errno));
  int in = opts.stdin_fd >= 0 ? opts.stdin_fd : devnull;
  int out = opts.stdout_fd >= 0 ? opts.stdout_fd : devnull;
  int err = opts.stderr_fd >= 0 ? opts.stderr_fd : devnull;
  pid_t pid = ::fork();
  if (pid == 0) execChild(args.data(), in, out, err, opts.fd3, opts.new_session, opts.controlling_tty);
  ::close(devnull);
  if (pid < 0) return internalError(std::string("fork: ") + std::strerror(errno));
  return pid;
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, const std::string& input) {
  int outp[2], inp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return internalError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(inp, O_CLOEXEC) != 0) {
    ::close(outp[0]);
    ::close(outp[1]);
    return internalError(std::string("pipe: ") + std::strerror(errno));
  }
  SpawnOptions so;
  so.stdin_fd = inp[0];
  so.stdout_fd = outp[1];
  so.stderr_fd = outp[1];
  auto pid = spawn(argv, so);
  ::close(outp[1]);
  ::close(inp[0]);
  if (!pid.isOk()) {
    ::close(outp[0]);
    ::close(inp[1]);
    return pid.status();
  }
  if (!input.empty()) {
    ssize_t w = ::write(inp[1], input.data(), input.size());
    (void)w;  // a child that exits without reading its input reports through its exit code
  }
  ::close(inp[1]);
  CommandResult res;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  bool killed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(*pid, SIGKILL);
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
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) return Status(Code::kTimeout, joined(argv) + " did not finish in time");
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

Result<std::string> runChecked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                               const std::string& input) {
  BERTH_ASSIGN_OR_RETURN(CommandResult r, runCommand(argv, timeout, input));
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
    if (grandchild == 0) execChild(args.data(), devnull, log, log, -1, false, false);
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

bool waitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd < 0) return errno == ESRCH;
  pollfd p{pfd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  ::close(pfd);
  if (rc > 0) ::waitpid(pid, nullptr, WNOHANG);
  return rc > 0;
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
  if (waitForExit(pid, grace)) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, WNOHANG);
}

}  // namespace berth
