#include "nodegroups/cloud/local/supervisor.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/log.h"
#include "common/mounts.h"
#include "common/strings.h"
#include "nodegroups/cloud/local/imds.h"

namespace berth::cloud::local {

namespace {

constexpr char kImdsAddress[] = "169.254.169.254";
constexpr int kImdsPort = 80;
constexpr int kAgentStopGraceMs = 10000;

Status enterNetns(const std::string& netns) {
  std::string path = "/run/netns/" + netns;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return internalError("open " + path + ": " + std::strerror(errno));
  int rc = ::setns(fd, CLONE_NEWNET);
  int e = errno;
  ::close(fd);
  if (rc != 0) return internalError("setns " + path + ": " + std::strerror(e));
  return Status::ok();
}

// Starts the agent as our child (we wait for it), output to `log_file`.
Result<ProcessRef> startAgent(const std::vector<std::string>& argv, const std::string& log_file) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return internalError("open " + log_file + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return internalError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  return ProcessRef{pid, processStartTime(pid)};
}

std::string exitText(int status) {
  if (WIFEXITED(status)) return "the agent exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "the agent was killed by signal " + std::to_string(WTERMSIG(status));
  return "the agent stopped";
}

// Stops our child agent: SIGTERM, then SIGKILL after the grace period; reaps it.
void stopAgent(pid_t pid) {
  ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAgentStopGraceMs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

class Supervisor {
 public:
  explicit Supervisor(std::string dir) : dir_(std::move(dir)) {}

  int run() {
    auto rec = loadRecord();
    if (!rec.isOk()) {
      std::fprintf(stderr, "berth cloud instance-run: %s\n", rec.status().toString().c_str());
      return 1;
    }
    rec_ = std::move(rec).value();
    Status st = start();
    if (!st.isOk()) {
      BLOG(0, "instance failed to start").kv("instance", rec_.instance.id).kv("err", st.toString());
      finish("Server.InternalError", st.message());
      return 1;
    }
    int code = loop();
    http_.stop();
    if (http_thread_.joinable()) http_thread_.join();
    return code;
  }

 private:
  Result<InstanceRecord> loadRecord() {
    BERTH_ASSIGN_OR_RETURN(nlohmann::json j, readJsonFile(dir_ + "/instance.json"));
    return instanceRecordFromJson(j);
  }

  Status start() {
    if (!rec_.netns.empty()) BERTH_RETURN_IF_ERROR(enterNetns(rec_.netns));
    BERTH_RETURN_IF_ERROR(startImds());
    std::vector<std::string> argv = agentCommand(
        rec_.agent_binary.empty() ? selfExecutable() : rec_.agent_binary, rec_, dir_);
    BLOG(0, "starting agent").kv("instance", rec_.instance.id).kv("cmd", join(argv, " "));
    BERTH_ASSIGN_OR_RETURN(agent_, startAgent(argv, dir_ + "/agent.log"));
    SupervisorStatus s;
    s.state = InstanceState::kRunning;
    s.agent = agent_;
    s.time = std::chrono::system_clock::now();
    return writeJsonFile(dir_ + "/status.json", toJson(s));
  }

  Status startImds() {
    ImdsInstance ii;
    ii.instance_id = rec_.instance.id;
    ii.instance_type = rec_.instance.instance_type;
    ii.zone = rec_.instance.zone;
    ii.region = rec_.instance.region;
    ii.private_ip = rec_.instance.private_ip;
    ii.capacity_type = rec_.instance.capacity_type;
    ii.launch_time = rec_.instance.launch_time;
    auto ud = readFile(dir_ + "/user-data");
    if (ud.isOk()) ii.user_data = *ud;
    std::string dir = dir_;
    imds_ = std::make_unique<Imds>(ii, [dir] { return readSpotNotice(dir); },
                                   SystemClock::instance());
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      ImdsRequest r;
      r.method = req.method;
      r.path = req.path;
      for (const auto& [k, v] : req.headers) r.headers[toLower(k)] = v;
      ImdsResponse out = imds_->handle(r);
      res.status = out.status;
      for (const auto& [k, v] : out.headers) res.set_header(k, v);
      res.set_content(out.body, out.content_type);
    };
    http_.Get(".*", handler);
    http_.Put(".*", handler);
    http_.Post(".*", handler);
    http_.Delete(".*", handler);
    if (!http_.bind_to_port(kImdsAddress, kImdsPort)) {
      return internalError(std::string("cannot serve the metadata endpoint on ") + kImdsAddress +
                           ":" + std::to_string(kImdsPort));
    }
    http_thread_ = std::thread([this] { http_.listen_after_bind(); });
    return Status::ok();
  }

  // Waits for the agent to die, a stop signal, or the spot notice's time.
  int loop() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    for (;;) {
      int status = 0;
      pid_t done = ::waitpid(agent_.pid, &status, WNOHANG);
      if (done == agent_.pid) {
        BLOG(0, "agent died: instance failed").kv("instance", rec_.instance.id).kv("why", exitText(status));
        finish("Server.InternalError", exitText(status));
        return 0;
      }
      if (auto notice = readSpotNotice(dir_); notice && std::chrono::system_clock::now() >= *notice) {
        BLOG(0, "spot instance reclaimed").kv("instance", rec_.instance.id);
        stopAgent(agent_.pid);
        finish("Server.SpotInstanceTermination", "the spot instance was reclaimed");
        return 0;
      }
      timespec timeout{1, 0};
      int sig = ::sigtimedwait(&set, nullptr, &timeout);
      if (sig == SIGTERM || sig == SIGINT) {
        BLOG(0, "terminating instance").kv("instance", rec_.instance.id);
        stopAgent(agent_.pid);
        finish("Client.UserInitiatedShutdown", "terminated through the API");
        return 0;
      }
    }
  }

