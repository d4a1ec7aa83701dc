#include "kubelet-lite/runtime/process_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "kubelet-lite/runtime/cri_log.h"
#include "kubelet-lite/runtime/dial.h"
#include "kubelet-lite/runtime/runc_exec.h"
#include "kubelet-lite/runtime/shim_io.h"

extern char** environ;

namespace berth::kubelet {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string randomId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

Result<json> readJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) return notFound("no such file " + path);
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    return internalError("reading " + path + ": " + e.what());
  }
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return internalError(errnoText("writing " + tmp));
    f << data;
    if (!f.flush()) return internalError(errnoText("writing " + tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return internalError(errnoText("renaming " + tmp));
  return Status::ok();
}

TimePoint fromNanos(int64_t ns) { return TimePoint(std::chrono::nanoseconds(ns)); }
int64_t toNanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int pidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Waits until `pid` exits or `timeout` passes; true when it exited (or never existed).
bool waitExit(pid_t pid, std::chrono::milliseconds timeout) {
  int fd = pidfdOpen(pid);
  if (fd < 0) return errno == ESRCH;
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  close(fd);
  return r > 0;
}

struct PidInfo {
  pid_t container = 0;
  pid_t shim = 0;
  int64_t started_ns = 0;
};

bool readPidFile(const std::string& dir, PidInfo* out) {
  std::ifstream f(dir + "/pid");
  return static_cast<bool>(f >> out->container >> out->shim >> out->started_ns);
}

std::vector<std::string> fullCommand(const json& cfg) {
  std::vector<std::string> argv;
  for (const char* k : {"command", "args"})
    if (cfg.contains(k))
      for (const auto& a : cfg[k]) argv.push_back(a.get<std::string>());
  return argv;
}

std::vector<std::string> envList(const json& cfg) {
  std::vector<std::string> env;
  bool has_path = false;
  if (cfg.contains("env"))
    for (const auto& e : cfg["env"]) {
      std::string k = e[0].get<std::string>();
      if (k == "PATH") has_path = true;
      env.push_back(k + "=" + e[1].get<std::string>());
    }
  if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (cfg.contains("hostname")) env.push_back("HOSTNAME=" + cfg["hostname"].get<std::string>());
  return env;
}

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&fa_); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&fa_); }
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

class SpawnAttr {
 public:
  SpawnAttr() { posix_spawnattr_init(&a_); }
  ~SpawnAttr() { posix_spawnattr_destroy(&a_); }
  posix_spawnattr_t* get() { return &a_; }

 private:
  posix_spawnattr_t a_;
};

// An exec'd host process: stdio wired straight to the caller's fds.
class HostExecProcess : public ExecProcess {
 public:
  explicit HostExecProcess(pid_t pid) : pid_(pid) {}
  ~HostExecProcess() override {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
  }
  Status resize(TerminalSize) override { return Status::ok(); }
  Result<int> wait() override {
    int st = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    reaped_ = true;
    if (r < 0) return internalError(errnoText("waiting for exec"));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void kill() override { ::kill(pid_, SIGKILL); }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

Result<pid_t> spawnInContainer(const json& cfg, const std::vector<std::string>& command,
                               int in_fd, int out_fd, int err_fd) {
  if (command.empty()) return badRequest("exec: empty command");
  std::vector<std::string> argv = command;
  std::vector<std::string> env = envList(cfg);
  auto cargv = cstrings(argv);
  auto cenv = cstrings(env);
  SpawnActions fa;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  posix_spawn_file_actions_adddup2(fa.get(), in_fd >= 0 ? in_fd : devnull, 0);
  posix_spawn_file_actions_adddup2(fa.get(), out_fd >= 0 ? out_fd : devnull, 1);
  posix_spawn_file_actions_adddup2(fa.get(), err_fd >= 0 ? err_fd : devnull, 2);
  std::string wd = cfg.value("working_dir", "");
  if (!wd.empty()) posix_spawn_file_actions_addchdir_np(fa.get(), wd.c_str());
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0].c_str(), fa.get(), nullptr, cargv.data(), cenv.data());
  close(devnull);
  if (rc != 0) {
    errno = rc;
    return badRequest(errnoText("exec " + argv[0]));
  }
  return pid;
}

}  // namespace

