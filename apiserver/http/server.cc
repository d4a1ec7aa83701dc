// Implementation notes (the contract is in server.h):
//
// - Every Loop owns an epoll set, an eventfd for wake-ups, and the connections it accepted.
//   All loops wait on the one listening socket with EPOLLEXCLUSIVE, so the kernel hands each
//   new connection to one loop and no socket ever moves between threads.
// - A Conn's socket, TLS state, buffers and parser are touched only by its loop. Other threads
//   talk to it through Conn::enqueue (a mutex-protected list of output items plus a posted
//   drain task) — that is the only cross-thread path into a connection.
// - A complete request is handed to the WorkerPool with a WriterImpl. The loop parses nothing
//   more on that connection (pipelined bytes stay buffered) until the response has ended.
// - Connection lifetime: the loop's map holds the Conn; writers and upgraded handles hold
//   shared_ptrs, so a handle can outlive the socket (and the Server) and simply see closed().
#include "apiserver/http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "apiserver/http/pki.h"
#include "apiserver/http/request_parser.h"
#include "common/openssl_util.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::http {

// ---- Request accessors ----------------------------------------------------------------------

std::string Request::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

bool Request::hasParam(std::string_view name) const {
  return query.find(std::string(name)) != query.end();
}

std::string Request::param(std::string_view name) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? std::string() : it->second;
}

std::vector<std::string> Request::params(std::string_view name) const {
  std::vector<std::string> out;
  auto range = query.equal_range(std::string(name));
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

std::string frameChunk(std::string_view data) {
  if (data.empty()) return {};
  char size[32];
  int n = snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + data.size() + 2);
  out.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
  return out;
}

std::string_view chunkData(std::string_view framed) {
  size_t head = framed.find("\r\n");
  if (head == std::string_view::npos || framed.size() < head + 4) return {};
  return framed.substr(head + 2, framed.size() - head - 4);
}

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16 * 1024;
// Stop reading a connection whose input nobody consumes yet (a request is with the handler,
// or an upgraded stream has no reader yet) once this much is buffered.
constexpr size_t kMaxBufferedInput = 256 * 1024;
// A client that does not read its stream is dropped rather than buffered without bound.
constexpr size_t kMaxBufferedOutput = 64 * 1024 * 1024;
// A stream fed shared chunks (a watch) is cut off sooner, as upstream's watch cache closes a
// watcher whose buffer is full: the client re-watches from its last resourceVersion, and a
// thousand slow watchers cannot hold a copy of every event each.
constexpr size_t kMaxSharedStreamBacklog = 8 * 1024 * 1024;
constexpr size_t kMaxTlsWrite = 64 * 1024;
// TLS records are encrypted into the connection's own buffer and sent with one system call
// once this much is ready (or the output is empty): a stream that is behind sends several
// 16 KiB records per `send` instead of one record per `write`.
constexpr size_t kTlsSendBatch = 128 * 1024;
// A streamed body's next piece is produced when less than this is left to send.
constexpr size_t kSourceLowWater = 512 * 1024;
constexpr size_t kKeptOutputCapacity = 256 * 1024;
constexpr auto kDrainTimeout = std::chrono::seconds(2);
constexpr size_t kMaxQueuedRequests = 10000;

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

// "Date: Sun, 06 Nov 1994 08:49:37 GMT", formatted once per second per thread.
const std::string& httpDate() {
  thread_local time_t cached_at = 0;
  thread_local std::string cached;
  time_t now = time(nullptr);
  if (now != cached_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_at = now;
  }
  return cached;
}


// ---- Worker pool ----------------------------------------------------------------------------

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~WorkerPool() { stop(); }

  bool submit(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void run() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// State every loop shares; outlives the Server while connections' handles exist.
class Loop;

struct Core {
  Options options;
  Handler handler;
  SSL_CTX* ssl_ctx = nullptr;
  std::unique_ptr<WorkerPool> pool;
  std::atomic<size_t> open_connections{0};
  // Every loop, set before they start and unchanged until they are joined: a loop that
  // accepts a connection hands it to the next loop in turn, so long-lived streams (watches)
  // are spread evenly instead of going to whichever loop woke first.
  std::vector<Loop*> loops;
  std::atomic<size_t> next_loop{0};

  ~Core() {
    if (ssl_ctx) SSL_CTX_free(ssl_ctx);
  }
};

class Conn;

// ---- Event loop -----------------------------------------------------------------------------

class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(std::shared_ptr<Core> core, int listen_fd) : core_(std::move(core)), listen_fd_(listen_fd) {}
  ~Loop() {
    if (epfd_ >= 0) ::close(epfd_);
    if (wakefd_ >= 0) ::close(wakefd_);
  }

  Status init();
  void start() { thread_ = std::thread([self = shared_from_this()] { self->run(); }); }
  // Runs fn on the loop thread. Returns false (and drops fn) once the loop has stopped.
  // Posted from the loop thread itself, fn runs once the current events are handled, without
  // a wake-up (an inline request's answer is sent that way).
  bool post(std::function<void()> fn);
  void stopAndJoin();
  bool inLoop() const { return std::this_thread::get_id() == loop_tid_.load(); }

  void setEvents(int fd, uint32_t events);
  void removeConn(int fd);
  // Loop thread only: takes an accepted socket (and its unstarted SSL) into this loop.
  void adopt(int fd, SSL* ssl, std::string remote);
  // Connections this loop owns (any thread).
  size_t owned() const { return owned_.load(std::memory_order_relaxed); }
  Core& core() { return *core_; }

 private:
  void run();
  void acceptSome();
  void runTasks(bool woken);
  void sweep(SteadyClock::time_point now);

  std::shared_ptr<Core> core_;
  int listen_fd_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> loop_tid_{};
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  bool wake_pending_ = false;
  bool local_tasks_ = false;  // loop thread only: tasks posted by the loop itself are waiting
  bool stopped_ = false;
  bool quit_ = false;
  std::unordered_map<int, std::shared_ptr<Conn>> conns_;
  std::atomic<size_t> owned_{0};
};

