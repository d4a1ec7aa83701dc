#include "kubelet-lite/runtime/runc_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "kubelet-lite/images/blob_store.h"
#include "kubelet-lite/network/pod_network.h"
#include "kubelet-lite/runtime/dial.h"
#include "kubelet-lite/runtime/netlink.h"
#include "kubelet-lite/runtime/oci_spec.h"
#include "kubelet-lite/runtime/runc_exec.h"
#include "kubelet-lite/runtime/runc_shim.h"
#include "kubelet-lite/runtime/shim_io.h"

namespace berth::kubelet {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct RuncRuntime::Sandbox {
  SandboxStatus status;
  PodSandboxConfig config;
  std::string netns_name;  // empty for host network
  std::string cgroup_parent;
};

struct RuncRuntime::Container {
  std::string id, sandbox_id, name, image, image_id, image_ref_id, log_path, cgroups_path;
  std::string stdin_mode = "none";  // the shim's --stdin: none, open or once
  bool tty = false;                 // the shim's --tty
  Labels labels;
  TimePoint created_at{}, started_at{};
  pid_t shim_pid = 0;
  pid_t init_pid = 0;
  bool overlay = false;
  // Once learned (exit seen), kept so a later `runc delete` cannot lose it.
  std::optional<bool> oom_killed;
};

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << data;
    if (!out) return internalError("writing " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return internalError("renaming " + tmp + ": " + std::strerror(errno));
  return Status::ok();
}

std::string randomHex(size_t bytes) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rng() & 0xff;
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

int64_t msBetween(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::string timeString(TimePoint t) { return t == TimePoint{} ? "" : formatRfc3339Micro(t); }
TimePoint parseTime(const std::string& s) {
  TimePoint t{};
  if (!s.empty()) parseRfc3339(s, &t);
  return t;
}

}  // namespace

RuncRuntime::RuncRuntime(Options opts) : opts_(std::move(opts)) {
  if (opts_.image_root.empty()) opts_.image_root = opts_.root + "/images";
}

Result<std::unique_ptr<RuncRuntime>> RuncRuntime::create(Options opts) {
  if (opts.root.empty()) return invalid("runc runtime: a root directory is required");
  if (opts.shim_binary.empty()) return invalid("runc runtime: the shim binary (berth) is required");
  std::unique_ptr<RuncRuntime> rt(new RuncRuntime(std::move(opts)));
  BERTH_RETURN_IF_ERROR(rt->init());
  return rt;
}

RuncRuntime::~RuncRuntime() {
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t w = ::write(wake_fd_, &one, sizeof one);
    (void)w;
  }
  if (watcher_.joinable()) watcher_.join();
  for (auto& [fd, id] : watched_) ::close(fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::vector<std::string> RuncRuntime::runcArgs(std::initializer_list<std::string> args) const {
  std::vector<std::string> v = {opts_.runc, "--root", opts_.root + "/state"};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

std::string RuncRuntime::sandboxDir(const std::string& id) const {
  return opts_.root + "/sandboxes/" + id;
}
std::string RuncRuntime::containerDir(const std::string& id) const {
  return opts_.root + "/containers/" + id;
}

Status RuncRuntime::init() {
  auto v = runCommand({opts_.runc, "--version"}, std::chrono::seconds(10));
  if (!v.isOk() || v->exit_code != 0)
    return Status(Code::kUnavailable, "runc runtime: cannot run \"" + opts_.runc + " --version\"" +
                                          (v.isOk() ? ": " + v->out : ": " + v.status().message()));
  std::string first = v->out.substr(0, v->out.find('\n'));
  version_ = first.starts_with("runc version ") ? first.substr(13) : first;
  std::string small_shim = (fs::path(opts_.shim_binary).parent_path() / "berth-runc-shim").string();
  if (opts_.shim_binary.find('/') != std::string::npos && ::access(small_shim.c_str(), X_OK) == 0)
    shim_exe_ = small_shim;
  std::error_code ec;
  for (const char* d : {"/state", "/sandboxes", "/containers"}) {
    fs::create_directories(opts_.root + d, ec);
    if (ec) return internalError("creating " + opts_.root + d + ": " + ec.message());
  }
  images::ImageStore::Options io;
  io.root = opts_.image_root;
  io.default_registry = opts_.default_registry;
  io.insecure_registries = opts_.insecure_registries;
  io.registry_mirrors = opts_.registry_mirrors;
  images_ = std::make_unique<images::ImageStore>(io);
  BERTH_RETURN_IF_ERROR(images_->init());
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0)
    return internalError(std::string("epoll/eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  adopt();
  watcher_ = std::thread([this] { watchLoop(); });
  return Status::ok();
}

// ---- persistence and adoption ----

Status RuncRuntime::saveSandbox(const Sandbox& s) const {
  json j = {{"id", s.status.id},
            {"uid", s.config.uid},
            {"name", s.config.name},
            {"namespace", s.config.ns},
            {"hostname", s.config.hostname},
            {"hostNetwork", s.config.host_network},
            {"logDirectory", s.config.log_directory},
            {"labels", s.config.labels},
            {"netns", s.netns_name},
            {"cgroupParent", s.cgroup_parent},
            {"ready", s.status.state == SandboxState::kReady},
            {"ip", s.status.ip},
            {"createdAt", timeString(s.status.created_at)}};
  return writeFileAtomic(sandboxDir(s.status.id) + "/sandbox.json", j.dump(1));
}

Status RuncRuntime::saveContainer(const Container& c) const {
  json j = {{"id", c.id},
            {"sandboxId", c.sandbox_id},
            {"name", c.name},
            {"image", c.image},
            {"imageId", c.image_id},
            {"imageRefId", c.image_ref_id},
            {"logPath", c.log_path},
            {"cgroupsPath", c.cgroups_path},
            {"labels", c.labels},
            {"createdAt", timeString(c.created_at)},
            {"startedAt", timeString(c.started_at)},
            {"shimPid", c.shim_pid},
            {"initPid", c.init_pid},
            {"overlay", c.overlay},
            {"stdinMode", c.stdin_mode},
            {"tty", c.tty}};
  if (c.oom_killed) j["oomKilled"] = *c.oom_killed;
  return writeFileAtomic(containerDir(c.id) + "/meta.json", j.dump(1));
}

void RuncRuntime::adopt() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(opts_.root + "/sandboxes", ec)) {
    try {
      json j = json::parse(readFile(e.path() / "sandbox.json"));
      auto s = std::make_shared<Sandbox>();
      s->status.id = j.at("id");
      s->config.uid = j.value("uid", "");
      s->config.name = j.value("name", "");
      s->config.ns = j.value("namespace", "");
      s->config.hostname = j.value("hostname", "");
      s->config.host_network = j.value("hostNetwork", false);
      s->config.log_directory = j.value("logDirectory", "");
      s->config.labels = j.value("labels", Labels{});
      s->netns_name = j.value("netns", "");
      s->cgroup_parent = j.value("cgroupParent", "");
      s->status.labels = s->config.labels;
      s->status.ip = j.value("ip", "");
      s->status.created_at = parseTime(j.value("createdAt", ""));
      s->status.netns_path = s->netns_name.empty() ? "" : "/run/netns/" + s->netns_name;
      bool netns_ok = s->netns_name.empty() || fs::exists(s->status.netns_path);
      s->status.state =
          j.value("ready", false) && netns_ok ? SandboxState::kReady : SandboxState::kNotReady;
      sandboxes_[s->status.id] = s;
    } catch (const std::exception& ex) {
      BLOG_WARN("runc: unreadable sandbox record skipped")
          .kv("dir", e.path().string())
          .kv("error", ex.what());
    }
  }
  for (const auto& e : fs::directory_iterator(opts_.root + "/containers", ec)) {
    try {
      json j = json::parse(readFile(e.path() / "meta.json"));
      auto c = std::make_shared<Container>();
      c->id = j.at("id");
      c->sandbox_id = j.value("sandboxId", "");
      c->name = j.value("name", "");
      c->image = j.value("image", "");
      c->image_id = j.value("imageId", "");
      c->image_ref_id = j.value("imageRefId", "");
      c->log_path = j.value("logPath", "");
      c->cgroups_path = j.value("cgroupsPath", "");
      c->labels = j.value("labels", Labels{});
      c->created_at = parseTime(j.value("createdAt", ""));
      c->started_at = parseTime(j.value("startedAt", ""));
      c->shim_pid = j.value("shimPid", 0);
      c->init_pid = j.value("initPid", 0);
      c->overlay = j.value("overlay", false);
      c->stdin_mode = j.value("stdinMode", "none");
      c->tty = j.value("tty", false);
      if (j.contains("oomKilled")) c->oom_killed = j["oomKilled"].get<bool>();
      images_->acquire(c->image_id);
      containers_[c->id] = c;
      if (c->shim_pid > 0 && shimAlive(*c)) watchShim(c->id, c->shim_pid);
      BLOG(2, "runc: adopted container").kv("id", c->id).kv("name", c->name);
    } catch (const std::exception& ex) {
      // A container whose create died half-way: nothing to adopt.
      BLOG_WARN("runc: unreadable container record skipped")
          .kv("dir", e.path().string())
          .kv("error", ex.what());
    }
  }
}

Result<std::shared_ptr<RuncRuntime::Container>> RuncRuntime::findContainer(
    const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return notFound("container \"" + id + "\" not found");
  return it->second;
}

Result<std::shared_ptr<RuncRuntime::Sandbox>> RuncRuntime::findSandbox(
    const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return notFound("pod sandbox \"" + id + "\" not found");
  return it->second;
}

// ---- sandboxes ----

Status RuncRuntime::writeSandboxFiles(const Sandbox& s) {
  std::string dir = sandboxDir(s.status.id);
  std::string host = s.config.hostname.empty() ? s.config.name : s.config.hostname;
  BERTH_RETURN_IF_ERROR(writeFileAtomic(dir + "/hostname", host + "\n"));
  BERTH_RETURN_IF_ERROR(
      writeFileAtomic(dir + "/hosts",
                      "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                      "ip6-localhost ip6-loopback\n" +
                          (s.status.ip.empty() ? "127.0.0.1" : s.status.ip) + "\t" + host + "\n"));
  std::string resolv;
  if (s.config.dns) {
    const DnsConfig& d = *s.config.dns;
    for (const auto& ns : d.servers) resolv += "nameserver " + ns + "\n";
    if (!d.searches.empty()) resolv += "search " + join(d.searches, " ") + "\n";
    if (!d.options.empty()) resolv += "options " + join(d.options, " ") + "\n";
  } else {
    resolv = readFile("/etc/resolv.conf");
  }
  return writeFileAtomic(dir + "/resolv.conf", resolv);
}

Result<SandboxStatus> RuncRuntime::runPodSandbox(const PodSandboxConfig& config) {
  if (config.uid.empty()) return invalid("pod sandbox: the pod uid is required");
  // One sandbox per uid for this root; the id and namespace name are derived from both, so two
  // agents on one host never collide.
  std::string hash = images::Sha256::of(opts_.root + "/" + config.uid).substr(7, 12);
  std::string id = "pod-" + hash;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sandboxes_.find(id);
    if (it != sandboxes_.end() && it->second->status.state == SandboxState::kReady)
      return it->second->status;
  }
  auto s = std::make_shared<Sandbox>();
  s->config = config;
  s->status.id = id;
  s->status.labels = config.labels;
  s->status.created_at = std::chrono::system_clock::now();
  s->cgroup_parent = config.cgroup_parent.empty() ? opts_.cgroup_parent + "/pod" + config.uid
                                                  : config.cgroup_parent;
  std::error_code ec;
  fs::create_directories(sandboxDir(id), ec);
  if (ec) return internalError("creating " + sandboxDir(id) + ": " + ec.message());
  if (!config.host_network) {
    s->netns_name = "berth-" + hash;
    s->status.netns_path = "/run/netns/" + s->netns_name;
    bool fresh = !fs::exists(s->status.netns_path);
    auto netns_started = std::chrono::steady_clock::now();
    if (fresh) {
      // In-process (unshare + bind mount), loopback up; `ip netns add` was a process per pod.
      Status add = nl::createNamedNetns(s->netns_name);
      if (!add.isOk()) return add.withContext("creating the pod's network namespace");
    }
    auto network_started = std::chrono::steady_clock::now();
    BLOG(3, "timing: netns").kv("id", id).kv("ms", msBetween(netns_started, network_started));
    if (network_) {
      auto ip = network_->attach({id, s->netns_name, config.ns + "/" + config.name, fresh});
      if (!ip.isOk()) return ip.status().withContext("setting up the pod's network");
      s->status.ip = *ip;
      BLOG(3, "timing: network attach")
          .kv("id", id)
          .kv("ms", msBetween(network_started, std::chrono::steady_clock::now()));
    }
  }
  BERTH_RETURN_IF_ERROR(writeSandboxFiles(*s));
  s->status.state = SandboxState::kReady;
  BERTH_RETURN_IF_ERROR(saveSandbox(*s));
  std::lock_guard<std::mutex> l(mu_);
  sandboxes_[id] = s;
  BLOG(2, "runc: pod sandbox ready")
      .kv("pod", config.ns + "/" + config.name)
      .kv("id", id)
      .kv("netns", s->netns_name);
  return s->status;
}

Status RuncRuntime::stopPodSandbox(const std::string& sandbox_id) {
  BERTH_ASSIGN_OR_RETURN(auto s, findSandbox(sandbox_id));
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, c] : containers_)
      if (c->sandbox_id == sandbox_id) ids.push_back(id);
  }
  for (const std::string& id : ids)
    BERTH_RETURN_IF_ERROR(stopContainer(id, std::chrono::seconds(0)));
  if (network_ && !s->netns_name.empty())
    BERTH_RETURN_IF_ERROR(
        network_->detach(sandbox_id).withContext("tearing down the pod's network"));
  if (!s->netns_name.empty() && fs::exists("/run/netns/" + s->netns_name)) {
    Status del = nl::deleteNamedNetns(s->netns_name);
    if (!del.isOk()) return del.withContext("deleting the pod's network namespace");
  }
  std::lock_guard<std::mutex> l(mu_);
  s->status.state = SandboxState::kNotReady;
  return saveSandbox(*s);
}

