// kubectl attach: follows the running container's CRI log from the moment of attaching and
// writes each record's text to the session's stdout or stderr pipe, until the container
// instance stops running or the client goes. With -i the session's stdin goes to the
// container's stdin through ContainerRuntime::attachStdin() (the shim's attach socket;
// containers created with stdin: true only); the end of the client's input ends that
// connection, which closes the container's stdin when it has stdinOnce (and no tty), else
// ends the attachment (as containerd's CRI). With -t
// and a container created with tty: true, resizes set the container terminal's window size
// (ContainerRuntime::attachTerminal()); its output is in the log as stream stdout, prompts and
// echoes as partial records, which are passed on as they come.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "kubelet-lite/runtime/shim_io.h"
#include "kubelet-lite/server/container_logs.h"
#include "kubelet-lite/server/sessions.h"

namespace berth::kubelet {
namespace {

void writeAll(int fd, std::string_view data) {
  while (fd >= 0 && !data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

class LogAttachment : public ExecProcess {
 public:
  // `stdin_sock` (owned; -1: none) receives what arrives on req.stdin_fd; `terminal` (owned;
  // -1: none) is the container terminal's master, for resizes.
  LogAttachment(ContainerRuntime* rt, ExecRequest req, int log_fd, int stdin_sock, int terminal)
      : rt_(rt), req_(std::move(req)), log_fd_(log_fd), stdin_sock_(stdin_sock), terminal_(terminal) {
    if (req_.initial_size) (void)resize(*req_.initial_size);
    thread_ = std::thread([this] { follow(); });
    if (stdin_sock_ >= 0) stdin_thread_ = std::thread([this] { pumpStdin(); });
  }
  ~LogAttachment() override {
    detached_ = true;
    if (thread_.joinable()) thread_.join();
    if (stdin_thread_.joinable()) stdin_thread_.join();
    ::close(log_fd_);
    if (terminal_ >= 0) ::close(terminal_);
  }
  Status resize(TerminalSize size) override {
    if (terminal_ < 0) return Status::ok();
    winsize ws{size.height, size.width, 0, 0};
    if (::ioctl(terminal_, TIOCSWINSZ, &ws) != 0)
      return internalError(std::string("resizing the container's terminal: ") + std::strerror(errno));
    return Status::ok();
  }
  // The container's exit is not the attachment's: it ends successfully, as upstream's does.
  Result<int> wait() override {
    if (thread_.joinable()) thread_.join();
    return 0;
  }
  // Detaches (the container keeps running).
  void kill() override { detached_ = true; }

 private:
  void follow() {
    std::string pending;
    char buf[32 * 1024];
    while (!detached_) {
      ssize_t n = ::read(log_fd_, buf, sizeof buf);
      if (n > 0) {
        pending.append(buf, static_cast<size_t>(n));
        emit(&pending);
        continue;
      }
      auto st = rt_->containerStatus(req_.container_id);
      if (!st.isOk() || st->state != ContainerState::kRunning) {
        // Its last words are in the file by now (the shim drains before the exit is known).
        while ((n = ::read(log_fd_, buf, sizeof buf)) > 0) pending.append(buf, static_cast<size_t>(n));
        emit(&pending);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stopped_ = true;
    if (req_.stdout_fd >= 0) ::close(req_.stdout_fd);
    if (req_.stderr_fd >= 0) ::close(req_.stderr_fd);
  }
  // Copies the client's input to the container until it ends, the container stops or the
  // client detaches; closing the socket tells the shim the attachment's input is over.
  void pumpStdin() {
    char buf[16 * 1024];
    while (!detached_ && !stopped_) {
      pollfd p{req_.stdin_fd, POLLIN, 0};
      int rc = ::poll(&p, 1, 200);
      if (rc == 0 || (rc < 0 && errno == EINTR)) continue;
      if (rc < 0) break;
      ssize_t n = ::read(req_.stdin_fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        endOfInput();
        break;
      }
      writeAll(stdin_sock_, std::string_view(buf, static_cast<size_t>(n)));
    }
    ::close(stdin_sock_);
    ::close(req_.stdin_fd);
  }
  // The client's input ended. When that does not close the container's stdin (no stdinOnce, or
  // a tty: the shim's first byte says), the attachment's output ends too, as containerd's.
  void endOfInput() {
    char fate = 0;
    pollfd p{stdin_sock_, POLLIN, 0};  // the shim may not have taken the connection yet
    if (::poll(&p, 1, 2000) == 1 && ::recv(stdin_sock_, &fate, 1, MSG_DONTWAIT) == 1 && fate == kStdinStaysOpen)
      detached_ = true;
  }
  // Writes the complete records in `pending` and keeps a trailing incomplete one.
  void emit(std::string* pending) {
    size_t start = 0;
    for (size_t nl; (nl = pending->find('\n', start)) != std::string::npos; start = nl + 1) {
      CriRecord rec;
      if (!parseCriRecord(std::string_view(*pending).substr(start, nl - start), &rec)) continue;
      std::string text(rec.text);
      if (!rec.partial) text += '\n';
      bool err = rec.stream == "stderr" && !req_.tty && req_.stderr_fd >= 0;
      writeAll(err ? req_.stderr_fd : req_.stdout_fd, text);
    }
    pending->erase(0, start);
  }

  ContainerRuntime* rt_;
  ExecRequest req_;
  int log_fd_;
  int stdin_sock_;
  int terminal_;
  std::atomic<bool> detached_{false};
  std::atomic<bool> stopped_{false};  // the container stopped: no more input
  std::thread thread_, stdin_thread_;
};

}  // namespace

Result<std::unique_ptr<ExecProcess>> attachToContainer(ContainerRuntime* runtime,
                                                       const ExecRequest& request) {
  BERTH_ASSIGN_OR_RETURN(ContainerStatus st, runtime->containerStatus(request.container_id));
  if (st.state != ContainerState::kRunning) return badRequest("container " + st.name + " is not running");
  int fd = ::open(st.log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return internalError("opening the container's log " + st.log_path);
  ::lseek(fd, 0, SEEK_END);  // output from now on, before any input can cause some
  int stdin_sock = -1;
  if (request.stdin_fd >= 0) {
    auto sock = runtime->attachStdin(request.container_id);
    if (!sock.isOk()) {
      ::close(fd);
      return sock.status();
    }
    stdin_sock = *sock;
  }
  // Without a terminal (a container without tty: true) -t only loses resizes, as the client
  // already warned.
  int terminal = -1;
  if (request.tty) {
    auto t = runtime->attachTerminal(request.container_id);
    if (t.isOk()) terminal = *t;
  }
  ExecRequest req = request;
  req.stdin_fd = request.stdin_fd >= 0 ? ::fcntl(request.stdin_fd, F_DUPFD_CLOEXEC, 0) : -1;
  // The session closes its copies of the pipe ends; the attachment owns dups it closes when done.
  req.stdout_fd = request.stdout_fd >= 0 ? ::fcntl(request.stdout_fd, F_DUPFD_CLOEXEC, 0) : -1;
  req.stderr_fd = request.stderr_fd >= 0 ? ::fcntl(request.stderr_fd, F_DUPFD_CLOEXEC, 0) : -1;
  return std::unique_ptr<ExecProcess>(new LogAttachment(runtime, std::move(req), fd, stdin_sock, terminal));
}

}  // namespace berth::kubelet
