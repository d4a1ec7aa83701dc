#include "kubelet-lite/runtime/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

namespace berth::kubelet::nl {
namespace {

constexpr char kNetnsDir[] = "/run/netns";

std::string errnoText(int e) { return std::strerror(e); }

// Appends `len` bytes at `data`, padded to the netlink alignment.
void appendAligned(std::string& msg, const void* data, size_t len) {
  msg.append(static_cast<const char*>(data), len);
  msg.append(NLMSG_ALIGN(len) - len, '\0');
}

void addAttr(std::string& msg, uint16_t type, const void* data, size_t len) {
  rtattr a{};
  a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  a.rta_type = type;
  appendAligned(msg, &a, sizeof a);
  size_t at = msg.size();
  appendAligned(msg, data, len);
  msg.resize(at + RTA_ALIGN(len));
}

void addString(std::string& msg, uint16_t type, const std::string& s) { addAttr(msg, type, s.c_str(), s.size() + 1); }
void addU32(std::string& msg, uint16_t type, uint32_t v) { addAttr(msg, type, &v, sizeof v); }

// Opens a nested attribute; closeNest() fills in its length.
size_t openNest(std::string& msg, uint16_t type) {
  size_t at = msg.size();
  rtattr a{};
  a.rta_type = type | NLA_F_NESTED;
  appendAligned(msg, &a, sizeof a);
  return at;
}
void closeNest(std::string& msg, size_t at) {
  auto* a = reinterpret_cast<rtattr*>(msg.data() + at);
  a->rta_len = static_cast<unsigned short>(msg.size() - at);
}

// A request: header (length filled in by transact) plus the family header `hdr`.
template <typename T>
std::string request(uint16_t type, uint16_t flags, const T& hdr) {
  std::string msg;
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  appendAligned(msg, &h, sizeof h);
  appendAligned(msg, &hdr, sizeof hdr);
  return msg;
}

Result<in_addr> parseIpv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return invalid("not an IPv4 address: \"" + s + "\"");
  return a;
}

// /run/netns as a shared mount point, so namespaces bound under it are seen by every mount
// namespace that shares it (what `ip netns add` does).
Status ensureNetnsDir() {
  if (::mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST)
    return internalError(std::string("creating ") + kNetnsDir + ": " + errnoText(errno));
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return Status::ok();
    if (errno != EINVAL || attempt > 0)
      return internalError(std::string("making ") + kNetnsDir + " a shared mount: " + errnoText(errno));
    // Not a mount point yet: bind it onto itself first.
    if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0)
      return internalError(std::string("bind-mounting ") + kNetnsDir + ": " + errnoText(errno));
  }
  return Status::ok();
}

}  // namespace

Result<RouteNetlink> RouteNetlink::open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return internalError("netlink socket: " + errnoText(errno));
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    return internalError("binding the netlink socket: " + errnoText(e));
  }
  timeval tv{5, 0};  // a kernel that never acks must not hang a pod worker
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return RouteNetlink(fd);
}

RouteNetlink::~RouteNetlink() {
  if (fd_ >= 0) ::close(fd_);
}

Status RouteNetlink::transact(std::string& msg, const std::string& what) {
  auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
  h->nlmsg_len = static_cast<uint32_t>(msg.size());
  h->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return internalError(what + ": netlink send: " + errnoText(errno));
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return internalError(what + ": netlink receive: " + errnoText(errno));
    int len = static_cast<int>(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != seq_ || r->nlmsg_type != NLMSG_ERROR) continue;
      int err = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(r))->error;
      if (err == 0) return Status::ok();
      Code code = err == -EEXIST ? Code::kAlreadyExists : err == -ENODEV ? Code::kNotFound : Code::kInternal;
      return Status(code, what + ": " + errnoText(-err));
    }
  }
}

Result<int> RouteNetlink::linkIndex(const std::string& name) {
  // if_nametoindex asks through a socket of the calling thread's namespace; ask this one instead.
  std::string msg = request(RTM_GETLINK, 0, ifinfomsg{});
  addString(msg, IFLA_IFNAME, name);
  auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
  h->nlmsg_flags = NLM_F_REQUEST;
  h->nlmsg_len = static_cast<uint32_t>(msg.size());
  h->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return internalError("looking up link " + name + ": " + errnoText(errno));
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return internalError("looking up link " + name + ": " + errnoText(errno));
    int len = static_cast<int>(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != seq_) continue;
      if (r->nlmsg_type == RTM_NEWLINK) return reinterpret_cast<ifinfomsg*>(NLMSG_DATA(r))->ifi_index;
      if (r->nlmsg_type == NLMSG_ERROR) {
        int err = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(r))->error;
        if (err == -ENODEV) return notFound("no link named " + name);
        return internalError("looking up link " + name + ": " + errnoText(-err));
      }
    }
  }
}