Status RuncRuntime::removePodSandbox(const std::string& sandbox_id) {
  auto found = findSandbox(sandbox_id);
  if (!found.isOk()) return Status::ok();  // already gone
  BERTH_RETURN_IF_ERROR(stopPodSandbox(sandbox_id));
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, c] : containers_)
      if (c->sandbox_id == sandbox_id) ids.push_back(id);
  }
  for (const std::string& id : ids) BERTH_RETURN_IF_ERROR(removeContainer(id));
  // The pod's cgroup directories (runc removes only the containers').
  for (const char* ctl :
       {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
        "unified", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"})
    ::rmdir(("/sys/fs/cgroup/" + std::string(ctl) + "/" + (*found)->cgroup_parent).c_str());
  ::rmdir(("/sys/fs/cgroup/" + (*found)->cgroup_parent).c_str());
  if (network_ && !(*found)->netns_name.empty())
    BERTH_RETURN_IF_ERROR(network_->release(sandbox_id).withContext("releasing the pod's address"));
  std::error_code ec;
  fs::remove_all(sandboxDir(sandbox_id), ec);
  std::lock_guard<std::mutex> l(mu_);
  sandboxes_.erase(sandbox_id);
  return Status::ok();
}

Result<SandboxStatus> RuncRuntime::sandboxStatus(const std::string& sandbox_id) {
  BERTH_ASSIGN_OR_RETURN(auto s, findSandbox(sandbox_id));
  std::lock_guard<std::mutex> l(mu_);
  return s->status;
}

Result<std::vector<SandboxStatus>> RuncRuntime::listSandboxes() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<SandboxStatus> out;
  for (const auto& [id, s] : sandboxes_) out.push_back(s->status);
  return out;
}

