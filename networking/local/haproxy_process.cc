#include "networking/local/haproxy_process.h"

#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/subprocess.h"
#include "networking/local/kernel_ops.h"

namespace berth::networking {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);

// The parent pid in /proc/<pid>/stat ("pid (comm) S ppid ..."; comm may hold spaces).
pid_t parentOf(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return -1;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 1));
  std::string state;
  long ppid = -1;
  rest >> state >> ppid;
  return state == "Z" ? -1 : static_cast<pid_t>(ppid);
}

Status waitAllListening(pid_t pid, const HaproxyFiles& files,
                        const std::vector<std::pair<std::string, int>>& listen) {
  for (const auto& [ip, port] : listen)
    if (!waitListening(pid, ip, port, kStartTimeout))
      return Status(Code::kUnavailable, "haproxy does not listen on " + ip + ":" + std::to_string(port) +
                                            "; see " + files.log);
  return Status::ok();
}

}  // namespace

Status installHaproxyConfig(const HaproxyFiles& files, const std::string& text) {
  std::string tmp = files.config + ".new";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) return internalError("write " + tmp);
  }
  auto checked = runCommand({"haproxy", "-c", "-q", "-f", tmp});
  if (!checked.isOk() || checked->exit_code != 0) {
    std::string why = checked.isOk() ? checked->out : checked.status().message();
    std::remove(tmp.c_str());
    return internalError("haproxy refused the configuration of " + files.config + ": " + why);
  }
  if (std::rename(tmp.c_str(), files.config.c_str()) != 0)
    return internalError("rename " + tmp + ": " + std::strerror(errno));
  return Status::ok();
}

bool haproxyRunning(pid_t master, const HaproxyFiles& files) {
  return master > 0 && processMatches(master, "haproxy") && processMatches(master, files.config);
}

std::vector<pid_t> haproxyWorkers(pid_t master) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (parentOf(name) == master) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  ::closedir(d);
  return out;
}

Result<pid_t> startHaproxy(const std::string& netns, const HaproxyFiles& files,
                           const std::vector<std::pair<std::string, int>>& listen) {
  BERTH_ASSIGN_OR_RETURN(pid_t pid, spawnDetached({"ip", "netns", "exec", netns, "haproxy", "-W", "-f", files.config,
                                                   "-p", files.pidfile},
                                                  files.log));
  Status st = waitAllListening(pid, files, listen);
  if (!st.isOk()) {
    killProcess(pid);
    return st;
  }
  return pid;
}

Status reloadHaproxy(pid_t master, const HaproxyFiles& files,
                     const std::vector<std::pair<std::string, int>>& listen) {
  std::vector<pid_t> before = haproxyWorkers(master);
  std::set<pid_t> old(before.begin(), before.end());
  if (::kill(master, SIGUSR2) != 0)
    return internalError("signal haproxy master " + std::to_string(master) + ": " + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::chrono::milliseconds step(5);
  for (;;) {
    bool fresh = false;
    for (pid_t w : haproxyWorkers(master)) fresh = fresh || !old.count(w);
    if (fresh) break;
    if (std::chrono::steady_clock::now() > deadline)
      return Status(Code::kUnavailable, "haproxy master " + std::to_string(master) +
                                            " started no new worker after the reload; see " + files.log);
    // The master re-executes itself and forks the worker: only /proc shows when.
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(100));
  }
  return waitAllListening(master, files, listen);
}

}  // namespace berth::networking
