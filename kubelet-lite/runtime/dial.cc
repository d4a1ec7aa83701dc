#include "kubelet-lite/runtime/dial.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::kubelet {

Status connectWithin(int fd, const std::string& ipv4, int port, std::chrono::milliseconds timeout) {
  std::string where = "dial tcp " + ipv4 + ":" + std::to_string(port) + ": ";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, ipv4.c_str(), &a.sin_addr) != 1)
    return invalid(where + "invalid address");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return internalError(where + std::strerror(errno));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Status(Code::kUnavailable, where + "i/o timeout");
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return internalError(where + std::strerror(errno));
      if (r == 0) continue;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      break;
    }
  }
  fcntl(fd, F_SETFL, flags);
  if (err != 0) return Status(Code::kUnavailable, where + "connect: " + std::strerror(err));
  return Status::ok();
}

Result<int> dialTcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  std::string ip = host;
  in_addr probe{};
  if (inet_pton(AF_INET, host.c_str(), &probe) != 1) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res)
      return Status(Code::kUnavailable, "dial tcp: lookup " + host + ": " + gai_strerror(rc));
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
    freeaddrinfo(res);
    ip = buf;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internalError(std::string("socket: ") + std::strerror(errno));
  Status st = connectWithin(fd, ip, port, timeout);
  if (!st.isOk()) {
    ::close(fd);
    return st;
  }
  return fd;
}

}  // namespace berth::kubelet