// ---- images ----

Result<std::string> RuncRuntime::ensureImage(const ImageSpec& spec) {
  BERTH_ASSIGN_OR_RETURN(images::Keyring keyring, images::Keyring::parse(spec.docker_config_jsons));
  images::PullPolicy p = spec.policy == ImagePullPolicy::kAlways ? images::PullPolicy::kAlways
                         : spec.policy == ImagePullPolicy::kNever
                             ? images::PullPolicy::kNever
                             : images::PullPolicy::kIfNotPresent;
  auto img = images_->ensure(spec.reference, p, keyring);
  if (!img.isOk()) {
    if (spec.policy == ImagePullPolicy::kNever) return img.status();
    // Only kNever's "not present" may be NotFound: the agent reads NotFound as ErrImageNeverPull.
    const Status& st = img.status();
    return Status(st.code() == Code::kNotFound ? Code::kUnavailable : st.code(),
                  "failed to pull image \"" + spec.reference + "\": " + st.message());
  }
  return img->id;
}

Status RuncRuntime::garbageCollectImages() { return images_->garbageCollect().status(); }

// ---- containers ----

Status RuncRuntime::prepareRootfs(const std::string& image_rootfs, const std::string& dir,
                                  bool* overlay) {
  std::error_code ec;
  for (const char* d : {"/rootfs", "/upper", "/work"}) {
    fs::create_directories(dir + d, ec);
    if (ec) return internalError("creating " + dir + d + ": " + ec.message());
  }
  std::string opts =
      "lowerdir=" + image_rootfs + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
  if (::mount("overlay", (dir + "/rootfs").c_str(), "overlay", 0, opts.c_str()) == 0) {
    *overlay = true;
    return Status::ok();
  }
  BLOG(2, "runc: overlayfs unavailable, copying the image").kv("error", std::strerror(errno));
  *overlay = false;
  auto cp =
      runChecked({"cp", "-a", image_rootfs + "/.", dir + "/rootfs/"}, std::chrono::minutes(5));
  return cp.status();
}