ProcessRuntime::ProcessRuntime(std::string state_dir, std::string self_exe, std::string host_ip)
    : state_dir_(std::move(state_dir)), self_exe_(std::move(self_exe)), host_ip_(std::move(host_ip)) {
  std::error_code ec;
  fs::create_directories(state_dir_ + "/containers", ec);
  fs::create_directories(state_dir_ + "/sandboxes", ec);
}

std::string ProcessRuntime::containerDir(const std::string& id) const {
  return state_dir_ + "/containers/" + id;
}
std::string ProcessRuntime::sandboxFile(const std::string& id) const {
  return state_dir_ + "/sandboxes/" + id + ".json";
}

void ProcessRuntime::setEventHandler(ContainerEventHandler handler) {
  std::lock_guard<std::mutex> l(mu_);
  handler_ = std::move(handler);
}

// ---- sandboxes ----

Result<SandboxStatus> ProcessRuntime::runPodSandbox(const PodSandboxConfig& config) {
  if (config.uid.empty()) return badRequest("sandbox needs a pod uid");
  std::string id = "sb-" + config.uid;
  auto existing = sandboxStatus(id);
  if (existing.isOk()) return existing;
  json j = {{"id", id},
            {"labels", config.labels},
            {"hostname", config.hostname},
            {"ready", true},
            {"created_ns", toNanos(std::chrono::system_clock::now())}};
  BERTH_RETURN_IF_ERROR(writeFileAtomic(sandboxFile(id), j.dump()));
  return sandboxStatus(id);
}

Status ProcessRuntime::stopPodSandbox(const std::string& sandbox_id) {
  BERTH_ASSIGN_OR_RETURN(json j, readJson(sandboxFile(sandbox_id)));
  BERTH_ASSIGN_OR_RETURN(auto all, listContainers());
  for (const auto& c : all)
    if (c.sandbox_id == sandbox_id && c.state == ContainerState::kRunning)
      BERTH_RETURN_IF_ERROR(stopContainer(c.id, std::chrono::seconds(0)));
  j["ready"] = false;
  return writeFileAtomic(sandboxFile(sandbox_id), j.dump());
}

Status ProcessRuntime::removePodSandbox(const std::string& sandbox_id) {
  std::error_code ec;
  fs::remove(sandboxFile(sandbox_id), ec);
  return Status::ok();
}

Result<SandboxStatus> ProcessRuntime::sandboxStatus(const std::string& sandbox_id) {
  BERTH_ASSIGN_OR_RETURN(json j, readJson(sandboxFile(sandbox_id)));
  SandboxStatus s;
  s.id = sandbox_id;
  s.state = j.value("ready", false) ? SandboxState::kReady : SandboxState::kNotReady;
  s.ip = host_ip_;
  s.created_at = fromNanos(j.value("created_ns", int64_t{0}));
  s.labels = j.value("labels", Labels{});
  return s;
}

Result<std::vector<SandboxStatus>> ProcessRuntime::listSandboxes() {
  std::vector<SandboxStatus> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir_ + "/sandboxes", ec)) {
    std::string f = e.path().filename().string();
    if (f.size() < 6 || f.substr(f.size() - 5) != ".json") continue;
    auto s = sandboxStatus(f.substr(0, f.size() - 5));
    if (s.isOk()) out.push_back(std::move(s).value());
  }
  return out;
}

Result<std::string> ProcessRuntime::ensureImage(const ImageSpec& image) {
  if (image.reference.empty()) return badRequest("image reference is empty");
  return "process://" + image.reference;
}

// ---- containers ----

