// api_bench: the real `berth server` binary over HTTPS, measured against the API server
// issue's targets. Starts the server on a temp data dir and port 0, drives it with a small
// keep-alive TLS client of its own (OpenSSL, blocking for request/response, epoll for watch
// streams), prints "figure | target" lines with the machine, then stops the server.
//
// Phases, each bounded in time and count, loopback only:
//   floor   GET /healthz at C connections (the HTTP + TLS floor, no API work)
//   create  POST ~2 KB pods at C connections (durable: SQLite WAL, synchronous=FULL)
//   get     GET single pods at C connections
//   list    all pods of the namespace (JSON and Table), and a ?limit=500 page
//   watch   W watchers (one connection each) while a writer creates R pods/s for S seconds:
//           delivery latency from the write request's send (and from its acknowledgement)
//           to each watcher's receipt
//   rss     create pods until N are stored, then the server's VmRSS
//
// Usage: api_bench [BERTH_BIN] [--pods N] [--creates N] [--conns C] [--seconds S]
//                  [--watchers W] [--watch-rate R] [--watch-seconds S] [--keep] [--perf DIR]
// --perf DIR records the server with `perf record -g` during each phase (DIR/<phase>.perf.data).
// BERTH_BIN defaults to $BERTH_BIN, then build-bench/cmd/berth.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/common/bench_pod.h"
#include "bench/common/bench_util.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double percentileMs(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + idx, v.end());
  return v[idx] / 1e6;
}

// ---- machine and process ----

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

// utime + stime of a process in milliseconds.
double cpuMs(pid_t pid) { return berth::bench::cpuSeconds(pid) * 1000.0; }
// This process's CPU (every thread), in ms.
double selfCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

// ---- a small keep-alive HTTPS client ----

struct Tls {
  SSL_CTX* ctx = nullptr;
};

bool makeTls(Tls* t, const std::string& pki) {
  t->ctx = SSL_CTX_new(TLS_client_method());
  if (!t->ctx) return false;
  if (SSL_CTX_load_verify_locations(t->ctx, (pki + "/ca.crt").c_str(), nullptr) != 1) return false;
  if (SSL_CTX_use_certificate_file(t->ctx, (pki + "/admin.crt").c_str(), SSL_FILETYPE_PEM) != 1)
    return false;
  if (SSL_CTX_use_PrivateKey_file(t->ctx, (pki + "/admin.key").c_str(), SSL_FILETYPE_PEM) != 1)
    return false;
  SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, nullptr);
  // Read what the socket holds in one call, not a record header and then its body (Go's TLS
  // client, kubectl's, reads ahead likewise): half the read system calls.
  SSL_CTX_set_read_ahead(t->ctx, 1);
  SSL_CTX_set_default_read_buffer_len(t->ctx, 64 * 1024);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(t->ctx), "127.0.0.1");
  return true;
}

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

class Conn {
 public:
  ~Conn() { close(); }

  bool connect(const Tls& tls, int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    ssl_ = SSL_new(tls.ctx);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

  void close() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    ssl_ = nullptr;
    fd_ = -1;
    buf_.clear();
  }

  int fd() const { return fd_; }
  SSL* ssl() const { return ssl_; }

  bool send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  static std::string request(const std::string& method, const std::string& target,
                             const std::string& accept, const std::string& body) {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    r += "User-Agent: api_bench/1.0\r\nAccept: " + (accept.empty() ? "application/json" : accept) +
         "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
    r += "\r\n";
    r += body;
    return r;
  }

  // One request and its whole response on this keep-alive connection.
  bool roundTrip(const std::string& method, const std::string& target, const std::string& body,
                 Response* out, const std::string& accept = "") {
    first_byte_ns_ = 0;
    if (!send(request(method, target, accept, body))) return false;
    return readResponse(out);
  }

  // When the last roundTrip's first response bytes were decrypted (nowNs), 0 if none.
  int64_t firstByteNs() const { return first_byte_ns_; }

  bool readHead(Response* out) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    out->headers.clear();
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    size_t sp = status_line.find(' ');
    out->status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        out->headers[name] = line.substr(v);
      }
      pos = e + 2;
    }
    return true;
  }

  bool readResponse(Response* out) {
    if (!readHead(out)) return false;
    out->body.clear();
    auto te = out->headers.find("transfer-encoding");
    if (te != out->headers.end() && te->second.find("chunked") != std::string::npos) {
      while (true) {
        size_t e;
        while ((e = buf_.find("\r\n")) == std::string::npos)
          if (!fill()) return false;
        size_t n = std::strtoul(buf_.c_str(), nullptr, 16);
        buf_.erase(0, e + 2);
        if (!readChunkData(n, &out->body)) return false;
        while (buf_.size() < 2)
          if (!fill()) return false;
        buf_.erase(0, 2);
        if (n == 0) return true;
      }
    }
    size_t len = 0;
    auto cl = out->headers.find("content-length");
    if (cl != out->headers.end()) len = std::strtoul(cl->second.c_str(), nullptr, 10);
    while (buf_.size() < len)
      if (!fill()) return false;
    out->body.assign(buf_, 0, len);
    buf_.erase(0, len);
    return true;
  }

 private:
  // Appends the next n body bytes to *body: what is already buffered, then decrypted straight
  // into *body (a large list is not staged in buf_ and copied again).
  bool readChunkData(size_t n, std::string* body) {
    size_t have = std::min(n, buf_.size());
    body->append(buf_, 0, have);
    buf_.erase(0, have);
    size_t at = body->size();
    size_t left = n - have;
    body->resize(at + left);
    while (left > 0) {
      int r = SSL_read(ssl_, body->data() + at, static_cast<int>(std::min<size_t>(left, 1 << 30)));
      if (r <= 0) {
        body->resize(at);
        return false;
      }
      if (!first_byte_ns_) first_byte_ns_ = nowNs();
      at += static_cast<size_t>(r);
      left -= static_cast<size_t>(r);
    }
    return true;
  }

  bool fill() {
    char tmp[65536];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) return false;
    if (!first_byte_ns_) first_byte_ns_ = nowNs();
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buf_;
  int64_t first_byte_ns_ = 0;
};

