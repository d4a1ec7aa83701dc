#include "kubelet-lite/runtime/shim_io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace berth::kubelet {
namespace {

// sockaddr_un for `dir`/`name` through the O_PATH descriptor `dfd`.
sockaddr_un shimAddress(int dfd, const char* name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dfd, name);
  return addr;
}

}  // namespace

int listenShimSocket(const std::string& dir, const char* name, std::string* err) {
  int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (dfd < 0 || s < 0) {
    *err = std::string(name) + ": " + std::strerror(errno);
    if (dfd >= 0) ::close(dfd);
    if (s >= 0) ::close(s);
    return -1;
  }
  sockaddr_un addr = shimAddress(dfd, name);
  ::unlink(addr.sun_path);
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 8) != 0) {
    *err = std::string(name) + ": " + std::strerror(errno);
    ::close(s);
    s = -1;
  }
  ::close(dfd);
  return s;
}

Result<int> connectShimSocket(const std::string& dir, const char* name) {
  int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return notFound(dir + ": " + std::strerror(errno));
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    ::close(dfd);
    return internalError(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_un addr = shimAddress(dfd, name);
  int rc = ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int saved = errno;
  ::close(dfd);
  if (rc != 0) {
    ::close(s);
    return Status(saved == ENOENT ? Code::kNotFound : Code::kUnavailable,
                  std::string(name) + ": " + std::strerror(saved));
  }
  return s;
}

Status openTerminalPair(int* master, int* slave) {
  int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  char name[128];
  if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0 || ::ptsname_r(m, name, sizeof name) != 0) {
    std::string e = std::strerror(errno);
    if (m >= 0) ::close(m);
    return internalError("allocating a pseudo-terminal: " + e);
  }
  int s = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    std::string e = std::strerror(errno);
    ::close(m);
    return internalError(std::string("opening ") + name + ": " + e);
  }
  *master = m;
  *slave = s;
  return Status::ok();
}

bool sendFd(int sock, int fd) {
  char byte = 't';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

Result<int> receiveFd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return internalError(std::string("receiving a descriptor: ") + std::strerror(errno));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
  }
  return internalError("the peer sent no descriptor");
}

Result<int> attachShimStdin(const std::string& dir, const std::string& container) {
  auto s = connectShimSocket(dir, kAttachSocketName);
  if (s.isOk()) return s;
  if (s.status().code() == Code::kNotFound && ::access((dir + "/" + kAttachSocketName).c_str(), F_OK) != 0 &&
      ::access(dir.c_str(), F_OK) == 0)
    return badRequest("container " + container +
                      " was not started with stdin: true (attach without -i to follow its output)");
  return badRequest("container " + container + "'s stdin is closed (" + s.status().message() + ")");
}

Result<int> attachShimTerminal(const std::string& dir, const std::string& container) {
  auto s = connectShimSocket(dir, kTtySocketName);
  if (!s.isOk())
    return Status(Code::kNotFound, "container " + container + " has no terminal (tty: true): " + s.status().message());
  auto fd = receiveFd(*s);
  ::close(*s);
  return fd;
}

// ---- AttachServer ----

AttachServer::AttachServer(Options o) : o_(o) {
  if (o_.target >= 0) ::fcntl(o_.target, F_SETFL, ::fcntl(o_.target, F_GETFL) | O_NONBLOCK);
}

void AttachServer::fill(std::vector<pollfd>* fds) const {
  if (o_.attach_listen >= 0) fds->push_back({o_.attach_listen, POLLIN, 0});
  if (o_.tty_listen >= 0) fds->push_back({o_.tty_listen, POLLIN, 0});
  if (o_.target >= 0 && !pending_.empty()) fds->push_back({o_.target, POLLOUT, 0});
  if (o_.target >= 0 && pending_.empty())
    for (int c : clients_) fds->push_back({c, POLLIN, 0});
}

void AttachServer::handle(const pollfd& p) {
  if (!p.revents || p.fd < 0) return;
  if (p.fd == o_.attach_listen) {
    int c = ::accept4(o_.attach_listen, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return;
    char fate = o_.once && !o_.tty ? kStdinClosesAtEnd : kStdinStaysOpen;
    (void)!::write(c, &fate, 1);  // the first byte into an empty socket buffer
    clients_.push_back(c);
  } else if (p.fd == o_.tty_listen) {
    int c = ::accept4(o_.tty_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) {
      (void)sendFd(c, o_.tty_master);
      ::close(c);
    }
  } else if (p.fd == o_.target) {
    flush();
  } else if (std::find(clients_.begin(), clients_.end(), p.fd) != clients_.end()) {
    char buf[16 * 1024];
    ssize_t n = ::read(p.fd, buf, sizeof buf);
    if (n > 0) {
      pending_.append(buf, static_cast<size_t>(n));
      flush();
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      drop(p.fd);
    }
  }
}

void AttachServer::flush() {
  while (!pending_.empty() && o_.target >= 0) {
    ssize_t n = ::write(o_.target, pending_.data(), pending_.size());
    if (n > 0) {
      pending_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    pending_.clear();  // the container closed its stdin: nothing will read it
  }
  if (closing_) closeStdin();
}

void AttachServer::drop(int fd) {
  ::close(fd);
  clients_.erase(std::remove(clients_.begin(), clients_.end(), fd), clients_.end());
  if (!o_.once || o_.tty) return;
  // stdinOnce: no further attachment gets the container's stdin, and the pipe closes once the
  // pending input is in (the container reads EOF).
  if (o_.attach_listen >= 0) ::close(o_.attach_listen);
  o_.attach_listen = -1;
  for (int c : clients_) ::close(c);
  clients_.clear();
  closing_ = true;
  if (pending_.empty()) closeStdin();
}

void AttachServer::closeStdin() {
  if (o_.target >= 0 && !o_.tty) ::close(o_.target);
  o_.target = -1;
  pending_.clear();
}

void AttachServer::closeAll() {
  for (int c : clients_) ::close(c);
  clients_.clear();
  for (int* fd : {&o_.attach_listen, &o_.tty_listen}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  closeStdin();
}

}  // namespace berth::kubelet