// ---- Connection -----------------------------------------------------------------------------

// The bytes a connection has yet to send, as a queue of segments sent front to back. Small
// appends join the last segment, so many small writes (a head and a short body) go out as one
// TLS record and one system call; a large body is queued as it is (moved), and a shared chunk
// (a watch event) by reference, so neither is copied or compacted while it is sent. Loop
// thread only.
class OutBuffer {
 public:
  static constexpr size_t kOwnSegment = 64 * 1024;  // bodies this large keep their own segment

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // The front segment is never empty while bytes are queued; the one empty segment there may
  // be is the cleared buffer consume() keeps, last in the queue.
  void append(std::string_view bytes) {
    if (bytes.empty()) return;
    if (segs_.empty() || segs_.back().shared || segs_.back().own.size() >= kOwnSegment)
      segs_.emplace_back();
    segs_.back().own.append(bytes);
    size_ += bytes.size();
  }
  void append(std::string&& bytes) {
    if (bytes.size() < kOwnSegment) return append(std::string_view(bytes));
    size_ += bytes.size();
    if (!segs_.empty() && !segs_.back().shared && segs_.back().own.empty())
      segs_.back().own = std::move(bytes);
    else
      segs_.emplace_back().own = std::move(bytes);
  }
  // Queues bytes that other connections send too, without copying them. Behind other output
  // they are copied in instead, so that a stream that is behind still sends full records.
  void appendShared(std::shared_ptr<const std::string> bytes) {
    if (!bytes || bytes->empty()) return;
    if (size_ != 0) return append(std::string_view(*bytes));
    size_ += bytes->size();
    segs_.emplace_front().shared = std::move(bytes);  // ahead of the kept empty buffer, if any
  }

  // The unsent bytes of the front segment (empty when nothing is queued).
  std::string_view front() const {
    if (segs_.empty()) return {};
    return segs_.front().view().substr(off_);
  }

  // Marks n bytes of front() sent. A finished small segment of its own is kept, cleared, for
  // the next writes (a stream reuses one buffer); a large or shared one is released.
  void consume(size_t n) {
    off_ += n;
    size_ -= n;
    while (!segs_.empty() && off_ == segs_.front().view().size()) {
      off_ = 0;
      Seg& f = segs_.front();
      if (segs_.size() == 1 && !f.shared && f.own.capacity() <= kKeptOutputCapacity) {
        f.own.clear();
        break;
      }
      segs_.pop_front();
    }
  }

 private:
  struct Seg {
    std::string own;
    std::shared_ptr<const std::string> shared;
    std::string_view view() const {
      return shared ? std::string_view(*shared) : std::string_view(own);
    }
  };

  std::deque<Seg> segs_;
  size_t off_ = 0;   // sent bytes of segs_.front()
  size_t size_ = 0;  // unsent bytes in all segments
};

struct OutItem {
  enum Kind { kData, kEndResponse, kUpgrade, kClose, kSource };
  Kind kind;
  std::string bytes;
  bool close_after = false;
  // kData only: a framed chunk shared with other connections, sent instead of `bytes`.
  std::shared_ptr<const std::string> shared_chunk;
  // kSource only: the rest of the response, pulled as the output drains.
  std::shared_ptr<ResponseWriter::BodySource> source;
};

// The write side of a connection's TLS: OpenSSL hands each encrypted record to the connection
// (Conn::takeTlsBytes, which never blocks), and the connection sends it itself.
int tlsOutWrite(BIO* bio, const char* data, int len);

long tlsOutCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* tlsOutMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "berth tls output");
    BIO_meth_set_write(m, tlsOutWrite);
    BIO_meth_set_ctrl(m, tlsOutCtrl);
    return m;
  }();
  return method;
}

class WriterImpl;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<Loop> loop, int fd, SSL* ssl, std::string remote)
      : loop_(std::move(loop)),
        fd_(fd),
        ssl_(ssl),
        remote_(std::move(remote)),
        parser_(loop_->core().options.max_header_bytes, loop_->core().options.max_body_bytes),
        last_activity_(SteadyClock::now()) {
    if (ssl_) {
      BIO* out = BIO_new(tlsOutMethod());
      BIO_set_data(out, this);
      BIO_set_init(out, 1);
      SSL_set0_wbio(ssl_, out);  // reads stay on the socket BIO SSL_set_fd made
    }
  }
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Any thread. Returns false once the connection is closed.
  bool enqueue(OutItem item);
  bool isClosed() const { return closed_.load(std::memory_order_acquire); }
  Loop& loop() { return *loop_; }

  // Loop thread only.
  void onEvent(uint32_t events);
  void close(const char* why);
  void maybeExpire(SteadyClock::time_point now);
  void setUpgradeOnData(std::function<void(std::string_view)> fn);
  void setUpgradeOnClose(std::function<void()> fn);
  uint32_t events() const { return events_; }
  // OpenSSL's output (through the connection's write BIO).
  void takeTlsBytes(const char* data, size_t len);

 private:
  enum class Io { kOk, kAgain, kEof, kError };
  Io rawRead(char* buf, size_t cap, size_t* n);
  Io rawWrite(const char* buf, size_t len, size_t* n);
  // Sends the encrypted bytes waiting in tls_out_ (kOk once all are sent).
  Io sendTls();
  bool tlsPending() const { return tls_sent_ < tls_out_.size(); }
  void doHandshake();
  void doRead();
  void processInput();
  void dispatch();
  void drainPending();
  void appendOut(std::string&& bytes);
  void pullSource();
  void responseDone();
  void flush();
  // flush() for TLS: false when the connection was closed.
  bool flushTls();
  void sendErrorAndClose(int status, const std::string& message);
  void updateInterest();
  bool throttled() const;
  void extractIdentity();

  std::shared_ptr<Loop> loop_;
  int fd_;
  SSL* ssl_;
  std::string remote_;

  // Shared with other threads.
  std::mutex mu_;
  std::vector<OutItem> pending_;
  bool drain_posted_ = false;
  std::atomic<bool> closed_{false};

  // Loop thread only.
  RequestParser parser_;
  bool handshake_done_ = false;
  std::string in_;
  OutBuffer out_;
  bool shared_stream_ = false;  // the response stream carries shared chunks (a watch)
  std::string tls_out_;  // encrypted records not yet sent, from tls_sent_ on
  size_t tls_sent_ = 0;
  bool tls_write_wants_read_ = false;
  bool busy_ = false;
  bool close_after_flush_ = false;
  bool draining_ = false;
  bool upgraded_ = false;
  uint32_t events_ = EPOLLIN | EPOLLRDHUP;  // as registered at accept
  SteadyClock::time_point last_activity_;
  SteadyClock::time_point drain_deadline_;
  std::weak_ptr<WriterImpl> writer_;
  std::shared_ptr<ResponseWriter::BodySource> source_;  // a streamed body still being produced
  bool source_close_after_ = false;
  std::function<void(std::string_view)> on_data_;
  std::function<void()> on_upgrade_close_;
  std::string cert_cn_;
  std::vector<std::string> cert_orgs_;
};