Status RouteNetlink::addVeth(const std::string& name, const std::string& peer, int peer_netns_fd) {
  std::string msg = request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg{});
  addString(msg, IFLA_IFNAME, name);
  size_t info = openNest(msg, IFLA_LINKINFO);
  addString(msg, IFLA_INFO_KIND, "veth");
  size_t data = openNest(msg, IFLA_INFO_DATA);
  size_t peer_at = openNest(msg, VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  appendAligned(msg, &peer_ifi, sizeof peer_ifi);
  addString(msg, IFLA_IFNAME, peer);
  addU32(msg, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  closeNest(msg, peer_at);
  closeNest(msg, data);
  closeNest(msg, info);
  return transact(msg, "creating veth " + name);
}

Status RouteNetlink::setMaster(int index, int master_index) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  std::string msg = request(RTM_NEWLINK, 0, ifi);
  addU32(msg, IFLA_MASTER, static_cast<uint32_t>(master_index));
  return transact(msg, "attaching link " + std::to_string(index) + " to its bridge");
}

Status RouteNetlink::setHairpin(int index) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = index;
  std::string msg = request(RTM_SETLINK, 0, ifi);
  size_t nest = openNest(msg, IFLA_PROTINFO);
  uint8_t on = 1;
  addAttr(msg, IFLA_BRPORT_MODE, &on, sizeof on);
  closeNest(msg, nest);
  return transact(msg, "turning hairpin mode on for link " + std::to_string(index));
}

Status RouteNetlink::setUp(int index) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  std::string msg = request(RTM_NEWLINK, 0, ifi);
  return transact(msg, "bringing link " + std::to_string(index) + " up");
}

Status RouteNetlink::deleteLink(int index) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  std::string msg = request(RTM_DELLINK, 0, ifi);
  return transact(msg, "deleting link " + std::to_string(index));
}

Status RouteNetlink::addAddress(int index, const std::string& ipv4, int prefix) {
  BERTH_ASSIGN_OR_RETURN(in_addr a, parseIpv4(ipv4));
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa.ifa_index = static_cast<unsigned>(index);
  std::string msg = request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifa);
  addAttr(msg, IFA_LOCAL, &a, sizeof a);
  addAttr(msg, IFA_ADDRESS, &a, sizeof a);
  return transact(msg, "adding address " + ipv4 + "/" + std::to_string(prefix));
}

Status RouteNetlink::replaceDefaultRoute(const std::string& gateway, int index) {
  BERTH_ASSIGN_OR_RETURN(in_addr gw, parseIpv4(gateway));
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  std::string msg = request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, rt);
  addAttr(msg, RTA_GATEWAY, &gw, sizeof gw);
  addU32(msg, RTA_OIF, static_cast<uint32_t>(index));
  return transact(msg, "setting the default route via " + gateway);
}

Status runInNetns(const std::string& netns_path, const std::function<Status()>& fn) {
  auto task = std::async(std::launch::async, [&]() -> Status {
    int nfd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0) return internalError("opening " + netns_path + ": " + errnoText(errno));
    int rc = ::setns(nfd, CLONE_NEWNET);
    int e = errno;
    ::close(nfd);
    if (rc != 0) return internalError("joining network namespace " + netns_path + ": " + errnoText(e));
    return fn();
  });
  return task.get();
}

Status createNamedNetns(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return invalid("invalid network namespace name \"" + name + "\"");
  BERTH_RETURN_IF_ERROR(ensureNetnsDir());
  std::string path = std::string(kNetnsDir) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) return alreadyExists("network namespace " + name + " exists");
    return internalError("creating " + path + ": " + errnoText(errno));
  }
  ::close(fd);
  // unshare() gives only the calling thread the new namespace: a thread of its own does it,
  // pins the namespace with a bind mount and brings loopback up from inside.
  auto task = std::async(std::launch::async, [&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return internalError("unshare(CLONE_NEWNET): " + errnoText(errno));
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
      return internalError("bind-mounting the new network namespace on " + path + ": " + errnoText(errno));
    BERTH_ASSIGN_OR_RETURN(RouteNetlink nl, RouteNetlink::open());
    BERTH_ASSIGN_OR_RETURN(int lo, nl.linkIndex("lo"));
    return nl.setUp(lo);
  });
  Status st = task.get();
  if (!st.isOk()) {
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    return st.withContext("creating network namespace " + name);
  }
  return Status::ok();
}

Status deleteNamedNetns(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos)
    return invalid("invalid network namespace name \"" + name + "\"");
  std::string path = std::string(kNetnsDir) + "/" + name;
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return internalError("unmounting " + path + ": " + errnoText(errno));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return internalError("removing " + path + ": " + errnoText(errno));
  return Status::ok();
}

}  // namespace berth::kubelet::nl