// `"resourceVersion":"123"` in a serialised object (the pod JSON has exactly one).
int64_t findRv(std::string_view s) {
  // memmem, not string_view::find: find stops at every '"' of the JSON (a memchr each).
  static constexpr std::string_view kKey = "\"resourceVersion\":\"";
  const void* p = memmem(s.data(), s.size(), kKey.data(), kKey.size());
  if (!p) return -1;
  return std::strtoll(static_cast<const char*>(p) + kKey.size(), nullptr, 10);
}

// ---- the server under test ----

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string dir;
  int out_fd = -1;
};

bool startServer(const std::string& bin, Server* s) {
  int p[2];
  if (pipe(p) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(p[1], 1);
    int log = open((s->dir + "/server.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) dup2(log, 2);
    ::close(p[0]);
    // The API server alone: the in-process controllers would add their informers' work on
    // every event to the server's CPU figures.
    execl(bin.c_str(), bin.c_str(), "server", "--data-dir", s->dir.c_str(), "--secure-port", "0",
          "--controllers", "none", static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(p[1]);
  s->pid = pid;
  s->out_fd = p[0];
  std::string out;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  static constexpr std::string_view kReady = "serving at https://127.0.0.1:";
  while (Clock::now() < deadline) {
    pollfd pf{p[0], POLLIN, 0};
    if (poll(&pf, 1, 500) <= 0) continue;
    char tmp[4096];
    ssize_t n = read(p[0], tmp, sizeof tmp);
    if (n <= 0) return false;
    out.append(tmp, static_cast<size_t>(n));
    size_t at = out.find(kReady);
    if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
      s->port = std::atoi(out.c_str() + at + kReady.size());
      return s->port > 0;
    }
  }
  return false;
}

void stopServer(Server* s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, nullptr, 0);
  s->pid = -1;
}

// `perf record` of the server for one phase (with --perf DIR): DIR/<phase>.perf.data.
class PerfRecord {
 public:
  PerfRecord(const std::string& dir, const std::string& phase, pid_t target) {
    if (dir.empty()) return;
    std::string out = dir + "/" + phase + ".perf.data";
    std::string p = std::to_string(target);
    pid_ = fork();
    if (pid_ == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execlp("perf", "perf", "record", "-F", "499", "-g", "-p", p.c_str(), "-o", out.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // perf attaches
  }
  ~PerfRecord() {
    if (pid_ <= 0) return;
    kill(pid_, SIGINT);
    waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

// ---- workload ----

// The request body of a pod named `name`, from the template's text rendered once: the load
// loops run on the server's two cores, so building a body costs a string join, not a copy
// and dump of a JSON tree per request.
class PodBody {
 public:
  explicit PodBody(const json& tmpl) {
    static constexpr std::string_view kMark = "@@name@@";
    json p = tmpl;
    p["metadata"]["name"] = std::string(kMark);
    std::string text = p.dump();
    size_t at = text.find(kMark);
    before_ = text.substr(0, at);
    after_ = text.substr(at + kMark.size());
  }
  std::string operator()(std::string_view name) const {
    std::string s;
    s.reserve(before_.size() + name.size() + after_.size());
    s.append(before_).append(name).append(after_);
    return s;
  }

 private:
  std::string before_, after_;
};

struct LoadResult {
  size_t ok = 0;
  size_t errors = 0;
  double seconds = 0;
  std::vector<int64_t> lat;
  int first_error_status = 0;
  std::string first_error_body;
  double rate() const { return seconds > 0 ? ok / seconds : 0; }
};

// `conns` threads, each with its own keep-alive connection, run `op(conn, i)` for indices
// taken from a shared counter until `max_ops` are taken or `seconds` pass. op returns the HTTP
// status (2xx counts as ok), filling `resp`.
LoadResult runLoad(const Tls& tls, int port, int conns, double seconds, size_t max_ops,
                   const std::function<int(Conn&, size_t, Response*)>& op) {
  std::atomic<size_t> next{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::vector<int64_t>> lat(conns);
  std::vector<size_t> errs(conns, 0);
  std::mutex err_mu;
  LoadResult r;
  int64_t start = 0, end_at = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < conns; ++t) {
    ts.emplace_back([&, t] {
      Conn c;
      bool ok = c.connect(tls, port);
      ++ready;
      while (!go) std::this_thread::yield();
      if (!ok) {
        ++errs[t];
        return;
      }
      Response resp;
      while (nowNs() < end_at) {
        size_t i = next.fetch_add(1);
        if (i >= max_ops) break;
        int64_t t0 = nowNs();
        int status = op(c, i, &resp);
        int64_t t1 = nowNs();
        if (status >= 200 && status < 300) {
          lat[t].push_back(t1 - t0);
        } else {
          ++errs[t];
          std::lock_guard<std::mutex> lock(err_mu);
          if (!r.first_error_status) {
            r.first_error_status = status;
            r.first_error_body = resp.body.substr(0, 300);
          }
          if (status <= 0) {  // connection broke: reconnect
            c.close();
            if (!c.connect(tls, port)) return;
          }
        }
      }
    });
  }
  while (ready < conns) std::this_thread::yield();
  start = nowNs();
  end_at = start + static_cast<int64_t>(seconds * 1e9);
  go = true;
  for (auto& th : ts) th.join();
  r.seconds = (nowNs() - start) / 1e9;
  for (int t = 0; t < conns; ++t) {
    r.lat.insert(r.lat.end(), lat[t].begin(), lat[t].end());
    r.errors += errs[t];
  }
  r.ok = r.lat.size();
  return r;
}

int doRoundTrip(Conn& c, const std::string& method, const std::string& target,
                const std::string& body, Response* resp, const std::string& accept = "") {
  if (!c.roundTrip(method, target, body, resp, accept)) return -1;
  return resp->status;
}

// The server's own histogram of its store calls for creates (berth_store_operation_duration_seconds
// in /metrics): the durable commit, group-commit queue included. Read before and after a phase,
// it tells how many writes the disk held up (an fsync stall holds every write queued behind it).
struct StoreCreates {
  std::vector<std::pair<double, uint64_t>> le;  // cumulative count per upper bound, ascending
  uint64_t count = 0;
  bool ok = false;
};

StoreCreates scrapeStoreCreates(const std::string& metrics) {
  StoreCreates out;
  static constexpr std::string_view kBucket =
      "berth_store_operation_duration_seconds_bucket{operation=\"create\",le=\"";
  static constexpr std::string_view kCount =
      "berth_store_operation_duration_seconds_count{operation=\"create\"} ";
  std::string_view m(metrics);
  for (size_t p = 0; p < m.size();) {
    size_t e = m.find('\n', p);
    if (e == std::string_view::npos) e = m.size();
    std::string_view l = m.substr(p, e - p);
    p = e + 1;
    try {
      if (l.substr(0, kBucket.size()) == kBucket) {
        l.remove_prefix(kBucket.size());
        size_t q = l.find('"');
        if (q == std::string_view::npos || l.substr(0, q) == "+Inf") continue;
        size_t sp = l.rfind(' ');
        out.le.emplace_back(std::stod(std::string(l.substr(0, q))),
                            std::stoull(std::string(l.substr(sp + 1))));
      } else if (l.substr(0, kCount.size()) == kCount) {
        out.count = std::stoull(std::string(l.substr(kCount.size())));
        out.ok = true;
      }
    } catch (...) {
    }
  }
  return out;
}

// "N of M store creates over 50 ms, slowest <= X ms" between two scrapes.
std::string storeStalls(const StoreCreates& a, const StoreCreates& b) {
  if (!a.ok || !b.ok || a.le.size() != b.le.size()) return "store latency not in /metrics";
  const uint64_t total = b.count - a.count;
  uint64_t within50 = 0;
  double slowest_bound = -1;  // the first bucket that holds them all; -1: beyond the last
  for (size_t i = b.le.size(); i-- > 0;) {
    uint64_t n = b.le[i].second - a.le[i].second;
    if (n == total) slowest_bound = b.le[i].first;
    if (std::abs(b.le[i].first - 0.05) < 1e-9) within50 = n;
  }
  std::string out = std::to_string(total - within50) + " of " + std::to_string(total) +
                    " store creates over 50 ms";
  if (within50 == total) return out;
  if (slowest_bound < 0) {
    return out + ", the slowest over " +
           std::to_string(static_cast<int>(b.le.back().first * 1000)) + " ms";
  }
  return out + ", the slowest <= " + std::to_string(static_cast<int>(slowest_bound * 1000)) + " ms";
}

// ---- watch fan-out ----

// One watch stream, read without blocking on an epoll thread. The reader is kept cheap (it
// shares the two cores with the server): decrypted bytes are de-chunked and split into events
// in place, and only an event cut by a read or chunk boundary is copied.
struct Watcher {
  Conn conn;
  bool head_done = false;
  int status = 0;
  std::string raw;      // decrypted bytes not yet parsed (a partial head or chunk-size line)
  std::string partial;  // the start of an event whose newline has not arrived
  size_t chunk_left = 0;
  bool in_chunk = false;
  size_t crlf_left = 0;  // bytes of a chunk's closing CRLF still to skip
  std::vector<std::pair<int64_t, int64_t>> got;  // (resourceVersion, receipt ns)
  bool broken = false;
};

// The server writes an event's type first ({"type":"ADDED","object":...}), so a bookmark is
// told by the event's head; scanning a whole 5 KB event for it cost more than the TLS read.
void onEventLine(Watcher& w, std::string_view line, int64_t now) {
  if (line.substr(0, 24).find("\"BOOKMARK\"") != std::string_view::npos) return;
  int64_t rv = findRv(line);
  if (rv > 0) w.got.emplace_back(rv, now);
}

// Splits de-chunked bytes into newline-terminated events.
void scanEvents(Watcher& w, std::string_view data, int64_t now) {
  if (!w.partial.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      w.partial.append(data);
      return;
    }
    w.partial.append(data.substr(0, nl));
    onEventLine(w, w.partial, now);
    w.partial.clear();
    data.remove_prefix(nl + 1);
  }
  size_t nl;
  while ((nl = data.find('\n')) != std::string_view::npos) {
    onEventLine(w, data.substr(0, nl), now);
    data.remove_prefix(nl + 1);
  }
  w.partial.append(data);
}

// Consumes decrypted bytes: headers, then chunks, whose data goes to scanEvents as it comes.
// Only a partial head or chunk-size line is kept in w.raw.
void parseWatch(Watcher& w, std::string_view in, int64_t now) {
  std::string joined;
  if (!w.raw.empty()) {
    joined = std::move(w.raw);
    joined.append(in);
    in = joined;
  }
  w.raw.clear();
  if (!w.head_done) {
    size_t e = in.find("\r\n\r\n");
    if (e == std::string_view::npos) {
      w.raw.assign(in);
      return;
    }
    size_t sp = in.find(' ');
    w.status = std::atoi(std::string(in.substr(sp + 1, 3)).c_str());
    w.head_done = true;
    in.remove_prefix(e + 4);
  }
  while (!in.empty() && !w.broken) {
    if (w.crlf_left) {
      size_t skip = std::min(w.crlf_left, in.size());
      w.crlf_left -= skip;
      in.remove_prefix(skip);
      continue;
    }
    if (!w.in_chunk) {
      size_t e = in.find("\r\n");
      if (e == std::string_view::npos) {
        w.raw.assign(in);
        return;
      }
      w.chunk_left = std::strtoul(std::string(in.substr(0, e)).c_str(), nullptr, 16);
      in.remove_prefix(e + 2);
      w.in_chunk = true;
      if (w.chunk_left == 0) {
        w.broken = true;  // the stream ended
        return;
      }
    }
    size_t take = std::min(w.chunk_left, in.size());
    scanEvents(w, in.substr(0, take), now);
    in.remove_prefix(take);
    w.chunk_left -= take;
    if (w.chunk_left == 0) {
      w.in_chunk = false;
      w.crlf_left = 2;
    }
  }
}

void readerLoop(std::vector<Watcher*> mine, std::atomic<bool>* stop) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < mine.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, mine[i]->conn.fd(), &ev);
  }
  std::vector<epoll_event> evs(256);
  std::vector<char> buf(64 * 1024);
  while (!stop->load()) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
    int64_t now = nowNs();
    for (int i = 0; i < n; ++i) {
      Watcher& w = *mine[evs[i].data.u64];
      // Bounded per wake-up, so one busy stream does not starve the others (level-triggered
      // epoll brings us back while the socket holds more).
      for (int reads = 0; reads < 16; ++reads) {
        int r = SSL_read(w.conn.ssl(), buf.data(), static_cast<int>(buf.size()));
        if (r > 0) {
          parseWatch(w, std::string_view(buf.data(), static_cast<size_t>(r)), now);
          // Nothing buffered in OpenSSL: leave the socket to epoll rather than spend a recv
          // on learning that it is empty.
          if (!SSL_has_pending(w.conn.ssl())) break;
          continue;
        }
        int err = SSL_get_error(w.conn.ssl(), r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          w.broken = true;
          epoll_ctl(ep, EPOLL_CTL_DEL, w.conn.fd(), nullptr);
        }
        break;
      }
    }
  }
  ::close(ep);
}

// ---- output ----

void line(const std::string& figure, const std::string& target) {
  std::printf("%-78s | %s\n", figure.c_str(), target.c_str());
  std::fflush(stdout);
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char b[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

const char* verdict(bool ok) { return ok ? "MET" : "MISSED"; }

struct Flags {
  std::string bin;
  size_t pods = 100000;
  size_t creates = 10000;
  int conns = 16;
  double seconds = 5;
  int watchers = 1000;
  int watch_rate = 100;
  double watch_seconds = 10;
  bool keep = false;
  std::string perf_dir;
};

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (const char* e = std::getenv("BERTH_BIN")) f.bin = e;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "api_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--pods") f.pods = std::stoul(val());
    else if (a == "--creates") f.creates = std::stoul(val());
    else if (a == "--conns") f.conns = std::stoi(val());
    else if (a == "--seconds") f.seconds = std::stod(val());
    else if (a == "--watchers") f.watchers = std::stoi(val());
    else if (a == "--watch-rate") f.watch_rate = std::stoi(val());
    else if (a == "--watch-seconds") f.watch_seconds = std::stod(val());
    else if (a == "--keep") f.keep = true;
    else if (a == "--perf") f.perf_dir = val();
    else if (a == "-h" || a == "--help") {
      std::puts("usage: api_bench [BERTH_BIN] [--pods N] [--creates N] [--conns C] [--seconds S]\n"
                "                 [--watchers W] [--watch-rate R] [--watch-seconds S] [--keep]\n"
                "                 [--perf DIR]  (perf record of the server, one file per phase)");
      return 0;
    } else if (!a.empty() && a[0] != '-') f.bin = a;
    else {
      std::fprintf(stderr, "api_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (f.bin.empty()) f.bin = "build-bench/cmd/berth";
  if (access(f.bin.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "api_bench: berth binary %s not found (pass it or set BERTH_BIN)\n",
                 f.bin.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // 1000 watch connections on each side.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  Server srv;
  char tmpl[] = "/tmp/api_bench.XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  srv.dir = tmpl;
  std::printf("api_bench: machine %s, %u cores, %s\n", berth::bench::cpuModel().c_str(),
              std::thread::hardware_concurrency(), kernel().c_str());
  std::printf("api_bench: server %s, data dir %s (SQLite WAL, synchronous=FULL), open files %lu\n",
              f.bin.c_str(), srv.dir.c_str(), static_cast<unsigned long>(rl.rlim_cur));
  std::printf("api_bench: client and server share the machine; the client's TLS and parsing use "
              "the same cores\n\n");
  std::fflush(stdout);
  if (!startServer(f.bin, &srv)) {
    std::fprintf(stderr, "api_bench: server did not start; see %s/server.log\n", srv.dir.c_str());
    stopServer(&srv);
    return 1;
  }
  int rc = 0;
  Tls tls;
  if (!makeTls(&tls, srv.dir + "/pki")) {
    std::fprintf(stderr, "api_bench: loading %s/pki failed\n", srv.dir.c_str());
    ERR_print_errors_fp(stderr);
    stopServer(&srv);
    return 1;
  }
  const int port = srv.port;
  const pid_t pid = srv.pid;
  const std::string ns = "bench";
  const std::string pods_path = "/api/v1/namespaces/" + ns + "/pods";
  const PodBody podBody(berth::bench::podTemplate(ns));
  const std::string sample = podBody("bench-000000");
  std::printf("api_bench: server pid %d at https://127.0.0.1:%d; pod body %zu bytes; %d "
              "connections\n\n",
              pid, port, sample.size(), f.conns);

  Conn admin;
  Response resp;
  if (!admin.connect(tls, port) ||
      doRoundTrip(admin, "POST", "/api/v1/namespaces",
                  json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}
                      .dump(),
                  &resp) != 201) {
    std::fprintf(stderr, "api_bench: creating namespace failed: %d %s\n", resp.status,
                 resp.body.c_str());
    stopServer(&srv);
    return 1;
  }
  auto podName = [](size_t i) { return fmt("bench-%06zu", i); };
  std::atomic<size_t> stored{0};

  auto storeCreates = [&] {
    Response m;
    if (doRoundTrip(admin, "GET", "/metrics", "", &m) != 200) return StoreCreates{};
    return scrapeStoreCreates(m.body);
  };
  auto rssNote = [&](const char* when) {
    std::printf("  server VmRSS %.0f MiB, peak %.0f MiB, threads %ld %s\n",
                berth::bench::statusKb(pid, "VmRSS") / 1024.0, berth::bench::statusKb(pid, "VmHWM") / 1024.0,
                berth::bench::statusKb(pid, "Threads"), when);
    std::fflush(stdout);
  };
  rssNote("at start");
  const double rss_start_mib = berth::bench::statusKb(pid, "VmRSS") / 1024.0;

  // Server CPU per operation: (server CPU ms) / ops, in microseconds.
  auto cpuPerOp = [&](double cpu0, size_t ops) {
    return ops ? (cpuMs(pid) - cpu0) * 1000.0 / ops : 0.0;
  };

  // ---- floor: GET /healthz ----
  {
    PerfRecord perf(f.perf_dir, "floor", pid);
    double c0 = cpuMs(pid);
    auto r = runLoad(tls, port, f.conns, f.seconds, SIZE_MAX, [&](Conn& c, size_t, Response* rp) {
      return doRoundTrip(c, "GET", "/healthz", "", rp);
    });
    line(fmt("floor: GET /healthz %.0f req/s, p50 %.2f ms, p99 %.2f ms (%zu err, srv %.0f us "
             "CPU/req)",
             r.rate(), percentileMs(r.lat, 0.5), percentileMs(r.lat, 0.99), r.errors,
             cpuPerOp(c0, r.ok)),
         "reference (HTTP+TLS floor, no API work)");
  }

  // ---- create ----
  size_t created = 0;
  {
    PerfRecord perf(f.perf_dir, "create", pid);
    auto store0 = storeCreates();
    double c0 = cpuMs(pid);
    double k0 = selfCpuMs();
    auto r = runLoad(tls, port, f.conns, 120, f.creates, [&](Conn& c, size_t i, Response* rp) {
      return doRoundTrip(c, "POST", pods_path, podBody(podName(i)), rp);
    });
    double client_us = r.ok ? (selfCpuMs() - k0) * 1000.0 / r.ok : 0;
    created = r.ok;
    stored = r.ok;
    double p99 = percentileMs(r.lat, 0.99);
    line(
        fmt("create: %zu pods in %.1f s = %.0f creates/s, p50 %.2f ms, p99 %.2f ms (%zu err, "
            "srv %.0f us CPU/create, this client %.0f us)",
            r.ok, r.seconds, r.rate(), percentileMs(r.lat, 0.5), p99, r.errors, cpuPerOp(c0, r.ok),
            client_us),
        fmt(">= 5000/s %s, p99 < 20 ms %s, durable", verdict(r.rate() >= 5000), verdict(p99 < 20)));
    std::printf("  (the server's store calls: %s)\n", storeStalls(store0, storeCreates()).c_str());
    if (r.errors) {
      std::printf("  first error: %d %s\n", r.first_error_status, r.first_error_body.c_str());
      rc = 1;
    }
    if (doRoundTrip(admin, "GET", pods_path + "/" + podName(0), "", &resp) == 200)
      std::printf("  a stored pod as served: %zu bytes\n", resp.body.size());
  }
  rssNote("after the creates");
  if (created == 0) {
    stopServer(&srv);
    return 1;
  }

  // ---- get ----
  {
    PerfRecord perf(f.perf_dir, "get", pid);
    double c0 = cpuMs(pid);
    auto r = runLoad(tls, port, f.conns, f.seconds, SIZE_MAX, [&](Conn& c, size_t i, Response* rp) {
      return doRoundTrip(c, "GET", pods_path + "/" + podName((i * 7919) % created), "", rp);
    });
    line(fmt("get: %.0f gets/s, p50 %.2f ms, p99 %.2f ms (%zu err, srv %.0f us CPU/get)", r.rate(),
             percentileMs(r.lat, 0.5), percentileMs(r.lat, 0.99), r.errors, cpuPerOp(c0, r.ok)),
         fmt(">= 20000/s %s", verdict(r.rate() >= 20000)));
  }

  // ---- list ----
  // The list time is request sent -> last body byte decrypted by this client (the JSON parse
  // that counts the items comes after the clock stops). It includes this client's own work on
  // the same cores: TLS decryption, the socket reads and copying the body into one string;
  // first_ms (time to the first byte) and client_cpu_ms (this thread's CPU) show how much.
  struct ListTiming {
    double first_ms = 0;       // median time to the first response byte
    double client_cpu_ms = 0;  // this client thread's CPU per list
  };
  auto timeList = [&](const std::string& target, const std::string& accept, int reps,
                      size_t* bytes, size_t* items, double* srv_ms, ListTiming* lt = nullptr) {
    std::vector<int64_t> ts, first;
    double c0 = cpuMs(pid);
    timespec cpu0{}, cpu1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    for (int i = 0; i < reps; ++i) {
      int64_t t0 = nowNs();
      int st = doRoundTrip(admin, "GET", target, "", &resp, accept);
      ts.push_back(nowNs() - t0);
      first.push_back(admin.firstByteNs() ? admin.firstByteNs() - t0 : 0);
      if (st != 200) {
        if (st < 0) {
          std::printf("  %s: the server closed the connection mid-response\n", target.c_str());
          admin.close();
          if (!admin.connect(tls, port)) std::printf("  reconnecting failed\n");
        } else {
          std::printf("  %s: %d %s\n", target.c_str(), st, resp.body.substr(0, 200).c_str());
        }
        return -1.0;
      }
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    *srv_ms = (cpuMs(pid) - c0) / reps;
    if (lt) {
      lt->first_ms = percentileMs(first, 0.5);
      lt->client_cpu_ms = ((cpu1.tv_sec - cpu0.tv_sec) * 1e3 + (cpu1.tv_nsec - cpu0.tv_nsec) / 1e6) / reps;
    }
    *bytes = resp.body.size();
    try {
      json j = json::parse(resp.body);
      *items = j.contains("items") ? j["items"].size() : j.value("rows", json::array()).size();
    } catch (...) {
      *items = 0;
    }
    return percentileMs(ts, 0.5);
  };
  {
    const std::string table = "application/json;as=Table;v=v1;g=meta.k8s.io";
    size_t bytes = 0, items = 0;
    double ms, srv = 0;
    ListTiming lt;
    {
      PerfRecord perf(f.perf_dir, "list", pid);
      ms = timeList(pods_path, "", 7, &bytes, &items, &srv, &lt);
    }
    line(fmt("list: %zu pods JSON %.1f ms to the last byte, median of 7 (%.1f MB; first byte "
             "%.1f ms; srv %.1f ms CPU/list; this client %.1f ms CPU/list: TLS decrypt, reads, "
             "copy; no parse)",
             items, ms, bytes / 1e6, lt.first_ms, srv, lt.client_cpu_ms),
         fmt("<= 100 ms (10,000 pods) %s", verdict(ms >= 0 && ms <= 100)));
    ms = timeList(pods_path + "?limit=500", "", 21, &bytes, &items, &srv, &lt);
    line(fmt("list: %zu-item page JSON %.2f ms median of 21 (%.2f MB; first byte %.2f ms; srv "
             "%.2f ms CPU/list; this client %.2f ms CPU/list)",
             items, ms, bytes / 1e6, lt.first_ms, srv, lt.client_cpu_ms),
         fmt("<= 10 ms %s", verdict(ms >= 0 && ms <= 10)));
    {
      PerfRecord perf(f.perf_dir, "list-table", pid);
      ms = timeList(pods_path, table, 7, &bytes, &items, &srv);
    }
    line(fmt("list: %zu pods as Table %.1f ms median of 7 (%.1f MB, srv %.1f ms CPU/list)", items,
             ms, bytes / 1e6, srv),
         fmt("<= 100 ms %s", verdict(ms >= 0 && ms <= 100)));
    ms = timeList(pods_path + "?limit=500", table, 21, &bytes, &items, &srv);
    line(fmt("list: %zu-row page as Table %.2f ms median of 21 (srv %.2f ms CPU/list)", items, ms,
             srv),
         fmt("<= 10 ms %s", verdict(ms >= 0 && ms <= 10)));
  }
  rssNote("after the lists");

  // ---- watch fan-out ----
  {
    int64_t list_rv = -1;
    if (doRoundTrip(admin, "GET", pods_path + "?limit=1", "", &resp) == 200) {
      try {
        list_rv = std::stoll(json::parse(resp.body)["metadata"]["resourceVersion"].get<std::string>());
      } catch (...) {
      }
    }
    std::vector<std::unique_ptr<Watcher>> ws(f.watchers);
    std::atomic<int> opened{0}, failed{0};
    {
      std::vector<std::thread> openers;
      const int kOpeners = 4;
      std::string target = pods_path + "?watch=true&resourceVersion=" + std::to_string(list_rv);
      for (int t = 0; t < kOpeners; ++t)
        openers.emplace_back([&, t] {
          for (int i = t; i < f.watchers; i += kOpeners) {
            auto w = std::make_unique<Watcher>();
            if (!w->conn.connect(tls, port) ||
                !w->conn.send(Conn::request("GET", target, "", ""))) {
              ++failed;
              continue;
            }
            fcntl(w->conn.fd(), F_SETFL, fcntl(w->conn.fd(), F_GETFL) | O_NONBLOCK);
            ws[i] = std::move(w);
            ++opened;
          }
        });
      for (auto& t : openers) t.join();
    }
    std::vector<Watcher*> live;
    for (auto& w : ws)
      if (w) live.push_back(w.get());
    std::atomic<bool> stop{false};
    const int kReaders = 2;
    std::vector<std::thread> readers;
    for (int t = 0; t < kReaders; ++t) {
      std::vector<Watcher*> mine;
      for (size_t i = t; i < live.size(); i += kReaders) mine.push_back(live[i]);
      readers.emplace_back(readerLoop, std::move(mine), &stop);
    }
    // Every stream answered (200 + headers) before the first write.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      size_t heads = 0;
      for (auto* w : live) heads += w->head_done;  // racy read of a bool; only a progress check
      if (heads == live.size()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    long threads_idle = berth::bench::statusKb(pid, "Threads");
    std::atomic<long> threads_max{threads_idle};
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      while (sampling) {
        long t = berth::bench::statusKb(pid, "Threads");
        long cur = threads_max.load();
        if (t > cur) threads_max = t;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    // The writer: creates at a fixed rate on one connection, records when each request went
    // out and when it was acknowledged. The ack can be held up behind the fan-out on the
    // writer's io loop, so latency from the ack can flatter; latency from the request's send
    // (the commit included) is an upper bound, and it is what the target is judged on (as
    // etcd's watch-latency benchmark times from before the put).
    struct Write {
      int64_t sent;
      int64_t acked;
    };
    std::unordered_map<int64_t, Write> acked;  // resourceVersion -> times
    size_t writes = static_cast<size_t>(f.watch_rate * f.watch_seconds);
    size_t write_errors = 0;
    auto store0 = storeCreates();
    double c0 = cpuMs(pid);
    double client_c0 = selfCpuMs();
    {
      PerfRecord perf(f.perf_dir, "watch", pid);
      Conn wc;
      if (wc.connect(tls, port)) {
        int64_t t_start = nowNs();
        int64_t period = static_cast<int64_t>(1e9 / f.watch_rate);
        for (size_t i = 0; i < writes; ++i) {
          int64_t due = t_start + static_cast<int64_t>(i) * period;
          int64_t wait = due - nowNs();
          if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
          int64_t t_sent = nowNs();
          int st = doRoundTrip(wc, "POST", pods_path, podBody(fmt("watch-%06zu", i)), &resp);
          int64_t t_ack = nowNs();
          if (st != 201) {
            ++write_errors;
            continue;
          }
          acked[findRv(resp.body)] = {t_sent, t_ack};
        }
      }
    }
    double write_cpu = cpuPerOp(c0, writes);
    auto store1 = storeCreates();
    stored += acked.size();
    // Let the fan-out finish (bounded).
    size_t expected = acked.size() * live.size();
    deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      size_t n = 0;
      for (auto* w : live) n += w->got.size();  // racy size read; progress check only
      if (n >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    sampling = false;
    sampler.join();
    stop = true;
    for (auto& t : readers) t.join();
    // The whole phase, the drain included: the server's fan-out and this client's reading
    // (TLS decrypt, de-chunking, finding each event's resourceVersion) share the two cores.
    double srv_phase_ms = cpuMs(pid) - c0;
    double client_phase_ms = selfCpuMs() - client_c0;
    std::vector<int64_t> lat, lat_ack;
    size_t early = 0, broken = 0, non200 = 0;
    for (auto* w : live) {
      broken += w->broken;
      non200 += w->head_done && w->status != 200;
      for (auto [rv, t] : w->got) {
        auto it = acked.find(rv);
        if (it == acked.end()) continue;
        lat.push_back(t - it->second.sent);
        int64_t d = t - it->second.acked;
        if (d < 0) {
          ++early;
          d = 0;
        }
        lat_ack.push_back(d);
      }
    }
    double p99 = percentileMs(lat, 0.99);
    line(fmt("watch: %zu watchers, %zu writes at %d/s: %zu/%zu events delivered, from the "
             "request's send p50 %.2f ms, p99 %.2f ms",
             live.size(), acked.size(), f.watch_rate, lat.size(), expected, percentileMs(lat, 0.5),
             p99),
         fmt("p99 < 50 ms %s", verdict(p99 < 50 && lat.size() == expected && expected > 0)));
    std::vector<int64_t> write_lat;
    for (const auto& [rv, w] : acked) write_lat.push_back(w.acked - w.sent);
    std::printf(
        "  (from the write's ack: p50 %.2f ms, p99 %.2f ms; the writes themselves: p50 "
        "%.2f ms, p99 %.2f ms, max %.2f ms)\n",
        percentileMs(lat_ack, 0.5), percentileMs(lat_ack, 0.99), percentileMs(write_lat, 0.5),
        percentileMs(write_lat, 0.99), percentileMs(write_lat, 1.0));
    // A durable commit that the disk holds up delays that write, and the writes queued behind
    // it then commit and fan out together as one burst.
    std::printf("  (the server's store calls: %s)\n", storeStalls(store0, store1).c_str());
    line(fmt("watch: server threads %ld idle with %zu streams, max %ld during the writes",
             threads_idle, live.size(), threads_max.load()),
         "no thread per watcher");
    std::printf("  (%d opens failed, %zu non-200, %zu streams ended, %zu write errors, %zu events "
                "before the ack counted 0, srv %.0f us CPU per write incl. fan-out)\n",
                failed.load(), non200, broken, write_errors, early, write_cpu);
    size_t delivered = 0;
    for (auto* w : live) delivered += w->got.size();
    std::printf("  (whole phase incl. drain: server %.0f ms CPU = %.2f us per delivered event, "
                "this client %.0f ms CPU = %.2f us per event)\n",
                srv_phase_ms, delivered ? srv_phase_ms * 1000 / delivered : 0.0, client_phase_ms,
                delivered ? client_phase_ms * 1000 / delivered : 0.0);
    for (auto& w : ws)
      if (w) w->conn.close();
  }
  rssNote("after the watch phase");

  // ---- RSS with N pods stored ----
  {
    size_t have = stored.load();
    size_t need = f.pods > have ? f.pods - have : 0;
    double secs = 0;
    size_t errors = 0;
    if (need) {
      auto r = runLoad(tls, port, f.conns, 600, need, [&](Conn& c, size_t i, Response* rp) {
        return doRoundTrip(c, "POST", pods_path, podBody(fmt("rss-%07zu", i)), rp);
      });
      have += r.ok;
      secs = r.seconds;
      errors = r.errors;
      std::printf("  filled %zu more pods in %.1f s (%.0f creates/s, p99 %.2f ms, %zu err)\n",
                  r.ok, r.seconds, r.rate(), percentileMs(r.lat, 0.99), errors);
    }
    (void)secs;
    long rss_kb = berth::bench::statusKb(pid, "VmRSS");
    long hwm_kb = berth::bench::statusKb(pid, "VmHWM");
    double mib = rss_kb / 1024.0;
    // With fewer pods, judge a linear projection from the idle server to 100,000 pods.
    double projected = have >= 100000 || have == 0
                           ? mib
                           : rss_start_mib + (mib - rss_start_mib) * 100000.0 / have;
    line(fmt("rss: %.0f MiB VmRSS (peak %.0f MiB) with %zu pods stored", mib, hwm_kb / 1024.0,
             have),
         have >= 100000 ? fmt("<= 500 MiB at 100,000 pods %s", verdict(mib <= 500))
                        : fmt("<= 500 MiB at 100,000 pods %s (linear projection %.0f MiB)",
                              verdict(projected <= 500), projected));
    std::error_code ec;
    auto db = fs::file_size(srv.dir + "/state.db", ec);
    auto wal = fs::file_size(srv.dir + "/state.db-wal", ec);
    std::printf("  state.db %.1f MB, WAL %.1f MB\n", db / 1e6, ec ? 0.0 : wal / 1e6);
    // The full list at this size, for scale.
    size_t bytes = 0, items = 0;
    double srv = 0;
    double ms = timeList(pods_path, "", 3, &bytes, &items, &srv);
    if (ms >= 0)
      line(fmt("list: %zu pods JSON %.1f ms median of 3 (%.1f MB, srv %.0f ms CPU/list)", items, ms,
               bytes / 1e6, srv),
           "(for scale; target is at 10,000)");
    else
      line(fmt("list: all %zu pods JSON FAILED (connection closed)", have),
           "(for scale; target is at 10,000)");
    rssNote("after the full list");
  }

  admin.close();
  stopServer(&srv);
  if (!f.keep) fs::remove_all(srv.dir);
  else std::printf("api_bench: kept %s\n", srv.dir.c_str());
  SSL_CTX_free(tls.ctx);
  return rc;
}
