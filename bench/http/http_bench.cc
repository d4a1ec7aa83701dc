// http_bench: Berth's epoll server against cpp-httplib 0.11.4 (the reference), same process,
// same client. Prints machine info, keep-alive requests/s with p50/p99 latency for both over
// plain HTTP, Berth over HTTPS, and a watch fan-out figure (open streams, broadcast chunks,
// delivery latency, process thread count).
//
// Usage: http_bench [client_threads=4] [seconds_per_run=3] [streams=1000] [rounds=100]
// This is the only file that includes <httplib.h>.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/http/pki.h"
#include "apiserver/http/server.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace http = berth::http;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

int threadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

struct RunResult {
  double rps = 0;
  double p50_us = 0;
  double p99_us = 0;
  size_t errors = 0;
};

double percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + idx, v.end());
  return v[idx] / 1000.0;
}

// N threads, each with one keep-alive client, issuing GET / for `seconds`.
template <typename MakeClient>
RunResult drive(MakeClient make_client, int threads, double seconds) {
  std::vector<std::vector<int64_t>> lat(threads);
  std::vector<size_t> errors(threads, 0);
  std::atomic<bool> go{false};
  auto end_at = Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000) + 200);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto cli = make_client();
      cli->set_keep_alive(true);
      cli->set_read_timeout(5, 0);
      while (!go) std::this_thread::yield();
      // Warm-up request (connects, handshakes) not counted.
      cli->Get("/");
      while (Clock::now() < end_at) {
        int64_t t0 = nowNs();
        auto res = cli->Get("/");
        int64_t t1 = nowNs();
        if (!res || res->status != 200) {
          ++errors[t];
          continue;
        }
        lat[t].push_back(t1 - t0);
      }
    });
  }
  auto start = Clock::now();
  go = true;
  for (auto& th : ts) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<int64_t> all;
  RunResult r;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), lat[t].begin(), lat[t].end());
    r.errors += errors[t];
  }
  r.rps = all.size() / elapsed;
  r.p50_us = percentile(all, 0.50);
  r.p99_us = percentile(all, 0.99);
  return r;
}

void print(const char* name, const RunResult& r) {
  std::printf("  %-34s %10.0f req/s   p50 %8.1f us   p99 %8.1f us   errors %zu\n", name, r.rps,
              r.p50_us, r.p99_us, r.errors);
}

std::unique_ptr<http::Server> startBerth(bool tls, const http::PkiFiles& pki, int io, int workers,
                                         http::Handler handler) {
  http::Options o;
  o.port = 0;
  o.tls = tls;
  o.tls_options.cert_file = pki.serving_cert;
  o.tls_options.key_file = pki.serving_key;
  o.tls_options.client_ca_file = pki.ca_cert;
  o.io_threads = io;
  o.worker_threads = workers;
  auto s = http::Server::create(o, std::move(handler));
  if (!s.isOk()) {
    std::fprintf(stderr, "create: %s\n", s.status().toString().c_str());
    std::exit(1);
  }
  auto server = std::move(s).value();
  auto st = server->start();
  if (!st.isOk()) {
    std::fprintf(stderr, "start: %s\n", st.toString().c_str());
    std::exit(1);
  }
  return server;
}

// ---- fan-out --------------------------------------------------------------------------------

struct FanoutResult {
  int streams = 0;
  int rounds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double enqueue_p50_ms = 0;  // time for the broadcaster to hand one chunk to every stream
  int threads_with_streams_open = 0;
  size_t delivered = 0;
};

