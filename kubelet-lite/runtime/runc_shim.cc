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
#include "kubelet-lite/runtime/shim_io.h"

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
  // A terminal's output: what came without a newline (a prompt, an echoed key) is written at
  // once as a partial record, so that attach shows it.
  void feedTerminal(const char* data, size_t n) {
    feed(data, n);
    if (!buf_.empty()) emit(buf_, true);
    buf_.clear();
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
  std::string runc = "runc", root, bundle, id, log, stdin_mode = "none", tty = "false";
};

bool parseArgs(const std::vector<std::string>& args, Args* a, std::string* err) {
  std::map<std::string, std::string*> flags = {
      {"--runc", &a->runc}, {"--root", &a->root}, {"--bundle", &a->bundle}, {"--id", &a->id}, {"--log", &a->log},
      {"--stdin", &a->stdin_mode}, {"--tty", &a->tty}};
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
  if (a->tty != "true" && a->tty != "false") {
    *err = "--tty is true or false, not " + a->tty;
    return false;
  }
  return true;
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

namespace {

// runc's --console-socket: a listening socket in a fresh short directory under /tmp (runc dials
// it by path, which must fit sockaddr_un; bundles can be deep).
struct ConsoleSocket {
  std::string dir, path;
  int fd = -1;
  ~ConsoleSocket() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
    if (!dir.empty()) ::rmdir(dir.c_str());
  }
  bool open(std::string* err) {
    char tmpl[] = "/tmp/berth-console-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      *err = std::string("console socket: ") + std::strerror(errno);
      return false;
    }
    dir = tmpl;
    path = dir + "/c.sock";
    fd = listenShimSocket(dir, "c.sock", err);
    return fd >= 0;
  }
  // runc connected and sent the terminal's master while it ran: take it.
  int receiveMaster(std::string* err) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      *err = std::string("runc sent no terminal: ") + std::strerror(errno);
      return -1;
    }
    auto m = receiveFd(c);
    ::close(c);
    if (!m.isOk()) *err = "runc's terminal: " + m.status().message();
    return m.isOk() ? *m : -1;
  }
};

// Copies the container's output into the log and serves attach until init exited and the
// output ended (or stalled for 2 s after the exit); returns init's wait status.
int superviseContainer(pid_t init, int sfd, int out_fd, int err_fd, int term_fd, int log_fd,
                       AttachServer* attach) {
  LogStream so_stream("stdout", log_fd), se_stream("stderr", log_fd), term_stream("stdout", log_fd);
  int fds[3] = {out_fd, err_fd, term_fd};
  LogStream* streams[3] = {&so_stream, &se_stream, &term_stream};
  bool exited = false;
  int exit_status = 0;
  char buf[64 * 1024];
  while (fds[0] >= 0 || fds[1] >= 0 || fds[2] >= 0 || !exited) {
    std::vector<pollfd> p = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0}, {sfd, POLLIN, 0}};
    if (!exited) attach->fill(&p);
    // Once init is gone its pid namespace is torn down; only a leaked descriptor could keep a
    // pipe open, so stop waiting for it after a while.
    int rc = ::poll(p.data(), p.size(), exited ? 2000 : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) break;
    for (size_t i = 4; i < p.size(); ++i) attach->handle(p[i]);
    for (int i = 0; i < 3; ++i) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i], buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {  // EOF, or EIO from a terminal whose every slave closed
        streams[i]->finish();
        if (i < 2) ::close(fds[i]);
        fds[i] = -1;
      } else if (i == 2) {
        streams[i]->feedTerminal(buf, static_cast<size_t>(n));
      } else {
        streams[i]->feed(buf, static_cast<size_t>(n));
      }
    }
    if (p[3].revents & POLLIN) {
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
  for (LogStream* s : streams) s->finish();
  return exit_status;
}

}  // namespace

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

  bool tty = a.tty == "true", want_stdin = a.stdin_mode != "none";
  int log_fd = ::open(a.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) return report("error opening log " + a.log + ": " + std::strerror(errno));
  int out[2], errp[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0 ||
      (want_stdin && !tty && ::pipe2(in, O_CLOEXEC) != 0))
    return report(std::string("error pipe: ") + std::strerror(errno));
  AttachServer::Options ao;
  ao.once = a.stdin_mode == "once";
  ao.tty = tty;
  if (want_stdin && (ao.attach_listen = listenShimSocket(a.bundle, kAttachSocketName, &err)) < 0)
    return report("error " + err);
  if (tty && (ao.tty_listen = listenShimSocket(a.bundle, kTtySocketName, &err)) < 0)
    return report("error " + err);
  ConsoleSocket console;
  if (tty && !console.open(&err)) return report("error " + err);

  std::string pid_file = a.bundle + "/init.pid";
  SpawnOptions so;
  so.stdin_fd = in[0];
  so.stdout_fd = out[1];
  so.stderr_fd = errp[1];
  // `runc run --detach` creates and starts in one runc process (create + start were two, each a
  // Go program's start-up on the pod's critical path). With a terminal (the spec's
  // process.terminal) runc sends its master to the console socket and the container's stdio is
  // the terminal; the pipes only carry runc's own words.
  std::vector<std::string> cmd = {a.runc, "--root", a.root, "run", "--detach", "--bundle", a.bundle, "--pid-file", pid_file};
  if (tty) cmd.insert(cmd.end(), {"--console-socket", console.path});
  cmd.push_back(a.id);
  auto runc = spawn(cmd, so);
  if (!runc.isOk()) return report("error " + runc.status().message());
  int status = 0;
  while (::waitpid(*runc, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(out[1]);
  ::close(errp[1]);
  if (in[0] >= 0) ::close(in[0]);
  ao.target = in[1];
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string text = drain(errp[0]);
    std::string o = drain(out[0]);
    if (!o.empty()) text += (text.empty() ? "" : "; ") + o;
    return report("error runc run: " + (text.empty() ? "exit status " + std::to_string(WEXITSTATUS(status)) : text));
  }
  int master = -1;
  if (tty) {
    if ((master = console.receiveMaster(&err)) < 0) return report("error " + err);
    ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
    ao.tty_master = master;
    if (want_stdin) ao.target = master;
  }
  pid_t init = 0;
  {
    std::ifstream in(pid_file);
    in >> init;
  }
  if (init <= 0) return report("error runc run wrote no pid file");
  report("ok " + std::to_string(init));

  AttachServer attach(ao);
  int exit_status = superviseContainer(init, sfd, out[0], errp[0], master, log_fd, &attach);
  attach.closeAll();
  if (master >= 0) ::close(master);
  ::close(log_fd);
  writeExit(a.bundle, exit_status);
  return 0;
}

}  // namespace berth::kubelet::runc