Result<std::string> RuncRuntime::createContainer(const std::string& sandbox_id,
                                                 const ContainerConfig& config,
                                                 const PodSandboxConfig& sandbox_config) {
  BERTH_ASSIGN_OR_RETURN(auto sandbox, findSandbox(sandbox_id));
  auto image = images_->find(config.image_id.empty() ? config.image : config.image_id);
  if (!image) return notFound("image \"" + config.image + "\" is not present; ensureImage first");
  if (config.log_path.empty() || !config.log_path.starts_with("/"))
    return invalid("container \"" + config.name + "\": an absolute log path is required");

  auto c = std::make_shared<Container>();
  c->id = randomHex(16);
  c->sandbox_id = sandbox_id;
  c->name = config.name;
  c->image = config.image;
  c->image_id = image->id;
  c->image_ref_id = image->repo_digests.empty() ? image->id : image->repo_digests.front();
  c->log_path = config.log_path;
  c->labels = config.labels;
  c->cgroups_path = "/" + sandbox->cgroup_parent + "/" + c->id;
  c->created_at = std::chrono::system_clock::now();
  std::string dir = containerDir(c->id);

  auto fail = [&](Status st) {
    if (c->overlay) ::umount2((dir + "/rootfs").c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return st.withContext("container \"" + config.name + "\"");
  };
  std::error_code ec;
  fs::create_directories(fs::path(config.log_path).parent_path(), ec);
  if (Status st = prepareRootfs(image->rootfs, dir, &c->overlay); !st.isOk()) return fail(st);

  runc::OciSpecInput in;
  in.container = &config;
  in.image = &image->config;
  in.rootfs = dir + "/rootfs";
  in.hostname =
      sandbox_config.hostname.empty() ? sandbox->config.hostname : sandbox_config.hostname;
  if (in.hostname.empty()) in.hostname = sandbox->config.name;
  in.netns_path = sandbox->status.netns_path;
  in.cgroups_path = c->cgroups_path;
  std::string sdir = sandboxDir(sandbox_id);
  in.sandbox_files = {{sdir + "/hosts", "/etc/hosts", false},
                      {sdir + "/hostname", "/etc/hostname", false},
                      {sdir + "/resolv.conf", "/etc/resolv.conf", false}};
  auto spec = runc::buildOciSpec(in);
  if (!spec.isOk()) return fail(spec.status());
  if (Status st = writeFileAtomic(dir + "/config.json", spec->dump(1)); !st.isOk()) return fail(st);

  c->stdin_mode = !config.stdin ? "none" : config.stdin_once ? "once" : "open";
  c->tty = config.tty;
  images_->acquire(c->image_id);
  {
    std::lock_guard<std::mutex> l(mu_);
    containers_[c->id] = c;
    BERTH_RETURN_IF_ERROR(saveContainer(*c));
  }
  BLOG(2, "runc: container created")
      .kv("id", c->id)
      .kv("name", config.name)
      .kv("pod", sandbox->config.ns + "/" + sandbox->config.name);
  return c->id;
}

std::vector<std::string> RuncRuntime::shimArgv(const Container& c) const {
  std::vector<std::string> argv;
  if (shim_exe_.empty())
    argv = {opts_.shim_binary, "runc-shim"};
  else
    argv = {shim_exe_};
  argv.insert(argv.end(), {"--runc", opts_.runc, "--root", opts_.root + "/state", "--bundle",
                           containerDir(c.id), "--id", c.id, "--log", c.log_path, "--stdin",
                           c.stdin_mode, "--tty", c.tty ? "true" : "false"});
  return argv;
}

Status RuncRuntime::startContainer(const std::string& id) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(id));
  if (c->shim_pid > 0) return conflict("container \"" + c->name + "\" was started already");
  std::string dir = containerDir(id);
  // The process runs from inside `runc run` on, and a short one may have exited (its shim
  // recording finishedAt) before the shim reports: take the start time before.
  TimePoint started = std::chrono::system_clock::now();
  auto shim_started = std::chrono::steady_clock::now();
  // The shim runs `runc run --detach` and reports on descriptor 3.
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0)
    return internalError(std::string("pipe: ") + std::strerror(errno));
  SpawnOptions so;
  so.fd3 = ready[1];
  int shim_log =
      ::open((dir + "/shim.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  so.stdout_fd = shim_log;
  so.stderr_fd = shim_log;
  auto shim = spawn(shimArgv(*c), so);
  ::close(ready[1]);
  if (shim_log >= 0) ::close(shim_log);
  if (!shim.isOk()) {
    ::close(ready[0]);
    return shim.status().withContext("starting container \"" + c->name + "\"");
  }
  std::string line;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(ready[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) line.append(buf, static_cast<size_t>(n));
  ::close(ready[0]);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.starts_with("ok ")) {
    waitForExit(*shim, std::chrono::seconds(5));
    std::string why = line.starts_with("error ")
                          ? line.substr(6)
                          : "runc shim failed: " + line + readFile(dir + "/shim.log");
    runCommand(runcArgs({"delete", "--force", c->id}));
    return internalError(why).withContext("starting container \"" + c->name + "\"");
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    c->shim_pid = *shim;
    c->init_pid = std::atoi(line.c_str() + 3);
    c->started_at = started;
    BERTH_RETURN_IF_ERROR(saveContainer(*c));
  }
  watchShim(c->id, c->shim_pid);
  BLOG(3, "timing: shim + runc run")
      .kv("id", c->id)
      .kv("ms", msBetween(shim_started, std::chrono::steady_clock::now()));
  return Status::ok();
}

Result<int> RuncRuntime::attachStdin(const std::string& id) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(id));
  return attachShimStdin(containerDir(id), c->name);
}

