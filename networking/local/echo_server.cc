#include "networking/local/echo_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/ipv4.h"

namespace berth::networking {

namespace {

std::string endpoint(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

void serveOne(int fd) {
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // Read the request head (or whatever a bare TCP client sends before it waits).
  std::string req;
  char buf[2048];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  if (req.empty()) return;  // a health check: connect and close
  sockaddr_in peer{}, local{};
  socklen_t len = sizeof peer;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  std::string body = "client=" + endpoint(peer) + " server=" + endpoint(local) + "\n";
  std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t off = 0;
  while (off < resp.size()) {
    ssize_t n = ::send(fd, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Status runEchoServer(const std::string& listen, int threads) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return invalid("--listen: want ADDR:PORT, got \"" + listen + "\"");
  auto addr = parseIpv4(listen.substr(0, colon));
  if (!addr.isOk()) return invalid("--listen: " + addr.status().message());
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return invalid("--listen: bad port in \"" + listen + "\"");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(*addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 1024) != 0)
    return internalError("listen on " + listen + ": " + std::strerror(errno));
  std::printf("listening on %s\n", listen.c_str());
  std::fflush(stdout);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([fd] {
      for (;;) {
        int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
          if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
          return;
        }
        serveOne(c);
        ::close(c);
      }
    });
  for (std::thread& t : workers) t.join();
  return internalError("echo server on " + listen + " stopped accepting: " + std::strerror(errno));
}

}  // namespace berth::networking
