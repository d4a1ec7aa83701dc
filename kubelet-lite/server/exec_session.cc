// One exec session: a thread that polls the client's inbox, the pipes to and from the process
// and an eventfd raised by a waiter thread when the process has ended. The client's protocol
// (WebSocket channels or SPDY streams) is behind ExecTransport.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "apiserver/streaming/channel.h"
#include "apiserver/streaming/inbox.h"
#include "common/log.h"
#include "kubelet-lite/server/exec_transport.h"
#include "kubelet-lite/server/sessions.h"

namespace berth::kubelet {

namespace channel = streaming::channel;

namespace {

// A pipe whose ends close with it. `ours` is the end the session uses (non-blocking).
struct Pipe {
  int ours = -1, theirs = -1;
  ~Pipe() { reset(); }
  void reset() {
    if (ours >= 0) close(ours);
    if (theirs >= 0) close(theirs);
    ours = theirs = -1;
  }
  bool open(bool we_write) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    ours = we_write ? fds[1] : fds[0];
    theirs = we_write ? fds[0] : fds[1];
    fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK);
    return true;
  }
  void closeOurs() {
    if (ours >= 0) close(ours);
    ours = -1;
  }
};

class ExecSession {
 public:
  ExecSession(std::shared_ptr<http::UpgradedConnection> conn,
              std::shared_ptr<streaming::Inbox> inbox, std::unique_ptr<ExecTransport> transport)
      : conn_(std::move(conn)), inbox_(std::move(inbox)), transport_(std::move(transport)) {}

  ~ExecSession() {
    if (exited_fd_ >= 0) close(exited_fd_);
  }

  void run(ContainerRuntime* runtime, ExecRequest req, bool want_in, bool want_out, bool want_err) {
    if (!awaitStreams()) {
      if (!client_gone_) finish(channel::failureStatus("timed out waiting for the client's streams"));
      conn_->close();
      return;
    }
    Status st = start(runtime, &req, want_in, want_out, want_err);
    if (!st.isOk()) {
      finish(channel::failureStatus(st.message()));
      return;
    }
    std::thread waiter([this] {
      auto code = proc_->wait();
      exit_code_ = code.isOk() ? *code : -1;
      uint64_t one = 1;
      (void)!write(exited_fd_, &one, sizeof one);
    });
    flushStdin();
    while (!exited_ && !client_gone_) step();
    if (client_gone_) proc_->kill();
    waiter.join();
    if (client_gone_) {
      conn_->close();
      return;
    }
    // wait() returned after the process's output was written: what is left is in the pipes.
    drain(&out_, channel::kStdout);
    drain(&err_, channel::kStderr);
    finish(exit_code_ >= 0 ? channel::exitStatus(exit_code_)
                           : channel::failureStatus("lost track of the command's exit"));
  }