Result<int> RuncRuntime::attachTerminal(const std::string& id) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(id));
  return attachShimTerminal(containerDir(id), c->name);
}

bool RuncRuntime::shimAlive(const Container& c) const {
  if (c.shim_pid <= 0) return false;
  // The pid could have been reused after a reboot or a long downtime: check it is our shim.
  std::string cmdline = readFile("/proc/" + std::to_string(c.shim_pid) + "/cmdline");
  return cmdline.find("runc-shim") != std::string::npos && cmdline.find(c.id) != std::string::npos;
}

Status RuncRuntime::stopContainer(const std::string& id, std::chrono::seconds grace) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(id));
  if (fs::exists(containerDir(id) + "/exit.json") || !shimAlive(*c)) return Status::ok();
  if (grace.count() > 0) {
    runCommand(runcArgs({"kill", id, "TERM"}));
    if (waitForExit(c->shim_pid, grace)) return Status::ok();
    BLOG(2, "runc: grace period over, killing").kv("id", id).kv("name", c->name);
  }
  runCommand(runcArgs({"kill", id, "KILL"}));
  if (!waitForExit(c->shim_pid, std::chrono::seconds(10)))
    return Status(Code::kTimeout, "container \"" + c->name + "\" did not exit after SIGKILL");
  return Status::ok();
}