int tlsOutWrite(BIO* bio, const char* data, int len) {
  static_cast<Conn*>(BIO_get_data(bio))->takeTlsBytes(data, static_cast<size_t>(len));
  return len;
}

// ---- ResponseWriter and UpgradedConnection --------------------------------------------------

bool isFramingHeader(const std::string& name) {
  std::string lower = toLower(name);
  return lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
         lower == "date";
}

class UpgradedImpl : public UpgradedConnection {
 public:
  explicit UpgradedImpl(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}
  bool write(std::string_view bytes) override {
    if (bytes.empty()) return !conn_->isClosed();
    return conn_->enqueue({OutItem::kData, std::string(bytes)});
  }
  void close() override { (void)conn_->enqueue({OutItem::kClose, {}}); }
  bool closed() const override { return conn_->isClosed(); }
  void setOnData(std::function<void(std::string_view)> on_data) override {
    auto c = conn_;
    (void)c->loop().post([c, fn = std::move(on_data)]() mutable { c->setUpgradeOnData(std::move(fn)); });
  }
  void setOnClose(std::function<void()> on_close) override {
    auto c = conn_;
    auto shared = std::make_shared<std::function<void()>>(std::move(on_close));
    if (!c->loop().post([c, shared] { c->setUpgradeOnClose(std::move(*shared)); })) {
      if (*shared) (*shared)();  // the loop is gone, so the connection is closed
    }
  }

 private:
  std::shared_ptr<Conn> conn_;
};

class WriterImpl : public ResponseWriter {
 public:
  WriterImpl(std::shared_ptr<Conn> conn, bool keep_alive, bool head)
      : conn_(std::move(conn)), keep_alive_(keep_alive), head_(head) {}

  ~WriterImpl() override {
    // A handler that dropped its writer without answering must not leave the client hanging.
    if (state_ == State::kIdle && !conn_->isClosed()) {
      BLOG(2, "http handler returned without a response");
      respond(500, {{"Content-Type", "text/plain"}}, "handler did not respond\n");
    }
  }

