#include "kubelet-lite/runtime/runc_shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/subprocess.h"

namespace berth::kubelet::runc {
namespace {

constexpr size_t kMaxLine = 16 * 1024;

std::string nowRfc3339Nano() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

void writeAll(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Splits a stream into CRI log lines.
class LogStream {
 public:
  LogStream(const char* name, int log_fd) : name_(name), log_fd_(log_fd) {}
  void feed(const char* data, size_t n) {
    buf_.append(data, n);
    size_t start = 0;
    for (;;) {
      size_t nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      emit(buf_.substr(start, nl - start), false);
      start = nl + 1;
    }
    buf_.erase(0, start);
    while (buf_.size() >= kMaxLine) {
      emit(buf_.substr(0, kMaxLine), true);
      buf_.erase(0, kMaxLine);
    }
  }
  void finish() {
    if (!buf_.empty()) emit(buf_, false);
    buf_.clear();
  }

 private:
  void emit(const std::string& text, bool partial) {
    writeAll(log_fd_, criLogLine(nowRfc3339Nano(), name_, partial, text));
  }
  const char* name_;
  int log_fd_;
  std::string buf_;
};

struct Args {
  std::string runc = "runc", root, bundle, id, log, stdin_mode = "none";
};

bool parseArgs(const std::vector<std::string>& args, Args* a, std::string* err) {
  std::map<std::string, std::string*> flags = {
      {"--runc", &a->runc}, {"--root", &a->root}, {"--bundle", &a->bundle}, {"--id", &a->id}, {"--log", &a->log},
      {"--stdin", &a->stdin_mode}};
  for (size_t i = 0; i < args.size(); ++i) {
    auto it = flags.find(args[i]);
    if (it == flags.end() || i + 1 >= args.size()) {
      *err = "unknown or incomplete flag " + args[i];
      return false;
    }
    *it->second = args[++i];
  }
  if (a->root.empty() || a->bundle.empty() || a->id.empty() || a->log.empty()) {
    *err = "--root, --bundle, --id and --log are required";
    return false;
  }
  if (a->stdin_mode != "none" && a->stdin_mode != "open" && a->stdin_mode != "once") {
    *err = "--stdin is none, open or once, not " + a->stdin_mode;
    return false;
  }
  return true;
}

// The container's stdin: a pipe whose write end the shim keeps, fed by whoever connects to
// DIR/attach.sock (kubectl attach -i through the agent). With "once" the first attachment's end
// closes the container's stdin for good. Writes never block the shim's loop: input waits in
// `pending` until the pipe takes it, and clients are not read meanwhile.
class StdinFeeder {
 public:
  StdinFeeder(int pipe_w, int listen_fd, bool once) : pipe_(pipe_w), listen_(listen_fd), once_(once) {
    ::fcntl(pipe_, F_SETFL, O_NONBLOCK);
  }
  // Descriptors to poll, with the events wanted.
  void fill(std::vector<pollfd>* fds) const {
    if (listen_ >= 0) fds->push_back({listen_, POLLIN, 0});
    if (pipe_ >= 0 && !pending_.empty()) fds->push_back({pipe_, POLLOUT, 0});
    if (pipe_ >= 0 && pending_.empty())
      for (int c : clients_) fds->push_back({c, POLLIN, 0});
  }
  void handle(const pollfd& p) {
    if (!p.revents) return;
    if (p.fd == listen_) {
      int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) clients_.push_back(c);
    } else if (p.fd == pipe_) {
      flush();
    } else {
      char buf[16 * 1024];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      if (n > 0) {
        pending_.append(buf, static_cast<size_t>(n));
        flush();
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        drop(p.fd);
      }
    }
  }
  void closeAll() {
    for (int c : clients_) ::close(c);
    clients_.clear();
    if (listen_ >= 0) ::close(listen_);
    if (pipe_ >= 0) ::close(pipe_);
    listen_ = pipe_ = -1;
  }

 private:
  void flush() {
    while (!pending_.empty()) {
      ssize_t n = ::write(pipe_, pending_.data(), pending_.size());
      if (n > 0) {
        pending_.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      pending_.clear();  // the container closed its stdin: nothing will read it
      return;
    }
    if (closing_) closeAll();
  }
  void drop(int fd) {
    ::close(fd);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), fd), clients_.end());
    if (!once_) return;
    closing_ = true;  // closes the container's stdin once the pending input is in
    if (listen_ >= 0) ::close(listen_);
    listen_ = -1;
    if (pending_.empty()) closeAll();
  }

  int pipe_, listen_;
  bool once_, closing_ = false;
  std::vector<int> clients_;
  std::string pending_;
};