bool RuncRuntime::oomKilled(const Container& c) const {
  auto counter = [](const std::string& file, const std::string& key) -> int64_t {
    std::ifstream in(file);
    std::string k;
    int64_t v;
    while (in >> k >> v)
      if (k == key) return v;
    return 0;
  };
  return counter("/sys/fs/cgroup/memory" + c.cgroups_path + "/memory.oom_control", "oom_kill") >
             0 ||
         counter("/sys/fs/cgroup" + c.cgroups_path + "/memory.events", "oom_kill") > 0;
}

ContainerStatus RuncRuntime::statusOf(Container& c) {
  ContainerStatus s;
  s.id = c.id;
  s.sandbox_id = c.sandbox_id;
  s.name = c.name;
  s.created_at = c.created_at;
  s.started_at = c.started_at;
  s.image = c.image;
  s.image_id = c.image_ref_id;
  s.log_path = c.log_path;
  s.labels = c.labels;
  std::string exit_text = readFile(containerDir(c.id) + "/exit.json");
  if (!exit_text.empty()) {
    json j = json::parse(exit_text, nullptr, false);
    s.state = ContainerState::kExited;
    s.exit_code = j.is_object() ? j.value("exitCode", -1) : -1;
    s.finished_at = parseTime(j.is_object() ? j.value("finishedAt", "") : "");
    if (!c.oom_killed) {
      c.oom_killed = oomKilled(c);
      (void)saveContainer(c);
    }
    s.reason = *c.oom_killed ? "OOMKilled" : s.exit_code == 0 ? "Completed" : "Error";
    return s;
  }
  if (shimAlive(c)) {
    s.state = c.started_at == TimePoint{} ? ContainerState::kCreated : ContainerState::kRunning;
    return s;
  }
  // The shim is gone without recording an exit (killed, or the host rebooted).
  s.state = c.started_at == TimePoint{} ? ContainerState::kCreated : ContainerState::kExited;
  if (s.state == ContainerState::kExited) {
    s.exit_code = 255;
    s.reason = "Error";
    s.message = "the container's runc shim ended without recording an exit status";
  }
  return s;
}

