#include "kubelet-lite/runtime/runc_exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/subprocess.h"
#include "kubelet-lite/runtime/shim_io.h"

namespace berth::kubelet::runc {
namespace {

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      pollfd pf{fd, POLLOUT, 0};
      ::poll(&pf, 1, 1000);
      continue;
    }
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

class RuncExec : public ExecProcess {
 public:
  RuncExec(pid_t pid, std::string pid_file, std::string process_file, int master, int stdin_fd,
           int stdout_fd)
      : pid_(pid),
        pid_file_(std::move(pid_file)),
        process_file_(std::move(process_file)),
        master_(master) {
    if (master_ < 0) return;
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stdin_fd >= 0) in_ = std::thread([this, stdin_fd] { copyIn(stdin_fd); });
    out_ = std::thread([this, stdout_fd] { copyOut(stdout_fd); });
  }
  ~RuncExec() override {
    kill();
    (void)wait();
    if (stop_fd_ >= 0) ::close(stop_fd_);
    if (master_ >= 0) ::close(master_);
  }

  Status resize(TerminalSize size) override {
    if (master_ < 0) return Status::ok();
    winsize ws{size.height, size.width, 0, 0};
    if (::ioctl(master_, TIOCSWINSZ, &ws) != 0)
      return internalError(std::string("resize: ") + std::strerror(errno));
    return Status::ok();
  }

  Result<int> wait() override {
    std::lock_guard<std::mutex> l(wait_mu_);
    if (!reaped_) {
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      reaped_ = true;
      if (out_.joinable()) out_.join();  // runc gone: the slave closed, output drained
      if (stop_fd_ >= 0) {
        uint64_t one = 1;
        ssize_t w = ::write(stop_fd_, &one, sizeof one);
        (void)w;
      }
      if (in_.joinable()) in_.join();
      ::unlink(pid_file_.c_str());
      if (!process_file_.empty()) ::unlink(process_file_.c_str());
    }
    return code_;
  }

  void kill() override {
    {
      std::lock_guard<std::mutex> l(wait_mu_);
      if (reaped_) return;
    }
    std::ifstream in(pid_file_);
    pid_t inner = 0;
    in >> inner;
    if (inner > 0) ::kill(inner, SIGKILL);
    ::kill(pid_, SIGKILL);
  }

 private:
  void copyIn(int from) {
    char buf[16384];
    for (;;) {
      pollfd p[2] = {{from, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno == EINTR) continue;
      if (p[1].revents) return;
      ssize_t n = ::read(from, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        // End of input: send the terminal's EOF character, as a closing terminal would.
        char eot = 4;
        writeAll(master_, &eot, 1);
        return;
      }
      if (!writeAll(master_, buf, static_cast<size_t>(n))) return;
    }
  }
  void copyOut(int to) {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(master_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // EIO once every slave descriptor is closed
      if (to >= 0 && !writeAll(to, buf, static_cast<size_t>(n))) to = -1;
    }
  }

  pid_t pid_;
  std::string pid_file_;
  std::string process_file_;
  int master_;
  int stop_fd_ = -1;
  std::thread in_, out_;
  std::mutex wait_mu_;
  bool reaped_ = false;
  int code_ = -1;
};

}  // namespace

Result<std::unique_ptr<ExecProcess>> startExec(const std::vector<std::string>& argv,
                                               const std::string& pid_file,
                                               const ExecRequest& request,
                                               std::string process_file) {
  SpawnOptions so;
  if (!request.tty) {
    so.stdin_fd = request.stdin_fd;
    so.stdout_fd = request.stdout_fd;
    so.stderr_fd = request.stderr_fd;
    BERTH_ASSIGN_OR_RETURN(pid_t pid, spawn(argv, so));
    return std::unique_ptr<ExecProcess>(
        new RuncExec(pid, pid_file, std::move(process_file), -1, -1, -1));
  }
  int master = -1, slave = -1;
  BERTH_RETURN_IF_ERROR(openTerminalPair(&master, &slave));
  if (request.initial_size) {
    winsize ws{request.initial_size->height, request.initial_size->width, 0, 0};
    ::ioctl(master, TIOCSWINSZ, &ws);
  }
  so.stdin_fd = so.stdout_fd = so.stderr_fd = slave;
  so.new_session = true;
  so.controlling_tty = true;
  auto pid = spawn(argv, so);
  ::close(slave);
  if (!pid.isOk()) {
    ::close(master);
    if (!process_file.empty()) ::unlink(process_file.c_str());
    return pid.status();
  }
  return std::unique_ptr<ExecProcess>(new RuncExec(*pid, pid_file, std::move(process_file), master,
                                                   request.stdin_fd, request.stdout_fd));
}

}  // namespace berth::kubelet::runc
