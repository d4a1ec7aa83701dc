// kubectl attach, output side: follows the running container's CRI log from the moment of
// attaching and writes each record's text to the session's stdout or stderr pipe, until the
// container instance stops running or the client goes. Neither runtime's shim gives a second
// reader the container's own stdin or terminal, so attaching to stdin (-i) is refused with a
// clear message; see kubelet-lite/README.md.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>

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
  LogAttachment(ContainerRuntime* rt, ExecRequest req, int log_fd)
      : rt_(rt), req_(std::move(req)), log_fd_(log_fd) {
    thread_ = std::thread([this] { follow(); });
  }
  ~LogAttachment() override {
    detached_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(log_fd_);
  }
  Status resize(TerminalSize) override { return Status::ok(); }
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
    if (req_.stdout_fd >= 0) ::close(req_.stdout_fd);
    if (req_.stderr_fd >= 0) ::close(req_.stderr_fd);
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
  std::atomic<bool> detached_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ExecProcess>> attachToContainer(ContainerRuntime* runtime,
                                                       const ExecRequest& request) {
  if (request.stdin_fd >= 0)
    return badRequest("attaching to a container's stdin is not supported by this node (attach without -i to follow its output)");
  BERTH_ASSIGN_OR_RETURN(ContainerStatus st, runtime->containerStatus(request.container_id));
  if (st.state != ContainerState::kRunning) return badRequest("container " + st.name + " is not running");
  int fd = ::open(st.log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return internalError("opening the container's log " + st.log_path);
  ::lseek(fd, 0, SEEK_END);
  ExecRequest req = request;
  // The session closes its copies of the pipe ends; the attachment owns dups it closes when done.
  req.stdout_fd = request.stdout_fd >= 0 ? ::fcntl(request.stdout_fd, F_DUPFD_CLOEXEC, 0) : -1;
  req.stderr_fd = request.stderr_fd >= 0 ? ::fcntl(request.stderr_fd, F_DUPFD_CLOEXEC, 0) : -1;
  return std::unique_ptr<ExecProcess>(new LogAttachment(runtime, std::move(req), fd));
}

}  // namespace berth::kubelet