Result<ContainerStatus> RuncRuntime::containerStatus(const std::string& id) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(id));
  std::lock_guard<std::mutex> l(mu_);
  return statusOf(*c);
}

Result<std::vector<ContainerStatus>> RuncRuntime::listContainers() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ContainerStatus> out;
  for (auto& [id, c] : containers_) out.push_back(statusOf(*c));
  return out;
}

Status RuncRuntime::removeContainer(const std::string& id) {
  auto found = findContainer(id);
  if (!found.isOk()) return Status::ok();
  auto c = *found;
  BERTH_RETURN_IF_ERROR(stopContainer(id, std::chrono::seconds(0)));
  {
    std::lock_guard<std::mutex> l(mu_);
    statusOf(*c);  // records OOMKilled before the cgroup goes
  }
  auto del = runCommand(runcArgs({"delete", "--force", id}));
  if (del.isOk() && del->exit_code != 0 && del->out.find("does not exist") == std::string::npos)
    return internalError("runc delete " + id + ": " + del->out);
  std::string dir = containerDir(id);
  if (c->overlay && ::umount2((dir + "/rootfs").c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
      errno != ENOENT)
    return internalError("unmounting " + dir + "/rootfs: " + std::strerror(errno));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return internalError("removing " + dir + ": " + ec.message());
  images_->release(c->image_id);
  std::lock_guard<std::mutex> l(mu_);
  containers_.erase(id);
  return Status::ok();
}

// ---- exit events ----

void RuncRuntime::setEventHandler(ContainerEventHandler handler) {
  std::lock_guard<std::mutex> l(mu_);
  handler_ = std::move(handler);
}

void RuncRuntime::watchShim(const std::string& id, pid_t shim_pid) {
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, shim_pid, 0));
  if (pfd < 0) return;
  std::lock_guard<std::mutex> l(mu_);
  watched_[pfd] = id;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = pfd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pfd, &ev);
}

void RuncRuntime::watchLoop() {
  epoll_event evs[16];
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, evs, 16, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == wake_fd_) return;
      ContainerEvent ev;
      ContainerEventHandler handler;
      {
        std::lock_guard<std::mutex> l(mu_);
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        ev.container_id = it->second;
        watched_.erase(it);
        auto c = containers_.find(ev.container_id);
        if (c == containers_.end()) continue;
        ::waitpid(c->second->shim_pid, nullptr, WNOHANG);  // our child unless adopted
        auto pod = c->second->labels.find(kLabelPodUid);
        if (pod != c->second->labels.end()) ev.pod_uid = pod->second;
        ev.state = statusOf(*c->second).state;
        handler = handler_;
      }
      BLOG(4, "runc: container exited").kv("id", ev.container_id);
      if (handler) handler(ev);
    }
  }
}

// ---- exec and port-forward ----