  // What ran in the instance goes with it: containers and pod sandboxes, whose shims outlive
  // the agent, are stopped and removed by `berth agent teardown`.
  void teardownRuntime() {
    std::string rt = rec_.node_runtime.empty() ? "runc" : rec_.node_runtime;
    if (rt == "simulated") return;
    std::string bin = rec_.agent_binary.empty() ? selfExecutable() : rec_.agent_binary;
    std::vector<std::string> argv = {bin, "agent", "teardown", "--runtime", rt,
                                     "--root-dir", dir_ + "/agent", "--node-name", rec_.instance.id};
    auto child = startAgent(argv, dir_ + "/teardown.log");
    if (!child.isOk()) {
      BLOG(0, "instance teardown failed").kv("instance", rec_.instance.id).kv("err", child.status().toString());
      return;
    }
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::waitpid(child->pid, &status, WNOHANG) != child->pid) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(child->pid, SIGKILL);
        ::waitpid(child->pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      BLOG(0, "instance teardown left something").kv("instance", rec_.instance.id).kv("log", dir_ + "/teardown.log");
    // A root filesystem the teardown could not unmount (killed at its deadline) would keep the
    // instance's directory, and the cluster's, from being removed.
    Status st = unmountUnder(dir_ + "/agent");
    if (!st.isOk()) BLOG(0, "instance mounts left").kv("instance", rec_.instance.id).kv("err", st.toString());
  }

  void finish(const std::string& reason, const std::string& message) {
    teardownRuntime();
    SupervisorStatus s;
    s.state = InstanceState::kTerminated;
    s.reason = reason;
    s.message = message;
    s.agent = agent_;
    s.time = std::chrono::system_clock::now();
    Status st = writeJsonFile(dir_ + "/status.json", toJson(s));
    if (!st.isOk()) BLOG(0, "cannot write instance status").kv("err", st.toString());
  }

  std::string dir_;
  InstanceRecord rec_;
  ProcessRef agent_;
  std::unique_ptr<Imds> imds_;
  httplib::Server http_;
  std::thread http_thread_;
};

}  // namespace

std::vector<std::string> agentCommand(const std::string& berth_binary, const InstanceRecord& rec,
                                      const std::string& instance_dir) {
  const Instance& i = rec.instance;
  std::vector<std::string> argv = {berth_binary,
                                   "agent",
                                   "--user-data", instance_dir + "/user-data",
                                   "--node-name", i.id,
                                   "--zone", i.zone,
                                   "--region", i.region,
                                   "--instance-type", i.instance_type,
                                   "--runtime", rec.node_runtime.empty() ? "runc" : rec.node_runtime,
                                   "--root-dir", instance_dir + "/agent",
                                   "--provider-id", i.providerId("local"),
                                   "--cloud-metadata"};
  if (!i.private_ip.empty()) {
    argv.push_back("--node-ip");
    argv.push_back(i.private_ip);
  }
  argv.insert(argv.end(), rec.agent_args.begin(), rec.agent_args.end());
  return argv;
}

int runInstanceSupervisor(const std::string& instance_dir) {
  // Signals are taken with sigtimedwait; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Supervisor s(instance_dir);
  return s.run();
}

}  // namespace berth::cloud::local
