#include "networking/local/kernel_ops.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/strings.h"
#include "common/subprocess.h"

namespace berth::networking {

Status requireRoot() {
  if (::geteuid() != 0) return Status(Code::kForbidden, "the local network needs root (ip netns, nft)");
  return Status::ok();
}

Status ipIn(const std::string& ns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  if (!ns.empty()) argv.insert(argv.end(), {"-n", ns});
  argv.insert(argv.end(), args.begin(), args.end());
  return runChecked(argv).status();
}

Status ipHost(const std::vector<std::string>& args) { return ipIn("", args); }

Result<std::string> execIn(const std::string& ns, const std::vector<std::string>& argv,
                           const std::string& input) {
  std::vector<std::string> full;
  if (!ns.empty()) full = {"ip", "netns", "exec", ns};
  full.insert(full.end(), argv.begin(), argv.end());
  return runChecked(full, std::chrono::seconds(30), input);
}

std::vector<std::string> listNamespaces() {
  std::vector<std::string> out;
  DIR* d = ::opendir("/run/netns");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

bool namespaceExists(const std::string& ns) { return ::access(("/run/netns/" + ns).c_str(), F_OK) == 0; }

bool linkExists(const std::string& ns, const std::string& link) {
  if (!ns.empty() && !namespaceExists(ns)) return false;
  std::vector<std::string> argv = {"ip"};
  if (!ns.empty()) argv.insert(argv.end(), {"-n", ns});
  argv.insert(argv.end(), {"link", "show", "dev", link});
  auto r = runCommand(argv);
  return r.isOk() && r->exit_code == 0;
}

Status ensureNamespace(const std::string& ns) {
  if (!namespaceExists(ns)) {
    auto st = ipHost({"netns", "add", ns});
    if (!st.isOk() && !namespaceExists(ns)) return st;
  }
  return ipIn(ns, {"link", "set", "lo", "up"});
}

Status removeNamespace(const std::string& ns) {
  if (!namespaceExists(ns)) return Status::ok();
  // Processes keep a namespace alive after its name is gone: end them first.
  auto pids = runCommand({"ip", "netns", "pids", ns});
  if (pids.isOk())
    for (const std::string& p : split(pids->out, '\n'))
      if (!trim(p).empty()) killProcess(static_cast<pid_t>(std::stol(std::string(trim(p)))));
  return ipHost({"netns", "delete", ns});
}

Status ensureVeth(const std::string& ns_a, const std::string& a, const std::string& ns_b, const std::string& b) {
  if (linkExists(ns_a, a)) return Status::ok();
  if (linkExists(ns_b, b)) BERTH_RETURN_IF_ERROR(ipIn(ns_b, {"link", "del", b}));
  std::vector<std::string> args = {"link", "add", a};
  if (!ns_a.empty()) args.insert(args.end(), {"netns", ns_a});
  args.insert(args.end(), {"type", "veth", "peer", "name", b});
  if (!ns_b.empty()) args.insert(args.end(), {"netns", ns_b});
  return ipHost(args);
}

Status sysctlIn(const std::string& ns, const std::string& key, const std::string& value) {
  return execIn(ns, {"sysctl", "-qw", key + "=" + value}).status();
}

Status nftIn(const std::string& ns, const std::string& script) {
  return execIn(ns, {"nft", "-f", "-"}, script).status();
}

Status deleteNftTable(const std::string& ns, const std::string& name) {
  if (!ns.empty() && !namespaceExists(ns)) return Status::ok();
  std::vector<std::string> argv;
  if (!ns.empty()) argv = {"ip", "netns", "exec", ns};
  argv.insert(argv.end(), {"nft", "list", "table", "inet", name});
  auto r = runCommand(argv);
  if (!r.isOk() || r->exit_code != 0) return Status::ok();
  return execIn(ns, {"nft", "delete", "table", "inet", name}).status();
}

std::vector<std::string> hostLinksWithPrefix(const std::string& prefix) {
  std::vector<std::string> out;
  auto r = runCommand({"ip", "-o", "link", "show"});
  if (!r.isOk()) return out;
  for (const std::string& line : split(r->out, '\n')) {
    // "12: name@if3: <...>"
    std::vector<std::string> f = split(line, ':');
    if (f.size() < 2) continue;
    std::string name(trim(f[1]));
    name = name.substr(0, name.find('@'));
    if (startsWith(name, prefix)) out.push_back(name);
  }
  return out;
}

Result<std::vector<Ipv4Cidr>> hostRoutes() {
  BERTH_ASSIGN_OR_RETURN(std::string text, runChecked({"ip", "-4", "-o", "route", "show"}));
  std::vector<Ipv4Cidr> out;
  for (const std::string& line : split(text, '\n')) {
    std::string dst = split(std::string(trim(line)), ' ')[0];
    if (dst.empty() || dst == "default") continue;
    if (dst.find('/') == std::string::npos) dst += "/32";
    auto c = parseCidr(dst);
    if (c.isOk()) out.push_back(*c);
  }
  return out;
}

namespace {

// /proc/<pid>/net/tcp writes addresses as the in-memory (little-endian) word.
std::string procTcpAddress(const std::string& ip, int port) {
  auto a = parseIpv4(ip);
  uint32_t v = a.isOk() ? *a : 0;
  uint32_t le = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08X:%04X", le, port);
  return buf;
}

}  // namespace

bool waitListening(pid_t pid, const std::string& ip, int port, std::chrono::milliseconds timeout) {
  std::string want = procTcpAddress(ip, port), any = procTcpAddress("0.0.0.0", port);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds step(5);
  do {
    std::ifstream f("/proc/" + std::to_string(pid) + "/net/tcp");
    if (!f) return false;
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string slot, local, remote, state;
      ls >> slot >> local >> remote >> state;
      if (state == "0A" && (local == want || local == any)) return true;
    }
    // The process binds moments after it starts; nothing to wait on but the socket table.
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace berth::networking
