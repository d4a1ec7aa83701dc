#include "bench/net/load_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/common/bench_util.h"

namespace berth::bench::net {

namespace {

using Clock = std::chrono::steady_clock;

int connectTo(const sockaddr_in& addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

enum class Outcome { kOk, kOkClosed, kError };

// Sends one GET and reads the whole response. kOkClosed: fine, but the connection cannot be
// reused (the server closes it or gave no length).
Outcome oneRequest(int fd, const std::string& request, std::string* error) {
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    *error = std::string("send: ") + std::strerror(errno);
    return Outcome::kError;
  }
  std::string buf;
  char chunk[16384];
  size_t header_end = std::string::npos;
  long length = -1;
  bool close_after = false;
  for (;;) {
    if (header_end != std::string::npos && length >= 0 &&
        buf.size() >= header_end + 4 + static_cast<size_t>(length))
      break;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0) {
      *error = std::string("recv: ") + std::strerror(errno);
      return Outcome::kError;
    }
    if (n == 0) {
      if (header_end == std::string::npos || length >= 0) {
        *error = "connection closed before the response was complete";
        return Outcome::kError;
      }
      close_after = true;  // body delimited by the close
      break;
    }
    buf.append(chunk, n);
    if (header_end == std::string::npos && (header_end = buf.find("\r\n\r\n")) != std::string::npos) {
      std::string head = buf.substr(0, header_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (head.rfind("http/1.", 0) != 0 || head.find(" 200 ") == std::string::npos) {
        *error = "status: " + buf.substr(0, buf.find("\r\n"));
        return Outcome::kError;
      }
      size_t cl = head.find("\r\ncontent-length:");
      if (cl != std::string::npos) length = std::atol(head.c_str() + cl + 17);
      close_after = head.find("\r\nconnection: close") != std::string::npos ||
                    head.rfind("http/1.0", 0) == 0;
    }
  }
  return close_after || length < 0 ? Outcome::kOkClosed : Outcome::kOk;
}

}  // namespace

LoadResult runLoad(const std::string& ip, int port, int conns, double seconds, double warmup) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  LoadResult result;
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    result.first_error = "not an IPv4 address: " + ip;
    return result;
  }
  std::string request = "GET / HTTP/1.1\r\nHost: " + ip + "\r\nUser-Agent: berth-net-bench\r\n\r\n";
  auto start = Clock::now();
  auto measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  auto end = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<long> errors{0};
  std::atomic<bool> reused{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      int fd = -1;
      std::string error;
      for (auto t0 = Clock::now(); t0 < end; t0 = Clock::now()) {
        bool counted = t0 >= measure_from;
        if (fd >= 0) reused = true;
        if (fd < 0 && (fd = connectTo(addr)) < 0) error = std::string("connect: ") + std::strerror(errno);
        Outcome o = fd >= 0 ? oneRequest(fd, request, &error) : Outcome::kError;
        if (o != Outcome::kOk && fd >= 0) {
          close(fd);
          fd = -1;
        }
        if (o == Outcome::kError) {
          if (counted) ++errors;
          std::lock_guard<std::mutex> l(mu);
          if (result.first_error.empty()) result.first_error = error;
          continue;
        }
        if (counted) mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      if (fd >= 0) close(fd);
      std::lock_guard<std::mutex> l(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  result.requests = static_cast<long>(latencies.size());
  result.errors = errors;
  result.seconds = std::chrono::duration<double>(Clock::now() - measure_from).count();
  result.p50_ms = percentile(latencies, 0.5);
  result.p99_ms = percentile(latencies, 0.99);
  result.keepalive = reused;
  return result;
}

std::string toJsonLine(const LoadResult& r) {
  return nlohmann::json{{"requests", r.requests}, {"errors", r.errors}, {"seconds", r.seconds},
                        {"p50_ms", r.p50_ms}, {"p99_ms", r.p99_ms}, {"keepalive", r.keepalive},
                        {"first_error", r.first_error}}.dump();
}

bool fromJsonLine(const std::string& line, LoadResult* r) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("requests")) return false;
  r->requests = j.value("requests", 0L);
  r->errors = j.value("errors", 0L);
  r->seconds = j.value("seconds", 0.0);
  r->p50_ms = j.value("p50_ms", 0.0);
  r->p99_ms = j.value("p99_ms", 0.0);
  r->keepalive = j.value("keepalive", false);
  r->first_error = j.value("first_error", "");
  return true;
}

}  // namespace berth::bench::net