  void respond(int status, const Headers& headers, std::string body) override {
    bool close_after = false;
    std::string head;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kIdle) {
        BLOG_WARN("http respond called twice").kv("status", status);
        return;
      }
      state_ = State::kResponded;
      close_after = !keep_alive_;
      head = statusLine(status, headers, &close_after);
    }
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (!no_body) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (close_after) head += "Connection: close\r\n";
    head += "\r\n";
    if (head_ || no_body) body.clear();
    // Head and body travel separately so a large body is moved, never copied.
    if (body.size() < 64 * 1024) {
      head += body;
      (void)conn_->enqueue({OutItem::kEndResponse, std::move(head), close_after});
    } else {
      (void)conn_->enqueue({OutItem::kData, std::move(head)});
      (void)conn_->enqueue({OutItem::kEndResponse, std::move(body), close_after});
    }
    fireClose();
  }

  void respondStreamed(int status, const Headers& headers, BodySource next) override {
    if (head_) return respond(status, headers, {});
    bool close_after = false;
    std::string head;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kIdle) {
        BLOG_WARN("http respondStreamed after a response").kv("status", status);
        return;
      }
      state_ = State::kResponded;
      close_after = !keep_alive_;
      head = statusLine(status, headers, &close_after);
    }
    head += "Transfer-Encoding: chunked\r\n";
    if (close_after) head += "Connection: close\r\n";
    head += "\r\n";
    (void)conn_->enqueue({OutItem::kData, std::move(head)});
    OutItem src{OutItem::kSource, {}, close_after};
    src.source = std::make_shared<BodySource>(std::move(next));
    (void)conn_->enqueue(std::move(src));
    fireClose();
  }

  void startStream(int status, const Headers& headers) override {
    std::string head;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kIdle) {
        BLOG_WARN("http startStream after a response").kv("status", status);
        return;
      }
      state_ = State::kStreaming;
      close_after_ = !keep_alive_;
      head = statusLine(status, headers, &close_after_);
    }
    head += "Transfer-Encoding: chunked\r\n";
    if (close_after_) head += "Connection: close\r\n";
    head += "\r\n";
    (void)conn_->enqueue({OutItem::kData, std::move(head)});
  }

  bool writeChunk(std::string_view data) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kStreaming) return false;
    }
    if (data.empty()) return !conn_->isClosed();  // an empty chunk would end the stream
    return conn_->enqueue({OutItem::kData, frameChunk(data)});
  }

  bool writeSharedChunk(std::shared_ptr<const std::string> framed) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kStreaming) return false;
    }
    if (!framed || framed->empty()) return !conn_->isClosed();
    return conn_->enqueue({OutItem::kData, std::string(), false, std::move(framed)});
  }

  void endStream() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kStreaming) return;
      state_ = State::kEnded;
    }
    (void)conn_->enqueue({OutItem::kEndResponse, "0\r\n\r\n", close_after_});
    fireClose();
  }

  std::shared_ptr<UpgradedConnection> upgrade(const Headers& headers) override {
    std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kIdle) return nullptr;
      state_ = State::kUpgraded;
    }
    for (const auto& [k, v] : headers) {
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    head += "\r\n";
    auto up = std::make_shared<UpgradedImpl>(conn_);
    (void)conn_->enqueue({OutItem::kUpgrade, std::move(head)});
    fireClose();
    return up;
  }

  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return close_fired_ || conn_->isClosed();
  }

  void setOnClose(std::function<void()> on_close) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!close_fired_) {
        on_close_ = std::move(on_close);
        return;
      }
    }
    runOnLoop(std::move(on_close));
  }

  // The connection closed (loop thread).
  void onConnClosed() { fireClose(); }

 private:
  enum class State { kIdle, kResponded, kStreaming, kEnded, kUpgraded };

  std::string statusLine(int status, const Headers& headers, bool* close_after) {
    std::string head = "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += reasonPhrase(status);
    head += "\r\n";
    for (const auto& [k, v] : headers) {
      if (isFramingHeader(k)) {
        if (toLower(k) == "connection" && toLower(v).find("close") != std::string::npos) {
          *close_after = true;
        }
        continue;
      }
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    head += "Date: ";
    head += httpDate();
    head += "\r\n";
    return head;
  }

  void fireClose() {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (close_fired_) return;
      close_fired_ = true;
      fn = std::move(on_close_);
      on_close_ = nullptr;
    }
    if (fn) runOnLoop(std::move(fn));
  }

  void runOnLoop(std::function<void()> fn) {
    if (!fn) return;
    if (conn_->loop().inLoop()) {
      fn();
      return;
    }
    auto shared = std::make_shared<std::function<void()>>(std::move(fn));
    if (!conn_->loop().post([shared] { (*shared)(); })) (*shared)();
  }

  std::shared_ptr<Conn> conn_;
  const bool keep_alive_;
  const bool head_;
  bool close_after_ = false;
  mutable std::mutex mu_;
  State state_ = State::kIdle;
  bool close_fired_ = false;
  std::function<void()> on_close_;
};

// ---- Conn implementation --------------------------------------------------------------------

bool Conn::enqueue(OutItem item) {
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (isClosed()) return false;
    pending_.push_back(std::move(item));
    if (!drain_posted_) {
      drain_posted_ = true;
      post = true;
    }
  }
  if (post) {
    auto self = shared_from_this();
    if (!loop_->post([self] { self->drainPending(); })) return false;
  }
  return true;
}

void Conn::appendOut(std::string&& bytes) { out_.append(std::move(bytes)); }

void Conn::drainPending() {
  std::vector<OutItem> items;
  {
    std::lock_guard<std::mutex> lock(mu_);
    items.swap(pending_);
    drain_posted_ = false;
  }
  if (isClosed()) return;
  bool request_done = false;
  for (auto& item : items) {
    switch (item.kind) {
      case OutItem::kData:
        if (item.shared_chunk) {
          shared_stream_ = true;
          out_.appendShared(std::move(item.shared_chunk));
        } else {
          appendOut(std::move(item.bytes));
        }
        break;
      case OutItem::kEndResponse:
        appendOut(std::move(item.bytes));
        busy_ = false;
        writer_.reset();
        request_done = true;
        if (item.close_after) close_after_flush_ = true;
        break;
      case OutItem::kUpgrade:
        out_.append(std::string_view(item.bytes));
        busy_ = false;
        upgraded_ = true;
        writer_.reset();
        break;
      case OutItem::kClose:
        close_after_flush_ = true;
        break;
      case OutItem::kSource:
        source_ = std::move(item.source);
        source_close_after_ = item.close_after;
        break;
    }
  }
  // A stream whose client does not keep up is cut off; a complete response is bounded by
  // its own size and is always sent.
  size_t backlog = out_.size() + (tls_out_.size() - tls_sent_);
  if (!request_done && (backlog > kMaxBufferedOutput ||
                        (shared_stream_ && backlog > kMaxSharedStreamBacklog))) {
    close("client too slow");
    return;
  }
  flush();
  if (isClosed()) return;
  if (request_done && !close_after_flush_) {
    last_activity_ = SteadyClock::now();
    processInput();
    // Reading may have been paused while the handler ran; SSL may also hold decrypted bytes
    // that epoll cannot report.
    if (!isClosed() && !busy_) doRead();
  }
}