Result<std::unique_ptr<ExecProcess>> RuncRuntime::exec(const ExecRequest& request) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(request.container_id));
  if (request.command.empty()) return invalid("exec: a command is required");
  std::vector<std::string> argv = runcArgs({"exec"});
  std::string base = containerDir(c->id) + "/exec-" + randomHex(6);
  std::string pid_file = base + ".pid";
  if (request.tty) {
    // The container's process with our command, a terminal and its size, given to runc as
    // --process: runc sizes the terminal it makes before the command starts. With `-t` alone
    // runc copies the size only after the start, and a quick `stty size` could still read 0 0.
    auto config = json::parse(readFile(containerDir(c->id) + "/config.json"), nullptr, false);
    if (config.is_discarded() || !config.contains("process")) {
      return internalError("exec: the container's config.json cannot be read");
    }
    json process = std::move(config["process"]);
    process["args"] = request.command;
    process["terminal"] = true;
    if (request.initial_size) {
      process["consoleSize"] = {{"height", request.initial_size->height},
                                {"width", request.initial_size->width}};
    }
    std::string process_file = base + ".process.json";
    BERTH_RETURN_IF_ERROR(writeFileAtomic(process_file, process.dump()));
    argv.insert(argv.end(), {"--process", process_file, "--pid-file", pid_file, c->id});
    return runc::startExec(argv, pid_file, request, process_file);
  }
  argv.insert(argv.end(), {"--pid-file", pid_file, c->id});
  argv.insert(argv.end(), request.command.begin(), request.command.end());
  return runc::startExec(argv, pid_file, request);
}

Result<ExecSyncResult> RuncRuntime::execSync(const std::string& container_id,
                                             const std::vector<std::string>& command,
                                             std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(auto c, findContainer(container_id));
  std::string pid_file = containerDir(c->id) + "/exec-" + randomHex(6) + ".pid";
  std::vector<std::string> argv = runcArgs({"exec", "--pid-file", pid_file, c->id});
  argv.insert(argv.end(), command.begin(), command.end());
  auto r = runCommand(argv, timeout);
  ExecSyncResult out;
  if (!r.isOk() && r.status().code() == Code::kTimeout) {
    int pid = std::atoi(readFile(pid_file).c_str());
    if (pid > 0) ::kill(pid, SIGKILL);
    out.timed_out = true;
    out.exit_code = 137;
  } else if (!r.isOk()) {
    ::unlink(pid_file.c_str());
    return r.status();
  } else {
    out.exit_code = r->exit_code;
    out.output = r->out.size() > (1u << 20) ? r->out.substr(0, 1u << 20) : r->out;
  }
  ::unlink(pid_file.c_str());
  return out;
}

namespace {

// A TCP socket made in the network namespace at `netns` (the agent's own when empty). setns
// changes only the calling thread's namespace, so a short-lived thread does it and the agent's
// threads stay where they are; the socket keeps the namespace it was made in.
Result<int> socketIn(const std::string& netns) {
  auto task = std::async(std::launch::async, [netns]() -> Result<int> {
    if (!netns.empty()) {
      int nfd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
      if (nfd < 0) return internalError("opening " + netns + ": " + std::strerror(errno));
      int rc = ::setns(nfd, CLONE_NEWNET);
      ::close(nfd);
      if (rc != 0)
        return internalError(std::string("joining the pod network namespace: ") +
                             std::strerror(errno));
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return internalError(std::string("socket: ") + std::strerror(errno));
    return fd;
  });
  return task.get();
}

}  // namespace

Result<int> RuncRuntime::portForward(const std::string& sandbox_id, int port) {
  BERTH_ASSIGN_OR_RETURN(auto s, findSandbox(sandbox_id));
  if (port <= 0 || port > 65535)
    return invalid("port-forward: invalid port " + std::to_string(port));
  BERTH_ASSIGN_OR_RETURN(int fd, socketIn(s->status.netns_path));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Status(Code::kUnavailable,
                  "connecting to port " + std::to_string(port) + " in the pod: " + err);
  }
  return fd;
}

Result<int> RuncRuntime::dialPod(const std::string& sandbox_id, int port,
                                 std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(auto s, findSandbox(sandbox_id));
  std::string ip = s->status.ip.empty() ? "127.0.0.1" : s->status.ip;
  BERTH_ASSIGN_OR_RETURN(int fd, socketIn(s->status.netns_path));
  Status st = connectWithin(fd, ip, port, timeout);
  if (!st.isOk()) {
    ::close(fd);
    return st;
  }
  return fd;
}

}  // namespace berth::kubelet