Result<std::string> ProcessRuntime::createContainer(const std::string& sandbox_id,
                                                    const ContainerConfig& config,
                                                    const PodSandboxConfig& sandbox) {
  if (config.command.empty() && config.args.empty())
    return badRequest("container " + config.name +
                      ": the process runtime needs a command (there is no image entrypoint)");
  std::string id = randomId();
  std::error_code ec;
  fs::create_directories(containerDir(id), ec);
  if (ec) return internalError("creating " + containerDir(id) + ": " + ec.message());
  json env = json::array();
  for (const auto& [k, v] : config.env) env.push_back({k, v});
  json j = {{"id", id},
            {"sandbox_id", sandbox_id},
            {"name", config.name},
            {"image", config.image},
            {"image_id", config.image_id},
            {"command", config.command},
            {"args", config.args},
            {"env", env},
            {"working_dir", config.working_dir},
            {"hostname", sandbox.hostname},
            {"log_path", config.log_path},
            {"labels", config.labels},
            {"created_ns", toNanos(std::chrono::system_clock::now())}};
  if (config.run_as_user) j["run_as_user"] = *config.run_as_user;
  if (config.run_as_group) j["run_as_group"] = *config.run_as_group;
  j["tty"] = config.tty;
  j["stdin"] = config.stdin;
  j["stdin_once"] = config.stdin_once;
  BERTH_RETURN_IF_ERROR(writeFileAtomic(containerDir(id) + "/config.json", j.dump()));
  return id;
}

Status ProcessRuntime::startContainer(const std::string& container_id) {
  std::string dir = containerDir(container_id);
  BERTH_ASSIGN_OR_RETURN(json cfg, readJson(dir + "/config.json"));
  PidInfo pi;
  if (readPidFile(dir, &pi)) return conflict("container " + container_id + " was already started");
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return internalError(errnoText("pipe"));
  SpawnActions fa;
  SpawnAttr attr;
  posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(attr.get(), &none);
  posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
  std::string shim_log = dir + "/shim.log";
  posix_spawn_file_actions_addopen(fa.get(), 1, shim_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(fa.get(), 1, 2);
  posix_spawn_file_actions_adddup2(fa.get(), sync[1], 3);
  std::vector<std::string> argv = {self_exe_, "agent", "shim", dir};
  auto cargv = cstrings(argv);
  pid_t shim = 0;
  int rc = posix_spawn(&shim, self_exe_.c_str(), fa.get(), attr.get(), cargv.data(), environ);
  close(sync[1]);
  if (rc != 0) {
    close(sync[0]);
    errno = rc;
    return internalError(errnoText("starting shim " + self_exe_));
  }
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = read(sync[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) reply.append(buf, n);
  close(sync[0]);
  std::string pod_uid = cfg["labels"].value(kLabelPodUid, "");
  watchShim(shim, container_id, pod_uid);
  if (reply.rfind("ok", 0) != 0)
    return badRequest(reply.empty() ? "shim exited before starting the container" : reply);
  return Status::ok();
}

void ProcessRuntime::watchShim(int shim_pid, const std::string& container_id,
                               const std::string& pod_uid) {
  std::thread([this, shim_pid, container_id, pod_uid] {
    int st = 0;
    while (waitpid(shim_pid, &st, 0) < 0 && errno == EINTR) {
    }
    ContainerEventHandler h;
    {
      std::lock_guard<std::mutex> l(mu_);
      h = handler_;
    }
    if (h) h({container_id, pod_uid, ContainerState::kExited});
  }).detach();
}

Status ProcessRuntime::stopContainer(const std::string& container_id, std::chrono::seconds grace) {
  std::string dir = containerDir(container_id);
  if (!fs::exists(dir)) return notFound("no container " + container_id);
  PidInfo pi;
  if (!readPidFile(dir, &pi) || fs::exists(dir + "/exit")) return Status::ok();
  BLOG(4, "stopping container").kv("id", container_id).kv("grace", grace.count());
  ::kill(-pi.container, SIGTERM);
  if (waitExit(pi.shim, std::chrono::duration_cast<std::chrono::milliseconds>(grace))) return Status::ok();
  ::kill(-pi.container, SIGKILL);
  if (!waitExit(pi.shim, std::chrono::seconds(10)))
    return internalError("container " + container_id + " did not exit after SIGKILL");
  return Status::ok();
}

Status ProcessRuntime::removeContainer(const std::string& container_id) {
  BERTH_ASSIGN_OR_RETURN(ContainerStatus s, containerStatus(container_id));
  if (s.state == ContainerState::kRunning)
    return conflict("container " + container_id + " is running; stop it first");
  std::error_code ec;
  fs::remove_all(containerDir(container_id), ec);
  if (ec) return internalError("removing container " + container_id + ": " + ec.message());
  return Status::ok();
}

Result<ContainerStatus> ProcessRuntime::containerStatus(const std::string& container_id) {
  std::string dir = containerDir(container_id);
  BERTH_ASSIGN_OR_RETURN(json cfg, readJson(dir + "/config.json"));
  ContainerStatus s;
  s.id = container_id;
  s.sandbox_id = cfg.value("sandbox_id", "");
  s.name = cfg.value("name", "");
  s.image = cfg.value("image", "");
  s.image_id = cfg.value("image_id", "");
  s.log_path = cfg.value("log_path", "");
  s.labels = cfg.value("labels", Labels{});
  s.created_at = fromNanos(cfg.value("created_ns", int64_t{0}));
  s.state = ContainerState::kCreated;
  PidInfo pi;
  if (!readPidFile(dir, &pi)) return s;
  s.started_at = fromNanos(pi.started_ns);
  auto exit = readJson(dir + "/exit");
  if (exit.isOk()) {
    s.state = ContainerState::kExited;
    s.exit_code = exit->value("exitCode", 0);
    s.finished_at = fromNanos(exit->value("finished_ns", int64_t{0}));
    s.reason = s.exit_code == 0 ? "Completed" : "Error";
    return s;
  }
  if (::kill(pi.shim, 0) == 0 || errno == EPERM) {
    s.state = ContainerState::kRunning;
    return s;
  }
  // The shim died without recording the end (killed from outside).
  s.state = ContainerState::kExited;
  s.exit_code = 137;
  s.reason = "Error";
  s.message = "the container's supervisor died";
  return s;
}

Result<std::vector<ContainerStatus>> ProcessRuntime::listContainers() {
  std::vector<ContainerStatus> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir_ + "/containers", ec)) {
    auto s = containerStatus(e.path().filename().string());
    if (s.isOk()) out.push_back(std::move(s).value());
  }
  return out;
}