// Listens on DIR/attach.sock (through /proc/self/fd, so long paths fit sockaddr_un).
int listenAttachSocket(const std::string& bundle, std::string* err) {
  int dir = ::open(bundle.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (dir < 0 || s < 0) {
    *err = std::string("attach socket: ") + std::strerror(errno);
    return -1;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir, kAttachSocketName);
  ::unlink(addr.sun_path);
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 4) != 0) {
    *err = std::string("attach socket: ") + std::strerror(errno);
    ::close(s);
    s = -1;
  }
  ::close(dir);
  return s;
}

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void writeExit(const std::string& bundle, int status) {
  nlohmann::json j;
  if (WIFSIGNALED(status)) {
    j["exitCode"] = 128 + WTERMSIG(status);
    j["signal"] = WTERMSIG(status);
  } else {
    j["exitCode"] = WEXITSTATUS(status);
    j["signal"] = 0;
  }
  j["finishedAt"] = nowRfc3339Nano();
  std::string tmp = bundle + "/exit.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump();
  }
  ::rename(tmp.c_str(), (bundle + "/exit.json").c_str());
}

int report(const std::string& line) {
  writeAll(3, line + "\n");
  ::close(3);
  return line.starts_with("ok") ? 0 : 1;
}

}  // namespace

std::string criLogLine(const std::string& timestamp, const char* stream, bool partial,
                       const std::string& text) {
  std::string line;
  line.reserve(timestamp.size() + text.size() + 12);
  line += timestamp;
  line += ' ';
  line += stream;
  line += partial ? " P " : " F ";
  line += text;
  line += '\n';
  return line;
}

int runcShimMain(const std::vector<std::string>& argv) {
  Args a;
  std::string err;
  if (!parseArgs(argv, &a, &err)) return report("error runc-shim: " + err);
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

  int log_fd = ::open(a.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) return report("error opening log " + a.log + ": " + std::strerror(errno));
  int out[2], errp[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0 ||
      (a.stdin_mode != "none" && ::pipe2(in, O_CLOEXEC) != 0))
    return report(std::string("error pipe: ") + std::strerror(errno));
  int attach_fd = -1;
  if (a.stdin_mode != "none" && (attach_fd = listenAttachSocket(a.bundle, &err)) < 0)
    return report("error " + err);

  std::string pid_file = a.bundle + "/init.pid";
  SpawnOptions so;
  so.stdin_fd = in[0];
  so.stdout_fd = out[1];
  so.stderr_fd = errp[1];
  // `runc run --detach` creates and starts in one runc process (create + start were two, each a
  // Go program's start-up on the pod's critical path).
  auto runc = spawn({a.runc, "--root", a.root, "run", "--detach", "--bundle", a.bundle, "--pid-file", pid_file, a.id}, so);
  if (!runc.isOk()) return report("error " + runc.status().message());
  int status = 0;
  while (::waitpid(*runc, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(out[1]);
  ::close(errp[1]);
  if (in[0] >= 0) ::close(in[0]);
  StdinFeeder feeder(in[1], attach_fd, a.stdin_mode == "once");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string text = drain(errp[0]);
    std::string o = drain(out[0]);
    if (!o.empty()) text += (text.empty() ? "" : "; ") + o;
    return report("error runc run: " + (text.empty() ? "exit status " + std::to_string(WEXITSTATUS(status)) : text));
  }
  pid_t init = 0;
  {
    std::ifstream in(pid_file);
    in >> init;
  }
  if (init <= 0) return report("error runc run wrote no pid file");
  report("ok " + std::to_string(init));

  LogStream so_stream("stdout", log_fd), se_stream("stderr", log_fd);
  bool out_open = true, err_open = true, exited = false;
  int exit_status = 0;
  char buf[64 * 1024];
  while (out_open || err_open || !exited) {
    std::vector<pollfd> p = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? errp[0] : -1, POLLIN, 0},
                             {sfd, POLLIN, 0}};
    if (!exited) feeder.fill(&p);
    // Once init is gone its pid namespace is torn down; only a leaked descriptor could keep a
    // pipe open, so stop waiting for it after a while.
    int rc = ::poll(p.data(), p.size(), exited ? 2000 : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) break;
    for (size_t i = 3; i < p.size(); ++i) feeder.handle(p[i]);
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      LogStream& s = i == 0 ? so_stream : se_stream;
      if (n <= 0) {
        s.finish();
        (i == 0 ? out_open : err_open) = false;
      } else {
        s.feed(buf, static_cast<size_t>(n));
      }
    }
    if (p[2].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == sizeof si) {
      }
      int st;
      pid_t w;
      while ((w = ::waitpid(-1, &st, WNOHANG)) > 0) {
        if (w == init) {
          exited = true;
          exit_status = st;
        }
      }
      if (w < 0 && errno == ECHILD && !exited) {
        // Not our child (never re-parented): learn the end from the pidfd instead.
        if (waitForExit(init, std::chrono::milliseconds(0))) exited = true;
      }
    }
  }
  feeder.closeAll();
  so_stream.finish();
  se_stream.finish();
  ::close(log_fd);
  writeExit(a.bundle, exit_status);
  return 0;
}

}  // namespace berth::kubelet::runc