int connectPlain(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

FanoutResult fanout(const http::PkiFiles& pki, int streams, int rounds) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<http::ResponseWriter>> writers;
  auto server = startBerth(false, pki, 2, 4, [&](http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    w->startStream(200, {{"Content-Type", "application/json"}});
    std::lock_guard<std::mutex> lock(mu);
    writers.push_back(std::move(w));
    cv.notify_all();
  });

  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  for (int i = 0; i < streams; ++i) {
    int fd = connectPlain(server->port());
    if (fd < 0) {
      std::fprintf(stderr, "connect failed at %d: %s\n", i, strerror(errno));
      break;
    }
    const char req[] = "GET /watch HTTP/1.1\r\nHost: bench\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0) break;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  FanoutResult r;
  r.streams = static_cast<int>(fds.size());
  r.rounds = rounds;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(30),
                     [&] { return static_cast<int>(writers.size()) == r.streams; })) {
      std::fprintf(stderr, "only %zu of %d streams opened\n", writers.size(), r.streams);
    }
  }
  r.threads_with_streams_open = threadCount();

  // Reader: every chunk payload is "T<19-digit send time in ns>\n"; scan the raw bytes.
  std::atomic<size_t> received{0};
  std::mutex progress_mu;
  std::condition_variable progress_cv;
  std::atomic<bool> stop{false};
  std::vector<int64_t> latencies;
  latencies.reserve(static_cast<size_t>(streams) * rounds);
  std::thread reader([&] {
    std::vector<std::string> carry(65536);
    std::vector<epoll_event> evs(512);
    char buf[65536];
    while (!stop) {
      int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
      int64_t t = nowNs();
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got <= 0) continue;
        std::string& s = carry[fd % carry.size()];
        s.append(buf, static_cast<size_t>(got));
        size_t pos = 0;
        while (true) {
          size_t tpos = s.find('T', pos);
          if (tpos == std::string::npos || tpos + 21 > s.size()) break;
          if (s[tpos + 20] != '\n') {
            pos = tpos + 1;
            continue;
          }
          int64_t sent = std::strtoll(s.c_str() + tpos + 1, nullptr, 10);
          latencies.push_back(t - sent);
          received.fetch_add(1, std::memory_order_relaxed);
          pos = tpos + 21;
        }
        s.erase(0, pos);
      }
      if (n > 0) {
        std::lock_guard<std::mutex> lock(progress_mu);
        progress_cv.notify_all();
      }
    }
  });

  std::vector<int64_t> enqueue_ns;
  for (int round = 0; round < rounds; ++round) {
    char payload[32];
    std::snprintf(payload, sizeof payload, "T%019lld\n", static_cast<long long>(nowNs()));
    {
      int64_t t0 = nowNs();
      std::lock_guard<std::mutex> lock(mu);
      for (auto& w : writers) w->writeChunk(payload);
      enqueue_ns.push_back(nowNs() - t0);
    }
    // The next round starts once this one has been delivered everywhere (or after 5 s).
    size_t want = static_cast<size_t>(r.streams) * (round + 1);
    std::unique_lock<std::mutex> lock(progress_mu);
    progress_cv.wait_for(lock, std::chrono::seconds(5), [&] { return received.load() >= want; });
  }
  stop = true;
  reader.join();
  r.delivered = received.load();
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    r.p50_ms = latencies[latencies.size() / 2] / 1e6;
    r.p99_ms = latencies[static_cast<size_t>(0.99 * (latencies.size() - 1))] / 1e6;
    r.max_ms = latencies.back() / 1e6;
  }
  if (!enqueue_ns.empty()) {
    std::sort(enqueue_ns.begin(), enqueue_ns.end());
    r.enqueue_p50_ms = enqueue_ns[enqueue_ns.size() / 2] / 1e6;
  }
  for (int fd : fds) close(fd);
  close(ep);
  server->stop();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int client_threads = argc > 1 ? std::atoi(argv[1]) : 4;
  double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  int streams = argc > 3 ? std::atoi(argv[3]) : 1000;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 100;

  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::printf("machine: %s, %u cores\n", cpuModel().c_str(), std::thread::hardware_concurrency());
  std::printf("setup: %d client threads (cpp-httplib Client, keep-alive), %.1f s per run, "
              "body \"ok\"\n", client_threads, seconds);
  std::printf("servers: berth io_threads=2 worker_threads=4; cpp-httplib 0.11.4 default pool, "
              "TCP_NODELAY\n");

  std::string dir = (std::filesystem::temp_directory_path() /
                     ("berth-http-bench-" + std::to_string(getpid()))).string();
  auto pki = http::ensurePki(dir, {});
  if (!pki.isOk()) {
    std::fprintf(stderr, "pki: %s\n", pki.status().toString().c_str());
    return 1;
  }

  auto trivial = [](http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    w->respond(200, {{"Content-Type", "text/plain"}}, "ok");
  };

  // Reference: cpp-httplib serving the same answer.
  httplib::Server ref;
  ref.set_tcp_nodelay(true);
  ref.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  int ref_port = ref.bind_to_any_port("127.0.0.1");
  std::thread ref_thread([&] { ref.listen_after_bind(); });
  while (!ref.is_running()) std::this_thread::yield();  // 0.11.4 has no wait_until_ready

  auto plain = startBerth(false, *pki, 2, 4, trivial);
  auto tls = startBerth(true, *pki, 2, 4, trivial);

  std::printf("\nkeep-alive GET / :\n");
  print("cpp-httplib (plain HTTP)", drive([&] {
          return std::make_unique<httplib::Client>("127.0.0.1", ref_port);
        }, client_threads, seconds));
  print("berth (plain HTTP)", drive([&] {
          return std::make_unique<httplib::Client>("127.0.0.1", plain->port());
        }, client_threads, seconds));
  print("berth (HTTPS, TLS 1.3, P-256)", drive([&] {
          auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", tls->port());
          c->set_ca_cert_path(pki->ca_cert.c_str());
          c->enable_server_certificate_verification(true);
          return c;
        }, client_threads, seconds));

  plain->stop();
  tls->stop();
  ref.stop();
  ref_thread.join();

  std::printf("\nfan-out (berth, plain HTTP): %d open watch streams, %d broadcast chunks\n",
              streams, rounds);
  int threads_before = threadCount();
  FanoutResult f = fanout(*pki, streams, rounds);
  std::printf("  streams open: %d, chunks delivered: %zu of %zu\n", f.streams, f.delivered,
              static_cast<size_t>(f.streams) * f.rounds);
  std::printf("  delivery latency: p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", f.p50_ms, f.p99_ms,
              f.max_ms);
  std::printf("  broadcaster's writeChunk loop over all streams: p50 %.2f ms per round\n",
              f.enqueue_p50_ms);
  std::printf("  process threads: %d with all streams open (%d before the server started; "
              "server = 2 io + 4 workers + main; counted before the bench's reader starts)\n",
              f.threads_with_streams_open, threads_before);
  std::filesystem::remove_all(dir);
  return 0;
}