// ---- exec and port-forward ----

Result<std::unique_ptr<ExecProcess>> ProcessRuntime::exec(const ExecRequest& request) {
  BERTH_ASSIGN_OR_RETURN(json cfg, readJson(containerDir(request.container_id) + "/config.json"));
  if (request.tty) {
    // A terminal pair made here; `env` sets the container's environment and working dir.
    if (request.command.empty()) return badRequest("exec: empty command");
    std::vector<std::string> argv = {"env", "-i"};
    std::string wd = cfg.value("working_dir", "");
    if (!wd.empty()) argv.insert(argv.end(), {"-C", wd});
    argv.push_back("--");
    for (auto& e : envList(cfg)) argv.push_back(e);
    argv.insert(argv.end(), request.command.begin(), request.command.end());
    return runc::startExec(argv, "", request);
  }
  BERTH_ASSIGN_OR_RETURN(pid_t pid, spawnInContainer(cfg, request.command, request.stdin_fd,
                                                     request.stdout_fd, request.stderr_fd));
  return std::unique_ptr<ExecProcess>(new HostExecProcess(pid));
}

Result<ExecSyncResult> ProcessRuntime::execSync(const std::string& container_id,
                                                const std::vector<std::string>& command,
                                                std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(json cfg, readJson(containerDir(container_id) + "/config.json"));
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return internalError(errnoText("pipe"));
  auto spawned = spawnInContainer(cfg, command, -1, out[1], out[1]);
  close(out[1]);
  if (!spawned.isOk()) {
    close(out[0]);
    return spawned.status();
  }
  HostExecProcess proc(*spawned);
  ExecSyncResult res;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      proc.kill();
      break;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    if (res.output.size() < (1 << 20)) res.output.append(buf, n);
  }
  close(out[0]);
  BERTH_ASSIGN_OR_RETURN(res.exit_code, proc.wait());
  return res;
}

Result<int> ProcessRuntime::attachStdin(const std::string& container_id) {
  BERTH_ASSIGN_OR_RETURN(ContainerStatus st, containerStatus(container_id));
  return attachShimStdin(containerDir(container_id), st.name);
}

Result<int> ProcessRuntime::attachTerminal(const std::string& container_id) {
  BERTH_ASSIGN_OR_RETURN(ContainerStatus st, containerStatus(container_id));
  return attachShimTerminal(containerDir(container_id), st.name);
}

