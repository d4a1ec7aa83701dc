// One exec session: a thread that polls the client's inbox, the pipes to and from the process
// and an eventfd raised by a waiter thread when the process has ended.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "apiserver/http/websocket.h"
#include "apiserver/streaming/channel.h"
#include "apiserver/streaming/inbox.h"
#include "common/log.h"
#include "kubelet-lite/server/sessions.h"

namespace berth::kubelet {

namespace ws = http::ws;
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
              std::shared_ptr<streaming::Inbox> inbox)
      : conn_(std::move(conn)), inbox_(std::move(inbox)) {}

  ~ExecSession() {
    if (exited_fd_ >= 0) close(exited_fd_);
  }

  void run(ContainerRuntime* runtime, ExecRequest req, bool want_in, bool want_out, bool want_err) {
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
  Status start(ContainerRuntime* runtime, ExecRequest* req, bool want_in, bool want_out,
               bool want_err) {
    exited_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if ((want_in && !in_.open(true)) || (want_out && !out_.open(false)) ||
        (want_err && !req->tty && !err_.open(false)) || exited_fd_ < 0)
      return internalError("creating pipes for exec: " + std::string(strerror(errno)));
    req->stdin_fd = in_.theirs;
    req->stdout_fd = out_.theirs;
    req->stderr_fd = err_.theirs;
    auto proc = runtime->exec(*req);
    if (!proc.isOk()) return proc.status();
    proc_ = std::move(proc).value();
    return Status::ok();
  }

  void finish(const std::string& status) {
    conn_->write(channel::frame(channel::kError, status));
    conn_->write(ws::encodeClose(1000));
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
      if (!conn_->write(channel::frame(id, std::string_view(buf, static_cast<size_t>(n)))))
        client_gone_ = true;
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
  }

  void readClient() {
    std::string bytes;
    bool open = inbox_->take(&bytes);
    std::vector<ws::Message> msgs;
    if (!decoder_.feed(bytes, &msgs)) {
      conn_->write(ws::encodeClose(decoder_.errorCloseCode(), decoder_.error()));
      client_gone_ = true;
      return;
    }
    for (auto& m : msgs) handleMessage(m);
    if (!open) client_gone_ = true;
    flushStdin();
  }

  void handleMessage(const ws::Message& m) {
    switch (m.opcode) {
      case ws::Opcode::kPing:
        conn_->write(ws::encodeFrame(ws::Opcode::kPong, m.payload));
        return;
      case ws::Opcode::kClose:
        conn_->write(ws::encodeClose(1000));
        client_gone_ = true;
        return;
      case ws::Opcode::kBinary:
        break;
      default:
        return;
    }
    if (m.payload.empty()) return;
    auto id = static_cast<uint8_t>(m.payload[0]);
    std::string_view data = std::string_view(m.payload).substr(1);
    if (id == channel::kStdin) {
      if (in_.ours >= 0) stdin_buf_.append(data);
    } else if (id == channel::kResize) {
      channel::TerminalSize size;
      if (channel::parseResize(data, &size)) (void)proc_->resize({size.width, size.height});
    } else if (id == channel::kClose && !data.empty() &&
               static_cast<uint8_t>(data[0]) == channel::kStdin) {
      stdin_eof_ = true;
    }
  }

  std::shared_ptr<http::UpgradedConnection> conn_;
  std::shared_ptr<streaming::Inbox> inbox_;
  std::unique_ptr<ExecProcess> proc_;
  ws::FrameDecoder decoder_{true};
  Pipe in_, out_, err_;
  int exited_fd_ = -1;
  int exit_code_ = -1;
  std::string stdin_buf_;
  bool stdin_eof_ = false;
  bool exited_ = false;
  bool client_gone_ = false;
};

}  // namespace

void startExecSession(std::shared_ptr<http::UpgradedConnection> conn, ContainerRuntime* runtime,
                      ExecRequest request, bool want_stdin, bool want_stdout, bool want_stderr) {
  auto inbox = std::make_shared<streaming::Inbox>();
  conn->setOnData([inbox](std::string_view b) { inbox->push(b); });
  conn->setOnClose([inbox] { inbox->close(); });
  auto session = std::make_shared<ExecSession>(std::move(conn), inbox);
  std::thread([session, runtime, request = std::move(request), want_stdin, want_stdout,
               want_stderr]() mutable {
    session->run(runtime, std::move(request), want_stdin, want_stdout, want_stderr);
  }).detach();
}

}  // namespace berth::kubelet