Conn::Io Conn::rawRead(char* buf, size_t cap, size_t* n) {
  if (!ssl_) {
    ssize_t r = ::recv(fd_, buf, cap, 0);
    if (r > 0) {
      *n = static_cast<size_t>(r);
      return Io::kOk;
    }
    if (r == 0) return Io::kEof;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Io::kAgain;
    return Io::kError;
  }
  ERR_clear_error();
  int r = SSL_read(ssl_, buf, static_cast<int>(cap));
  // Reading may answer the peer (an alert, a key update): those records go out with the
  // next send; sendTls leaves what the socket does not take for flush.
  if (tlsPending() && sendTls() == Io::kError) return Io::kError;
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Io::kOk;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return Io::kAgain;
    case SSL_ERROR_WANT_WRITE:
      events_ |= EPOLLOUT;
      loop_->setEvents(fd_, events_);
      return Io::kAgain;
    case SSL_ERROR_ZERO_RETURN:
      return Io::kEof;
    case SSL_ERROR_SYSCALL:
      if (errno == EAGAIN || errno == EINTR) return Io::kAgain;
      return ERR_peek_error() == 0 && errno == 0 ? Io::kEof : Io::kError;
    default:
      return Io::kError;
  }
}

Conn::Io Conn::rawWrite(const char* buf, size_t len, size_t* n) {
  if (!ssl_) {
    ssize_t r = ::send(fd_, buf, len, MSG_NOSIGNAL);
    if (r >= 0) {
      *n = static_cast<size_t>(r);
      return Io::kOk;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Io::kAgain;
    return Io::kError;
  }
  ERR_clear_error();
  int r = SSL_write(ssl_, buf, static_cast<int>(len));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Io::kOk;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_WRITE:
      return Io::kAgain;
    case SSL_ERROR_WANT_READ:
      tls_write_wants_read_ = true;
      return Io::kAgain;
    default:
      return Io::kError;
  }
}

Conn::Io Conn::sendTls() {
  while (tls_sent_ < tls_out_.size()) {
    ssize_t r = ::send(fd_, tls_out_.data() + tls_sent_, tls_out_.size() - tls_sent_, MSG_NOSIGNAL);
    if (r >= 0) {
      tls_sent_ += static_cast<size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kAgain;
    return Io::kError;
  }
  tls_sent_ = 0;
  if (tls_out_.capacity() > kMaxTlsWrite) std::string().swap(tls_out_);  // idle streams keep little
  else tls_out_.clear();
  return Io::kOk;
}

// A watch stream sends each record as it is encrypted when nothing waits ahead of it: its
// events come one or a few at a time, and this spares copying every event into tls_out_.
// Other responses gather records in tls_out_ and send up to kTlsSendBatch per system call.
void Conn::takeTlsBytes(const char* data, size_t len) {
  if (shared_stream_ && !tlsPending()) {
    ssize_t r = ::send(fd_, data, len, MSG_NOSIGNAL);
    if (r == static_cast<ssize_t>(len)) return;
    if (r > 0) {
      data += r;
      len -= static_cast<size_t>(r);
    }
    // The socket is full, or failed: the rest waits in tls_out_, and sendTls sends it or
    // reports the error.
  }
  tls_out_.append(data, len);
}

bool Conn::throttled() const {
  if (in_.size() < kMaxBufferedInput) return false;
  return busy_ || (upgraded_ && !on_data_);
}

void Conn::updateInterest() {
  if (isClosed()) return;
  uint32_t ev = EPOLLRDHUP;
  if (!throttled()) ev |= EPOLLIN;
  if (!out_.empty() || !handshake_done_) ev |= (events_ & EPOLLOUT);
  if (!out_.empty() || tlsPending()) ev |= EPOLLOUT;
  if (ev != events_) {
    events_ = ev;
    loop_->setEvents(fd_, ev);
  }
}

void Conn::onEvent(uint32_t events) {
  auto self = shared_from_this();
  if (events & EPOLLERR) {
    close("socket error");
    return;
  }
  if (!handshake_done_) {
    doHandshake();
    if (isClosed() || !handshake_done_) return;
    // The client's first request may already sit decrypted inside SSL, where epoll cannot
    // see it.
    events |= EPOLLIN;
  }
  if ((events & (EPOLLRDHUP | EPOLLHUP)) && throttled()) {
    close("peer closed");
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    tls_write_wants_read_ = false;
    doRead();
    if (isClosed()) return;
  }
  if (!out_.empty() || tlsPending()) flush();
  if (!isClosed()) updateInterest();
}

void Conn::doHandshake() {
  if (!ssl_) {
    handshake_done_ = true;
    return;
  }
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
  Io sent = sendTls();  // the handshake's records
  if (sent == Io::kError) {
    close("write error");
    return;
  }
  if (r == 1) {
    handshake_done_ = true;
    extractIdentity();
    events_ &= ~EPOLLOUT;
    updateInterest();  // asks for EPOLLOUT while records are unsent
    return;
  }
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: {
      uint32_t ev = sent == Io::kAgain ? (events_ | EPOLLOUT) : (events_ & ~EPOLLOUT);
      if (ev != events_) {
        events_ = ev;
        loop_->setEvents(fd_, events_);
      }
      return;
    }
    default:
      BLOG(4, "tls handshake failed").kv("remote", remote_).kv("error", ssl::errors());
      close("tls handshake failed");
  }
}

void Conn::extractIdentity() {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return;
  if (SSL_get_verify_result(ssl_) == X509_V_OK) {
    X509_NAME* name = X509_get_subject_name(cert);
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
      X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
      int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
      if (nid != NID_commonName && nid != NID_organizationName) continue;
      unsigned char* utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
      if (len < 0) continue;
      std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
      if (nid == NID_commonName) cert_cn_ = value;
      else cert_orgs_.push_back(value);
    }
  }
  X509_free(cert);
}

void Conn::doRead() {
  char buf[kReadChunk];
  size_t total = 0;
  while (!throttled()) {
    size_t n = 0;
    Io io = rawRead(buf, sizeof buf, &n);
    if (io == Io::kOk) {
      last_activity_ = SteadyClock::now();
      if (!draining_) in_.append(buf, n);
      total += n;
      // Be fair to the other connections of this loop; level-triggered epoll brings us back.
      if (total >= 4 * kReadChunk && !ssl_) break;
      continue;
    }
    if (io == Io::kAgain) break;
    close(io == Io::kEof ? "peer closed" : "read error");
    return;
  }
  processInput();
  if (!isClosed()) updateInterest();
}

