#include "kubelet-lite/runtime/host_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::kubelet::runc {

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) return internalError("spawn: empty argv");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return internalError(std::string("open /dev/null: ") + std::strerror(errno));
  // Prepared before fork: nothing after it may allocate.
  int in = opts.stdin_fd >= 0 ? opts.stdin_fd : devnull;
  int out = opts.stdout_fd >= 0 ? opts.stdout_fd : devnull;
  int err = opts.stderr_fd >= 0 ? opts.stderr_fd : devnull;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(devnull);
    return internalError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Move every source above 10 first so the dup2s below cannot clobber one another.
    int fds[4] = {in, out, err, opts.fd3};
    for (int& f : fds)
      if (f >= 0) f = ::fcntl(f, F_DUPFD_CLOEXEC, 10);
    if (opts.new_session) ::setsid();
    ::dup2(fds[0], 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[2], 2);
    if (fds[3] >= 0) ::dup2(fds[3], 3);
    ::syscall(SYS_close_range, fds[3] >= 0 ? 4 : 3, ~0U, 0);
    if (opts.new_session && opts.controlling_tty) ::ioctl(0, TIOCSCTTY, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(devnull);
  return pid;
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
  // Reap it if it was our child.
  if (rc > 0) ::waitpid(pid, nullptr, WNOHANG);
  return rc > 0;
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, const std::string& input) {
  int outp[2], inp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0 || ::pipe2(inp, O_CLOEXEC) != 0)
    return internalError(std::string("pipe: ") + std::strerror(errno));
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
    // Small inputs only (JSON specs): fits the pipe buffer.
    ssize_t w = ::write(inp[1], input.data(), input.size());
    (void)w;
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
    if (rc < 0 && errno == EINTR) continue;
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
  if (killed) return Status(Code::kTimeout, argv[0] + " did not finish in time");
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

Result<std::string> runChecked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(CommandResult r, runCommand(argv, timeout));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return internalError(cmd + " exited " + std::to_string(r.exit_code) + ": " + r.out);
  }
  return r.out;
}

}  // namespace berth::kubelet::runc
