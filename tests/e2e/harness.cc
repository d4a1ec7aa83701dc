#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace berth::e2e {

namespace {

std::vector<char*> cstrs(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> envWith(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& x : extra) overridden |= x.substr(0, x.find('=')) == key;
    if (!overridden) env.push_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// fork + exec rather than posix_spawn so the child can ask to be killed when the test
// process dies: a crashed test must not leave a server holding the test runner's pipes.
pid_t spawn(const std::vector<std::string>& argv_in, const std::vector<std::string>& extra_env,
            int in_fd, int out_fd, int err_fd) {
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = envWith(extra_env);
  auto a = cstrs(argv);
  auto e = cstrs(env);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);  // own process group, so a kill reaches the whole child
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (in_fd >= 0) dup2(in_fd, 0);
    if (out_fd >= 0) dup2(out_fd, 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    execvpe(a[0], a.data(), e.data());
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

}  // namespace

std::string berthBinary() {
  const char* b = std::getenv("BERTH_BIN");
  return b ? b : "berth";
}

std::string makeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

CmdResult run(const std::vector<std::string>& argv, const std::string& input,
              const std::vector<std::string>& extra_env, std::chrono::seconds timeout) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = spawn(argv, extra_env, in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  CmdResult r;
  size_t written = 0;
  if (input.empty()) {
    close(in[1]);
    in[1] = -1;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
    int n = poll(fds, in[1] >= 0 ? 3 : 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      else if (got == 0 || (errno != EAGAIN && errno != EINTR)) (i == 0 ? out_open : err_open) = false;
    }
    if (in[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in[1], input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) written = input.size();
      if (written >= input.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = -WTERMSIG(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  int out[2];
  if (pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_ = spawn(argv, extra_env, devnull, out[1], -1);
  close(devnull);
  close(out[1]);
  out_fd_ = out[0];
}

Child::~Child() {
  if (!reaped_) {
    kill(SIGKILL);
    wait();
  }
  if (out_fd_ >= 0) close(out_fd_);
}

bool Child::readLine(std::string* line, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      *line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p = {out_fd_, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[8192];
    ssize_t got = read(out_fd_, buf, sizeof(buf));
    if (got <= 0) {
      if (!buf_.empty()) {
        *line = buf_;
        buf_.clear();
        return true;
      }
      return false;
    }
    buf_.append(buf, static_cast<size_t>(got));
  }
}

bool Child::waitFor(const std::string& needle, std::chrono::milliseconds timeout, std::string* seen) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !readLine(&line, left)) return false;
    if (seen) *seen += line + "\n";
    if (line.find(needle) != std::string::npos) return true;
  }
}

void Child::kill(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(-pid_, sig);
}

int Child::wait() {
  if (reaped_) return 0;
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  return status;
}

Server::Server(const std::vector<std::string>& extra_args, std::string data_dir) {
  if (data_dir.empty()) {
    data_dir_ = makeTempDir("berth-e2e-");
    own_dir_ = true;
  } else {
    data_dir_ = data_dir;
  }
  home_ = makeTempDir("berth-e2e-home-");
  std::vector<std::string> argv = {berthBinary(), "server", "--data-dir", data_dir_,
                                   "--secure-port", "0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = new Child(argv);
  std::string seen;
  ok_ = child_->waitFor("serving at", std::chrono::seconds(60), &seen);
  if (ok_) {
    auto pos = seen.find("serving at ");
    url_ = seen.substr(pos + 11, seen.find('\n', pos) - pos - 11);
    kubeconfig_ = data_dir_ + "/admin.kubeconfig";
  }
}

int Server::stop() {
  if (!child_) return 0;
  child_->kill(SIGTERM);
  int status = child_->wait();
  delete child_;
  child_ = nullptr;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

Server::~Server() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(home_, ec);
  if (own_dir_) std::filesystem::remove_all(data_dir_, ec);
}

void Server::kill(int sig) {
  if (!child_) return;
  child_->kill(sig);
  child_->wait();
  delete child_;
  child_ = nullptr;
}

std::vector<std::string> Server::kubectlEnv() const {
  return {"KUBECONFIG=" + kubeconfig_, "HOME=" + home_};
}

std::vector<std::string> Server::kubectlArgv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"kubectl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

CmdResult Server::kubectl(const std::vector<std::string>& args, const std::string& input) const {
  return run(kubectlArgv(args), input, kubectlEnv());
}

}  // namespace berth::e2e