void Conn::processInput() {
  if (isClosed() || draining_) return;
  if (upgraded_) {
    if (on_data_ && !in_.empty()) {
      std::string data;
      data.swap(in_);
      on_data_(data);
    }
    return;
  }
  while (!busy_ && !close_after_flush_) {
    size_t used = 0;
    auto state = parser_.parse(in_, &used);
    in_.erase(0, used);
    if (state == RequestParser::State::kError) {
      BLOG(4, "http bad request").kv("remote", remote_).kv("error", parser_.errorMessage());
      sendErrorAndClose(parser_.errorStatus(), parser_.errorMessage());
      return;
    }
    if (state == RequestParser::State::kNeedMore) {
      if (parser_.wantsContinue()) {
        parser_.continueSent();
        out_.append(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
        flush();
      }
      return;
    }
    dispatch();
  }
}

void Conn::sendErrorAndClose(int status, const std::string& message) {
  std::string body = message + "\n";
  out_.append("HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) + "\r\n" +
              "Content-Type: text/plain\r\nConnection: close\r\nDate: " + httpDate() + "\r\n" +
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  close_after_flush_ = true;
  in_.clear();
  flush();
}

// Runs the handler; an exception becomes a 500 (if nothing was sent yet).
void runHandler(const Handler& handler, Request& req, std::shared_ptr<WriterImpl> writer) {
  try {
    handler(req, writer);
  } catch (const std::exception& e) {
    BLOG_ERROR("http handler threw").kv("path", req.path).kv("error", e.what());
    writer->respond(500, {{"Content-Type", "text/plain"}}, "internal error\n");
  } catch (...) {
    BLOG_ERROR("http handler threw").kv("path", req.path);
    writer->respond(500, {{"Content-Type", "text/plain"}}, "internal error\n");
  }
}

void Conn::dispatch() {
  Request req = std::move(parser_.request());
  bool keep_alive = parser_.keepAlive();
  parser_.reset();
  req.client_cert_cn = cert_cn_;
  req.client_cert_orgs = cert_orgs_;
  req.remote_addr = remote_;
  bool head = req.method == "HEAD";
  busy_ = true;
  auto writer = std::make_shared<WriterImpl>(shared_from_this(), keep_alive, head);
  writer_ = writer;
  Core& core = loop_->core();
  if (core.options.run_inline && core.options.run_inline(req)) {
    // The answer is queued through the loop's own task list (no wake-up), see Loop::post.
    runHandler(core.handler, req, std::move(writer));
    return;
  }
  auto task = [handler = &core.handler, req = std::move(req), writer]() mutable {
    runHandler(*handler, req, std::move(writer));
  };
  if (!core.pool->submit(std::move(task))) {
    writer->respond(503, {{"Content-Type", "text/plain"}, {"Retry-After", "1"}},
                    "server overloaded\n");
  }
}

void Conn::pullSource() {
  std::string piece;
  bool more = false;
  try {
    more = (*source_)(&piece);
  } catch (const std::exception& e) {
    BLOG_ERROR("http body source failed").kv("err", e.what());
    close("body source failed");
    return;
  }
  if (!piece.empty()) {
    char size[32];
    int n = snprintf(size, sizeof size, "%zx\r\n", piece.size());
    out_.append(std::string_view(size, n));
    out_.append(std::move(piece));
    out_.append(std::string_view("\r\n"));
  }
  if (more) return;
  out_.append(std::string_view("0\r\n\r\n"));
  source_.reset();
  busy_ = false;
  writer_.reset();
  if (source_close_after_) close_after_flush_ = true;
  // Pipelined requests are read once this flush is over, not from inside it.
  auto self = shared_from_this();
  (void)loop_->post([self] { self->responseDone(); });
}

void Conn::responseDone() {
  if (isClosed() || close_after_flush_ || busy_) return;
  last_activity_ = SteadyClock::now();
  processInput();
  if (!isClosed() && !busy_) doRead();
}

bool Conn::flushTls() {
  while (true) {
    // Encrypt up to a batch of output, then send it with as few system calls as the socket
    // allows; stop when the socket is full or everything is sent.
    bool wants_read = false;
    while (tls_out_.size() - tls_sent_ < kTlsSendBatch) {
      if (source_ && out_.size() < kSourceLowWater) {
        pullSource();
        if (isClosed()) return false;
      }
      if (out_.empty()) break;
      std::string_view front = out_.front();
      size_t n = 0;
      Io io = rawWrite(front.data(), std::min(front.size(), kMaxTlsWrite), &n);
      if (io == Io::kOk) {
        out_.consume(n);
        continue;
      }
      if (io == Io::kAgain) {
        wants_read = true;
        break;
      }
      close("write error");
      return false;
    }
    Io io = sendTls();
    if (io == Io::kError) {
      close("write error");
      return false;
    }
    if (io == Io::kAgain || wants_read || out_.empty()) return true;
  }
}

void Conn::flush() {
  while (true) {
    // A streamed body is produced as the output drains, a piece ahead of the socket.
    if (source_ && out_.size() < kSourceLowWater) {
      pullSource();
      if (isClosed()) return;
    }
    if (ssl_) {
      if (!flushTls()) return;
      break;
    }
    if (out_.empty()) break;
    std::string_view front = out_.front();
    size_t n = 0;
    Io io = rawWrite(front.data(), front.size(), &n);
    if (io == Io::kOk) {
      out_.consume(n);
      continue;
    }
    if (io == Io::kAgain) break;
    close("write error");
    return;
  }
  if (out_.empty() && !tlsPending() && close_after_flush_ && !draining_) {
    // Lingering close: send FIN (and close_notify), then discard input until the peer
    // closes, so unread request bytes do not turn our FIN into an RST that eats the answer.
    if (ssl_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
      (void)sendTls();  // best effort, as a close_notify the socket cannot take is dropped
    }
    ::shutdown(fd_, SHUT_WR);
    draining_ = true;
    in_.clear();
    drain_deadline_ = SteadyClock::now() + kDrainTimeout;
  }
  updateInterest();
}

void Conn::close(const char* why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (isClosed()) return;
    closed_.store(true, std::memory_order_release);
    pending_.clear();
  }
  auto self = shared_from_this();
  BLOG(5, "http connection closed").kv("remote", remote_).kv("reason", why);
  loop_->removeConn(fd_);
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
  loop_->core().open_connections.fetch_sub(1);
  if (auto w = writer_.lock()) w->onConnClosed();
  writer_.reset();
  source_.reset();
  on_data_ = nullptr;
  if (auto fn = std::move(on_upgrade_close_)) {
    on_upgrade_close_ = nullptr;
    fn();
  }
}

void Conn::maybeExpire(SteadyClock::time_point now) {
  if (draining_) {
    if (now >= drain_deadline_) close("drain timeout");
    return;
  }
  if (busy_ || upgraded_) return;
  auto idle = std::chrono::seconds(loop_->core().options.idle_timeout_seconds);
  if (now - last_activity_ >= idle) close("idle timeout");
}

void Conn::setUpgradeOnData(std::function<void(std::string_view)> fn) {
  if (isClosed()) return;
  on_data_ = std::move(fn);
  processInput();
  if (!isClosed()) doRead();  // reading may have been paused while nobody consumed input
}

void Conn::setUpgradeOnClose(std::function<void()> fn) {
  if (isClosed()) {
    if (fn) fn();
    return;
  }
  on_upgrade_close_ = std::move(fn);
}

// ---- Loop implementation --------------------------------------------------------------------

Status Loop::init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return internalError(std::string("epoll_create1: ") + strerror(errno));
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return internalError(std::string("eventfd: ") + strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0) {
    return internalError(std::string("epoll_ctl(eventfd): ") + strerror(errno));
  }
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.fd = listen_fd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    return internalError(std::string("epoll_ctl(listener): ") + strerror(errno));
  }
  return Status::ok();
}