 private:
  // SPDY clients open one stream per stdio channel before anything may run.
  bool awaitStreams() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!transport_->ready() && !client_gone_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{inbox_->fd(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) > 0) readClient();
    }
    return !client_gone_;
  }

  Status start(ContainerRuntime* runtime, ExecRequest* req, bool want_in, bool want_out,
               bool want_err) {
    exited_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if ((want_in && !in_.open(true)) || (want_out && !out_.open(false)) ||
        (want_err && !req->tty && !err_.open(false)) || exited_fd_ < 0)
      return internalError("creating pipes for exec: " + std::string(strerror(errno)));
    req->stdin_fd = in_.theirs;
    req->stdout_fd = out_.theirs;
    req->stderr_fd = err_.theirs;
    if (!resizes_.empty()) req->initial_size = TerminalSize{resizes_.back().width, resizes_.back().height};
    resizes_.clear();
    // An exec request without a command is an attach.
    auto proc = req->command.empty() ? attachToContainer(runtime, *req) : runtime->exec(*req);
    if (!proc.isOk()) return proc.status();
    proc_ = std::move(proc).value();
    return Status::ok();
  }

  void finish(const std::string& status) {
    conn_->write(transport_->finish(status));
    conn_->close();
  }

  void step() {
    std::vector<pollfd> fds;
    fds.push_back({inbox_->fd(), POLLIN, 0});
    fds.push_back({exited_fd_, POLLIN, 0});
    if (out_.ours >= 0) fds.push_back({out_.ours, POLLIN, 0});
    if (err_.ours >= 0) fds.push_back({err_.ours, POLLIN, 0});
    if (in_.ours >= 0 && !stdin_buf_.empty()) fds.push_back({in_.ours, POLLOUT, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno != EINTR) client_gone_ = true;
      return;
    }
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == inbox_->fd()) readClient();
      else if (p.fd == exited_fd_) exited_ = true;
      else if (p.fd == out_.ours) forward(&out_, channel::kStdout);
      else if (p.fd == err_.ours) forward(&err_, channel::kStderr);
      else if (p.fd == in_.ours) flushStdin();
    }
  }

  // Returns false when nothing more is to be read now.
  bool forward(Pipe* p, uint8_t id) {
    if (p->ours < 0) return false;
    char buf[32 * 1024];
    ssize_t n = read(p->ours, buf, sizeof buf);
    if (n > 0) {
      std::string msg = transport_->output(id, std::string_view(buf, static_cast<size_t>(n)));
      if (!msg.empty() && !conn_->write(msg)) client_gone_ = true;
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    p->closeOurs();
    return false;
  }

  void drain(Pipe* p, uint8_t id) {
    while (!client_gone_ && forward(p, id)) {
    }
  }

  void flushStdin() {
    if (!proc_) return;
    while (!stdin_buf_.empty() && in_.ours >= 0) {
      ssize_t n = write(in_.ours, stdin_buf_.data(), stdin_buf_.size());
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        stdin_buf_.clear();  // the command no longer reads its stdin
        break;
      }
      stdin_buf_.erase(0, static_cast<size_t>(n));
    }
    if (stdin_eof_ && stdin_buf_.empty()) in_.closeOurs();
    for (const auto& r : resizes_) (void)proc_->resize({r.width, r.height});
    resizes_.clear();
  }

  void readClient() {
    std::string bytes;
    bool open = inbox_->take(&bytes);
    ClientInput in;
    transport_->decode(bytes, &in);
    if (!in.reply.empty()) conn_->write(in.reply);
    stdin_buf_ += in.stdin_data;
    stdin_eof_ |= in.stdin_eof;
    resizes_.insert(resizes_.end(), in.resizes.begin(), in.resizes.end());
    if (in.gone || !open) client_gone_ = true;
    flushStdin();
  }

  std::shared_ptr<http::UpgradedConnection> conn_;
  std::shared_ptr<streaming::Inbox> inbox_;
  std::unique_ptr<ExecTransport> transport_;
  std::unique_ptr<ExecProcess> proc_;
  Pipe in_, out_, err_;
  int exited_fd_ = -1;
  int exit_code_ = -1;
  std::string stdin_buf_;
  std::vector<channel::TerminalSize> resizes_;
  bool stdin_eof_ = false;
  bool exited_ = false;
  bool client_gone_ = false;
};

}  // namespace

void startExecSession(std::shared_ptr<http::UpgradedConnection> conn, ContainerRuntime* runtime,
                      ExecRequest request, bool want_stdin, bool want_stdout, bool want_stderr,
                      bool spdy, SessionToken token) {
  auto inbox = std::make_shared<streaming::Inbox>();
  conn->setOnData([inbox](std::string_view b) { inbox->push(b); });
  conn->setOnClose([inbox] { inbox->close(); });
  auto transport = spdy ? spdyTransport(want_stdin, want_stdout, want_stderr, request.tty)
                        : webSocketTransport();
  auto session = std::make_shared<ExecSession>(std::move(conn), inbox, std::move(transport));
  std::thread([session, runtime, request = std::move(request), want_stdin, want_stdout,
               want_stderr, token = std::move(token)]() mutable {
    session->run(runtime, std::move(request), want_stdin, want_stdout, want_stderr);
  }).detach();
}

}  // namespace berth::kubelet
