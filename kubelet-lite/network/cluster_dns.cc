#include "kubelet-lite/network/cluster_dns.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"
#include "kubelet-lite/network/ipv4.h"
#include "common/subprocess.h"

namespace berth::kubelet::net {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr char kDnsLink[] = "berth-dns0";

std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << data;
    if (!out) return internalError("writing " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return internalError("renaming " + tmp + ": " + std::strerror(errno));
  ::chmod(path.c_str(), 0644);  // dnsmasq reads it after dropping privileges
  return Status::ok();
}

bool isDnsmasq(pid_t pid) {
  std::string comm = readFile("/proc/" + std::to_string(pid) + "/comm");
  return comm.rfind("dnsmasq", 0) == 0;
}

void reap(pid_t pid) {
  if (pid <= 0) return;
  waitForExit(pid, std::chrono::seconds(5));
  ::waitpid(pid, nullptr, WNOHANG);
}

}  // namespace

std::string renderDnsHosts(const std::vector<json>& services, const std::vector<json>& slices,
                           const std::string& domain) {
  std::map<std::string, std::set<std::string>> ready;  // ns/service -> ready addresses
  for (const auto& s : slices) {
    const json& md = field(s, "metadata");
    std::string svc = str(field(md, "labels"), "kubernetes.io/service-name");
    if (svc.empty() || str(s, "addressType") != "IPv4") continue;
    auto& set = ready[str(md, "namespace") + "/" + svc];
    for (const auto& ep : field(s, "endpoints").is_array() ? field(s, "endpoints") : json::array()) {
      const json& r = field(field(ep, "conditions"), "ready");
      if (r.is_boolean() && !r.get<bool>()) continue;
      for (const auto& a : field(ep, "addresses").is_array() ? field(ep, "addresses") : json::array())
        if (a.is_string() && parseIpv4(a.get<std::string>()).isOk()) set.insert(a.get<std::string>());
    }
  }
  std::vector<std::string> lines;
  for (const auto& svc : services) {
    const json& md = field(svc, "metadata");
    const json& spec = field(svc, "spec");
    std::string ns = str(md, "namespace"), name = str(md, "name");
    if (ns.empty() || name.empty() || str(spec, "type") == "ExternalName") continue;
    std::string names = name + "." + ns + ".svc." + domain + " " + name + "." + ns + ".svc";
    std::string ip = str(spec, "clusterIP");
    if (ip == "None") {
      for (const auto& a : ready[ns + "/" + name]) lines.push_back(a + " " + names);
    } else if (parseIpv4(ip).isOk()) {
      lines.push_back(ip + " " + names);
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out = "# Cluster DNS records written by the berth agent.\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

ClusterDns::ClusterDns(client::Informer* services, client::Informer* slices, Options opts)
    : services_(services), slices_(slices), opts_(std::move(opts)) {
  struct stat st {};
  std::string ns = ::stat("/proc/self/ns/net", &st) == 0 ? std::to_string(st.st_ino) : "host";
  dir_ = opts_.lock_dir + "/" + ns;
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr&) { markDirty(); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { markDirty(); };
  h.on_delete = [this](const client::ObjectPtr&) { markDirty(); };
  services_->addEventHandlers(h);
  slices_->addEventHandlers(std::move(h));
}

ClusterDns::~ClusterDns() { stop(); }

void ClusterDns::start() { thread_ = std::thread([this] { loop(); }); }

bool ClusterDns::serving() const {
  std::lock_guard<std::mutex> l(mu_);
  return serving_;
}

void ClusterDns::markDirty() {
  {
    std::lock_guard<std::mutex> l(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

bool ClusterDns::acquire() {
  if (lock_fd_ < 0) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    lock_fd_ = ::open((dir_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return false;
  }
  return ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0;
}

Status ClusterDns::becomeServer() {
  // A dnsmasq of a holder that died without stopping it still owns the port.
  std::string old = readFile(dir_ + "/dnsmasq.pid");
  pid_t old_pid = old.empty() ? 0 : static_cast<pid_t>(std::atoi(old.c_str()));
  if (old_pid > 0 && isDnsmasq(old_pid)) {
    ::kill(old_pid, SIGTERM);
    waitForExit(old_pid, std::chrono::seconds(5));
  }
  if (!fs::exists(std::string("/sys/class/net/") + kDnsLink)) {
    auto r = runCommand({"ip", "link", "add", kDnsLink, "type", "dummy"});
    if (!r.isOk() || r->exit_code != 0) {
      // No dummy driver in this kernel: a bridge without ports carries a local address as well.
      auto b = runCommand({"ip", "link", "add", kDnsLink, "type", "bridge"});
      if (!b.isOk()) return b.status().withContext("creating " + std::string(kDnsLink));
      if (b->exit_code != 0) return internalError("creating " + std::string(kDnsLink) + ": " + b->out);
    }
  }
  link_ = kDnsLink;
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"ip", "addr", "replace", opts_.address + "/32", "dev", kDnsLink},
        std::vector<std::string>{"ip", "link", "set", kDnsLink, "up"}}) {
    auto r = runCommand(argv);
    if (!r.isOk()) return r.status();
    if (r->exit_code != 0) return internalError(join(argv, " ") + ": " + r->out);
  }
  bool changed = false;
  BERTH_RETURN_IF_ERROR(writeHosts(&changed));
  std::vector<std::string> argv = {
      opts_.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
      "--no-poll", "--bind-interfaces", "--listen-address=" + opts_.address,
      "--local=/" + opts_.domain + "/", "--addn-hosts=" + dir_ + "/hosts",
      "--pid-file=" + dir_ + "/dnsmasq.pid", "--cache-size=0", "--log-facility=" + dir_ + "/dnsmasq.log"};
  SpawnOptions so;
  so.new_session = true;
  BERTH_ASSIGN_OR_RETURN(pid_, spawn(argv, so));
  std::lock_guard<std::mutex> l(mu_);
  serving_ = true;
  BLOG(0, "cluster DNS serving").kv("address", opts_.address).kv("dnsmasqPid", pid_).kv("dir", dir_);
  return Status::ok();
}

Status ClusterDns::writeHosts(bool* changed) {
  std::vector<json> services, slices;
  for (const auto& s : services_->list()) services.push_back(*s);
  for (const auto& s : slices_->list()) slices.push_back(*s);
  std::string hosts = renderDnsHosts(services, slices, opts_.domain);
  *changed = hosts != hosts_;
  if (!*changed) return Status::ok();
  BERTH_RETURN_IF_ERROR(writeAtomic(dir_ + "/hosts", hosts));
  hosts_ = std::move(hosts);
  return Status::ok();
}

void ClusterDns::loop() {
  while (!services_->waitForSync(std::chrono::milliseconds(500)) ||
         !slices_->waitForSync(std::chrono::milliseconds(500))) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
  }
  // Waiting for the lock (another agent of this namespace serves) and watching our dnsmasq are
  // both checked every second; hosts changes wake the loop at once.
  for (;;) {
    if (!serving() && acquire()) {
      Status st = becomeServer();
      if (!st.isOk()) {
        BLOG_WARN("cluster DNS: starting dnsmasq failed").kv("err", st.toString());
        stopServer();
      }
    }
    if (serving() && pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      BLOG_WARN("cluster DNS: dnsmasq exited; restarting").kv("pid", pid_);
      pid_ = 0;
      stopServer();
      continue;
    }
    bool dirty = false, failed = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      std::swap(dirty, dirty_);
    }
    if (dirty && serving()) {
      bool changed = false;
      Status st = writeHosts(&changed);
      if (!st.isOk()) {
        BLOG_WARN("cluster DNS: writing hosts failed").kv("err", st.toString());
        failed = true;
      } else if (changed && pid_ > 0) {
        ::kill(pid_, SIGHUP);
        BLOG(4, "cluster DNS records reloaded").kv("dir", dir_);
      }
    }
    std::unique_lock<std::mutex> l(mu_);
    if (failed) cv_.wait_for(l, std::chrono::seconds(1), [&] { return stopping_; });
    else if (!dirty_) cv_.wait_for(l, std::chrono::seconds(1), [&] { return stopping_ || dirty_; });
    if (stopping_) return;
    dirty_ = dirty_ || failed;
  }
}

void ClusterDns::stopServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    reap(pid_);
    pid_ = 0;
  }
  if (!link_.empty()) {
    (void)runCommand({"ip", "link", "del", link_});
    link_.clear();
  }
  hosts_.clear();
  {
    std::lock_guard<std::mutex> l(mu_);
    serving_ = false;
    dirty_ = true;
  }
  if (lock_fd_ >= 0) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

void ClusterDns::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  stopServer();
}

}  // namespace berth::kubelet::net