bool Loop::post(std::function<void()> fn) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return false;
    tasks_.push_back(std::move(fn));
    if (inLoop()) {
      local_tasks_ = true;  // run() picks it up before it waits again
      return true;
    }
    if (!wake_pending_) {
      wake_pending_ = true;
      wake = true;
    }
    if (wake) {
      uint64_t one = 1;
      ssize_t r = ::write(wakefd_, &one, sizeof one);
      (void)r;
    }
  }
  return true;
}

void Loop::setEvents(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void Loop::removeConn(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  if (conns_.erase(fd)) owned_.fetch_sub(1, std::memory_order_relaxed);
}

void Loop::stopAndJoin() {
  bool posted = post([this] {
    quit_ = true;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    std::vector<std::shared_ptr<Conn>> all;
    for (auto& [fd, c] : conns_) all.push_back(c);
    for (auto& c : all) c->close("server stopping");
  });
  if (posted && thread_.joinable()) thread_.join();
  // Tasks posted after the loop's last turn still run (here, now that no loop thread exists):
  // they carry onClose callbacks that callers were promised.
  std::vector<std::function<void()>> leftover;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    leftover.swap(tasks_);
  }
  for (auto& t : leftover) t();
}

void Loop::runTasks(bool woken) {
  if (woken) {
    uint64_t v;
    ssize_t r = ::read(wakefd_, &v, sizeof v);
    (void)r;
  }
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
    wake_pending_ = false;
  }
  for (auto& t : tasks) t();
}

void Loop::acceptSome() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        BLOG_WARN("http accept failed").kv("error", strerror(errno));
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    std::string remote = addr.ss_family == AF_INET6 ? "[" + std::string(host) + "]" : host;
    remote += ":" + std::to_string(port);
    SSL* ssl = nullptr;
    if (core_->ssl_ctx) {
      ssl = SSL_new(core_->ssl_ctx);
      if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        BLOG_WARN("http SSL_new failed").kv("error", ssl::errors());
        if (ssl) SSL_free(ssl);
        ::close(fd);
        continue;
      }
      SSL_set_accept_state(ssl);
    }
    const auto& loops = core_->loops;
    Loop* target = loops.empty() ? this : loops[core_->next_loop.fetch_add(1) % loops.size()];
    if (target == this) {
      adopt(fd, ssl, std::move(remote));
      continue;
    }
    auto to = target->shared_from_this();
    bool posted = target->post([to, fd, ssl, remote = std::move(remote)]() mutable {
      to->adopt(fd, ssl, std::move(remote));
    });
    if (!posted) {  // that loop is stopping
      if (ssl) SSL_free(ssl);
      ::close(fd);
    }
  }
}

void Loop::adopt(int fd, SSL* ssl, std::string remote) {
  if (quit_) {  // handed over while this loop was stopping
    if (ssl) SSL_free(ssl);
    ::close(fd);
    return;
  }
  auto conn = std::make_shared<Conn>(shared_from_this(), fd, ssl, std::move(remote));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    BLOG_WARN("http epoll add failed").kv("error", strerror(errno));
    return;  // ~Conn closes the socket
  }
  core_->open_connections.fetch_add(1);
  conns_.emplace(fd, conn);
  owned_.fetch_add(1, std::memory_order_relaxed);
  // The event mask is mirrored in the Conn so updates are cheap to skip.
  conn->onEvent(0);  // starts the TLS handshake if the ClientHello is already here
}

