#include "kubelet-lite/runtime/oci_spec.h"

#include <fstream>
#include <map>

#include "common/strings.h"

namespace berth::kubelet::runc {

using json = nlohmann::json;

namespace {

const std::vector<std::string> kCapabilities = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",     "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

bool allDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Looks `name` up in a passwd/group style file: returns field 2 (the id) and, for passwd,
// field 3 (the primary gid).
bool lookup(const std::string& file, const std::string& name, int64_t* id, int64_t* gid) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = split(line, ':');
    if (f.size() < 3 || f[0] != name || !allDigits(f[2])) continue;
    *id = std::stoll(f[2]);
    if (gid && f.size() > 3 && allDigits(f[3])) *gid = std::stoll(f[3]);
    return true;
  }
  return false;
}

json mount(const std::string& dest, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

Result<std::vector<std::string>> containerArgs(const ContainerConfig& c, const images::ImageConfig& image) {
  std::vector<std::string> argv;
  if (!c.command.empty()) {
    argv = c.command;
    argv.insert(argv.end(), c.args.begin(), c.args.end());
  } else {
    argv = image.entrypoint;
    const auto& tail = c.args.empty() ? image.cmd : c.args;
    argv.insert(argv.end(), tail.begin(), tail.end());
  }
  if (argv.empty())
    return invalid("container \"" + c.name + "\": no command specified (the image has no Entrypoint or Cmd)");
  return argv;
}

Result<std::pair<int64_t, int64_t>> containerUser(const ContainerConfig& c, const images::ImageConfig& image,
                                                  const std::string& rootfs) {
  int64_t uid = 0, gid = 0;
  if (!image.user.empty()) {
    std::string u = image.user, g;
    if (size_t colon = u.find(':'); colon != std::string::npos) {
      g = u.substr(colon + 1);
      u = u.substr(0, colon);
    }
    if (allDigits(u)) {
      uid = std::stoll(u);
    } else if (!lookup(rootfs + "/etc/passwd", u, &uid, &gid)) {
      return invalid("image user \"" + u + "\" is not in the image's /etc/passwd");
    }
    if (!g.empty()) {
      if (allDigits(g)) gid = std::stoll(g);
      else if (!lookup(rootfs + "/etc/group", g, &gid, nullptr))
        return invalid("image group \"" + g + "\" is not in the image's /etc/group");
    }
  }
  if (c.run_as_user) {
    uid = *c.run_as_user;
    if (!c.run_as_group) gid = 0;
  }
  if (c.run_as_group) gid = *c.run_as_group;
  if (uid < 0 || gid < 0) return invalid("user and group ids must not be negative");
  return std::make_pair(uid, gid);
}

Result<json> buildOciSpec(const OciSpecInput& in) {
  const ContainerConfig& c = *in.container;
  const images::ImageConfig& image = *in.image;
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> args, containerArgs(c, image));
  BERTH_ASSIGN_OR_RETURN(auto user, containerUser(c, image, in.rootfs));

  // Image env first, then the container's, each key once at its first position.
  std::vector<std::string> order;
  std::map<std::string, std::string> env;
  auto set = [&](const std::string& k, const std::string& v) {
    if (!env.count(k)) order.push_back(k);
    env[k] = v;
  };
  for (const std::string& kv : image.env) {
    size_t eq = kv.find('=');
    set(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
  }
  if (!env.count("PATH")) set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  set("HOSTNAME", in.hostname);
  for (const auto& [k, v] : c.env) set(k, v);
  std::vector<std::string> envv;
  for (const std::string& k : order) envv.push_back(k + "=" + env[k]);

  std::string cwd = !c.working_dir.empty() ? c.working_dir : !image.working_dir.empty() ? image.working_dir : "/";
  if (!cwd.starts_with("/")) return invalid("container \"" + c.name + "\": workingDir must be absolute");

  json caps = kCapabilities;
  json process = {
      {"terminal", c.tty},
      {"user", {{"uid", user.first}, {"gid", user.second}}},
      {"args", args},
      {"env", envv},
      {"cwd", cwd},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"noNewPrivileges", false},
  };

  json mounts = json::array({
      mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
  });
  for (const Mount& m : in.sandbox_files)
    mounts.push_back(mount(m.container_path, "bind", m.host_path, {"rbind", m.read_only ? "ro" : "rw"}));
  for (const Mount& m : c.mounts) {
    if (!m.container_path.starts_with("/"))
      return invalid("container \"" + c.name + "\": mount path \"" + m.container_path + "\" must be absolute");
    mounts.push_back(mount(m.container_path, "bind", m.host_path, {"rbind", "rprivate", m.read_only ? "ro" : "rw"}));
  }

  json namespaces = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (!in.netns_path.empty()) namespaces.push_back({{"type", "network"}, {"path", in.netns_path}});

  json resources = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  if (c.memory_limit_bytes > 0) resources["memory"] = {{"limit", c.memory_limit_bytes}};
  json cpu = json::object();
  if (c.cpu_limit_millis > 0) {
    constexpr int64_t kPeriod = 100000;
    cpu["period"] = kPeriod;
    cpu["quota"] = std::max<int64_t>(1000, c.cpu_limit_millis * kPeriod / 1000);
  }
  if (c.cpu_request_millis > 0) cpu["shares"] = std::max<int64_t>(2, c.cpu_request_millis * 1024 / 1000);
  if (!cpu.empty()) resources["cpu"] = cpu;

  json spec = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", in.rootfs}, {"readonly", false}}},
      {"hostname", in.hostname},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", namespaces},
        {"cgroupsPath", in.cgroups_path},
        {"resources", resources},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
  return spec;
}

}  // namespace berth::kubelet::runc