Result<int> ProcessRuntime::portForward(const std::string& sandbox_id, int port) {
  BERTH_ASSIGN_OR_RETURN(SandboxStatus s, sandboxStatus(sandbox_id));
  (void)s;
  if (port <= 0 || port > 65535) return badRequest("invalid port " + std::to_string(port));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internalError(errnoText("socket"));
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string e = errnoText("connecting to port " + std::to_string(port));
    close(fd);
    return Status(Code::kUnavailable, e);
  }
  return fd;
}

Result<int> ProcessRuntime::dialPod(const std::string& sandbox_id, int port,
                                    std::chrono::milliseconds timeout) {
  BERTH_RETURN_IF_ERROR(sandboxStatus(sandbox_id).status());
  return dialTcp("127.0.0.1", port, timeout);
}

// ---- the shim ----

namespace {

// The container's stdio as the shim made it: pipes, or a terminal's slave side (`in`) with tty.
struct ChildStdio {
  int in = -1;  // stdin pipe's read end, or the terminal; -1: /dev/null
  int out = -1, err = -1;
  bool tty = false;
};

[[noreturn]] void execChild(const json& cfg, const ChildStdio& io, int status_w) {
  if (io.tty) {
    // A session of its own whose controlling terminal is the slave; its group is its pid, as
    // stopContainer's kill(-pid) expects.
    setsid();
    ioctl(io.in, TIOCSCTTY, 0);
    for (int fd = 0; fd < 3; ++fd) dup2(io.in, fd);
  } else {
    setpgid(0, 0);
    dup2(io.out, 1);
    dup2(io.err, 2);
    dup2(io.in >= 0 ? io.in : open("/dev/null", O_RDONLY), 0);
  }
  std::string wd = cfg.value("working_dir", "");
  if (!wd.empty() && chdir(wd.c_str()) != 0) {
    std::string m = errnoText("chdir " + wd);
    (void)!write(status_w, m.data(), m.size());
    _exit(127);
  }
  if (cfg.contains("run_as_group") && setgid(cfg["run_as_group"].get<gid_t>()) != 0) {
    std::string m = errnoText("setgid");
    (void)!write(status_w, m.data(), m.size());
    _exit(127);
  }
  if (cfg.contains("run_as_user") && setuid(cfg["run_as_user"].get<uid_t>()) != 0) {
    std::string m = errnoText("setuid");
    (void)!write(status_w, m.data(), m.size());
    _exit(127);
  }
  std::vector<std::string> argv = fullCommand(cfg);
  std::vector<std::string> env = envList(cfg);
  auto cargv = cstrings(argv);
  auto cenv = cstrings(env);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execvpe(argv[0].c_str(), cargv.data(), cenv.data());
  std::string m = errnoText("exec " + argv[0]);
  (void)!write(status_w, m.data(), m.size());
  _exit(127);
}

}  // namespace

namespace {

// The container's stdin and terminal (see shim_io.h): made before the fork, the child's ends
// in `child`, the shim's in the returned options. False with `err` set on failure.
bool openStdio(const std::string& dir, const json& cfg, ChildStdio* child, AttachServer::Options* ao,
               int* master, std::string* err) {
  child->tty = cfg.value("tty", false);
  bool want_stdin = cfg.value("stdin", false);
  ao->tty = child->tty;
  ao->once = cfg.value("stdin_once", false);
  if (child->tty) {
    Status st = openTerminalPair(master, &child->in);
    if (!st.isOk()) {
      *err = st.message();
      return false;
    }
    ao->tty_master = *master;
    if ((ao->tty_listen = listenShimSocket(dir, kTtySocketName, err)) < 0) return false;
    if (want_stdin) ao->target = *master;
  } else if (want_stdin) {
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      *err = errnoText("pipe");
      return false;
    }
    child->in = in[0];
    ao->target = in[1];
  }
  if (want_stdin && (ao->attach_listen = listenShimSocket(dir, kAttachSocketName, err)) < 0) return false;
  return true;
}