void Loop::sweep(SteadyClock::time_point now) {
  std::vector<std::shared_ptr<Conn>> all;
  all.reserve(conns_.size());
  for (auto& [fd, c] : conns_) all.push_back(c);
  for (auto& c : all) c->maybeExpire(now);
}

void Loop::run() {
  loop_tid_.store(std::this_thread::get_id());
  std::vector<epoll_event> events(256);
  auto last_sweep = SteadyClock::now();
  while (!quit_) {
    // What this loop posted to itself while handling the last events (answers of inline
    // requests, responseDone...) runs before it waits again.
    while (local_tasks_) {
      local_tasks_ = false;
      runTasks(false);
    }
    // Idle and drain deadlines have one-second granularity: one sweep a second per loop.
    int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) {
      BLOG_ERROR("http epoll_wait failed").kv("error", strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wakefd_) {
        runTasks(true);
      } else if (fd == listen_fd_) {
        if (!quit_) acceptSome();
      } else {
        auto it = conns_.find(fd);
        if (it != conns_.end()) {
          auto conn = it->second;
          conn->onEvent(events[i].events);
        }
      }
    }
    auto now = SteadyClock::now();
    if (now - last_sweep >= std::chrono::seconds(1)) {
      last_sweep = now;
      sweep(now);
    }
  }
}

// ---- Server ---------------------------------------------------------------------------------

int alpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  // Offer only http/1.1, and only when the client lists it (kubectl offers h2 first).
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

Result<SSL_CTX*> makeSslContext(const TlsOptions& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return internalError("SSL_CTX_new: " + ssl::errors());
  auto fail = [&](const std::string& what) -> Status {
    std::string err = ssl::errors();
    SSL_CTX_free(ctx);
    return internalError(what + ": " + err);
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return fail("loading serving certificate " + tls.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("loading serving key " + tls.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("serving key does not match certificate");
  static const unsigned char kSid[] = "berth";
  SSL_CTX_set_session_id_context(ctx, kSid, sizeof kSid - 1);
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return fail("loading client CA " + tls.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    // Request, do not require: a client without a certificate may still use a token.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpnSelect, nullptr);
  return ctx;
}

class ServerImpl : public Server {
 public:
  explicit ServerImpl(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~ServerImpl() override { stop(); }

  Status start() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return badRequest("server already started");
    const Options& o = core_->options;
    sockaddr_storage addr{};
    socklen_t addr_len;
    int family;
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    std::string bind = o.bind_address.empty() ? "0.0.0.0" : o.bind_address;
    if (inet_pton(AF_INET, bind.c_str(), &a4->sin_addr) == 1) {
      family = AF_INET;
      a4->sin_family = AF_INET;
      a4->sin_port = htons(static_cast<uint16_t>(o.port));
      addr_len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, bind.c_str(), &a6->sin6_addr) == 1) {
      family = AF_INET6;
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(static_cast<uint16_t>(o.port));
      addr_len = sizeof(sockaddr_in6);
    } else {
      return badRequest("bind address is not an IP address: " + bind);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return internalError(std::string("socket: ") + strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
      int err = errno;
      ::close(fd);
      return Status(Code::kUnavailable, "bind " + bind + ":" + std::to_string(o.port) + ": " +
                                            strerror(err));
    }
    if (::listen(fd, 4096) != 0) {
      int err = errno;
      ::close(fd);
      return internalError(std::string("listen: ") + strerror(err));
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                    : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    listen_fd_ = fd;
    core_->pool = std::make_unique<WorkerPool>(o.worker_threads, kMaxQueuedRequests);
    for (int i = 0; i < o.io_threads; ++i) {
      auto loop = std::make_shared<Loop>(core_, fd);
      Status st = loop->init();
      if (!st.isOk()) {
        stopLocked();
        return st;
      }
      loops_.push_back(loop);
      core_->loops.push_back(loop.get());
    }
    for (auto& l : loops_) l->start();
    started_ = true;
    BLOG(2, "http server listening").kv("address", bind).kv("port", port_).kv("tls", o.tls);
    return Status::ok();
  }

  int port() const override { return port_.load(); }

  void stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stopLocked();
  }

  size_t openConnections() const override { return core_->open_connections.load(); }

  std::vector<size_t> connectionsPerLoop() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<size_t> out;
    for (const auto& l : loops_) out.push_back(l->owned());
    return out;
  }

 private:
  void stopLocked() {
    for (auto& l : loops_) l->stopAndJoin();
    core_->loops.clear();
    loops_.clear();
    if (core_->pool) core_->pool->stop();
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
  }

  std::shared_ptr<Core> core_;
  mutable std::mutex mu_;
  bool started_ = false;
  int listen_fd_ = -1;
  std::atomic<int> port_{0};
  std::vector<std::shared_ptr<Loop>> loops_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::create(const Options& options, Handler handler) {
  if (!handler) return badRequest("http server needs a handler");
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return badRequest("io_threads and worker_threads must be at least 1");
  }
  if (options.port < 0 || options.port > 65535) return badRequest("port out of range");
  // TLS writes go through write(2); a peer that vanished must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  auto core = std::make_shared<Core>();
  core->options = options;
  core->handler = std::move(handler);
  if (options.tls) {
    if (options.tls_options.cert_file.empty() || options.tls_options.key_file.empty()) {
      return badRequest("tls needs cert_file and key_file");
    }
    auto ctx = makeSslContext(options.tls_options);
    if (!ctx.isOk()) return ctx.status();
    core->ssl_ctx = ctx.value();
  }
  return std::unique_ptr<Server>(new ServerImpl(std::move(core)));
}

}  // namespace berth::http