// Copies the output into the log and serves attach until the child exited and its output
// ended; returns its wait status. fds: stdout pipe, stderr pipe, terminal master (-1: none).
int superviseChild(pid_t child, int sfd, int out_fd, int err_fd, int master, int log_fd, AttachServer* attach) {
  CriLogWriter out_log(log_fd, "stdout"), err_log(log_fd, "stderr"), term_log(log_fd, "stdout");
  CriLogWriter* logs[3] = {&out_log, &err_log, &term_log};
  int fds[3] = {out_fd, err_fd, master};
  int wstatus = 0;
  bool exited = false;
  char buf[8192];
  while (!exited || fds[0] >= 0 || fds[1] >= 0 || fds[2] >= 0) {
    std::vector<pollfd> p = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0},
                             {exited ? -1 : sfd, POLLIN, 0}};
    if (!exited) attach->fill(&p);
    // Once the child is gone, drain what is buffered but don't wait for grandchildren.
    int r = poll(p.data(), p.size(), exited ? 0 : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (size_t i = 4; i < p.size(); ++i) attach->handle(p[i]);
    for (int i = 0; i < 3; ++i) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i], buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n > 0) {
        logs[i]->write(std::string_view(buf, n));
        if (i == 2) logs[i]->flushPartial();  // a prompt or an echo shows at once
      } else {  // EOF, or EIO from a terminal whose every slave closed
        if (i < 2) close(fds[i]);
        fds[i] = -1;
      }
    }
    if (p[3].fd >= 0 && (p[3].revents & POLLIN)) {
      struct signalfd_siginfo si;
      (void)!read(sfd, &si, sizeof si);
      if (waitpid(child, &wstatus, WNOHANG) == child) exited = true;
    }
  }
  if (!exited) waitpid(child, &wstatus, 0);
  for (CriLogWriter* l : logs) l->flush();
  return wstatus;
}

}  // namespace

int runProcessShim(const std::string& dir) {
  // fd 3 reports the start to the agent; the container must not inherit it (the agent reads
  // until EOF), nor anything else the agent had open.
  fcntl(3, F_SETFD, FD_CLOEXEC);
  syscall(SYS_close_range, 4U, ~0U, 0U);
  auto cfg = readJson(dir + "/config.json");
  auto fail = [](const std::string& m) {
    (void)!write(3, m.data(), m.size());
    return 1;
  };
  if (!cfg.isOk()) return fail(cfg.status().message());
  std::string log_path = cfg->value("log_path", "");
  std::error_code ec;
  if (!log_path.empty()) fs::create_directories(fs::path(log_path).parent_path(), ec);
  int log_fd = open(log_path.empty() ? "/dev/null" : log_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail(errnoText("opening log " + log_path));
  int out[2], err[2], status[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(status, O_CLOEXEC))
    return fail(errnoText("pipe"));
  ChildStdio io;
  io.out = out[1];
  io.err = err[1];
  AttachServer::Options ao;
  int master = -1;
  std::string why;
  if (!openStdio(dir, *cfg, &io, &ao, &master, &why)) return fail(why);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
  signal(SIGTERM, SIG_IGN);  // the agent signals the container's group, never the shim
  signal(SIGPIPE, SIG_IGN);
  auto started = std::chrono::system_clock::now();
  pid_t child = fork();
  if (child < 0) return fail(errnoText("fork"));
  if (child == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execChild(*cfg, io, status[1]);
  }
  if (!io.tty) setpgid(child, child);
  close(out[1]);
  close(err[1]);
  close(status[1]);
  if (io.in >= 0) close(io.in);
  std::string exec_error;
  char buf[8192];
  ssize_t n;
  while ((n = read(status[0], buf, sizeof buf)) > 0) exec_error.append(buf, n);
  close(status[0]);
  if (!exec_error.empty()) {
    waitpid(child, nullptr, 0);
    return fail(exec_error);
  }
  std::ostringstream pid;
  pid << child << " " << getpid() << " " << toNanos(started);
  if (!writeFileAtomic(dir + "/pid", pid.str()).isOk()) return fail("writing pid file");
  (void)!write(3, "ok", 2);
  close(3);

  if (master >= 0) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  AttachServer attach(ao);
  int wstatus = superviseChild(child, sfd, out[0], err[0], master, log_fd, &attach);
  attach.closeAll();
  if (master >= 0) close(master);
  ::kill(-child, SIGKILL);  // what the container left behind dies with it
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  json exit = {{"exitCode", code},
               {"signal", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0},
               {"finished_ns", toNanos(std::chrono::system_clock::now())}};
  (void)writeFileAtomic(dir + "/exit", exit.dump());
  return 0;
}

}  // namespace berth::kubelet
