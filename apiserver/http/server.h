// HTTPS server: an event-driven HTTP/1.1 server on epoll with OpenSSL.
//
// Why not cpp-httplib for serving: it holds one thread per connection (every open watch would
// tie up a thread) and cannot hand a connection over after `Upgrade` (exec, attach,
// port-forward need WebSocket / SPDY). See docs/architecture.md "HTTP layer".
//
// Model: `io_threads` event loops own the sockets and do all TLS reads and writes, non-blocking.
// A complete request is handed to a bounded pool of `worker_threads` that runs the Handler,
// unless Options::run_inline says the Handler may answer it right on the event loop (cheap,
// non-blocking requests: a cached read, a health check), which saves two thread hops.
// The Handler answers through a ResponseWriter, which it may keep after returning (a watch
// keeps its writer and pushes chunks from any thread). Open streams cost memory, not threads.
//
// Thread-safety: Server methods are thread-safe. ResponseWriter and UpgradedConnection methods
// may be called from any thread; writes are queued and flushed by the owning event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth::http {

struct Request {
  std::string method;        // "GET", "POST", ...
  std::string target;        // raw request target, e.g. "/api/v1/pods?limit=500"
  std::string path;          // percent-decoded path, no query
  std::string raw_query;     // text after '?', undecoded
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string> headers;     // keys lower-cased; repeated headers joined ", "
  std::string body;
  bool body_too_large = false;  // body exceeded Options::max_body_bytes and was discarded

  // Identity from a verified TLS client certificate (empty when none was presented).
  std::string client_cert_cn;
  std::vector<std::string> client_cert_orgs;
  std::string remote_addr;

  std::string header(std::string_view lower_name) const;
  bool hasParam(std::string_view name) const;
  std::string param(std::string_view name) const;  // first value, or ""
  std::vector<std::string> params(std::string_view name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// A connection taken over after a 101 Switching Protocols answer.
class UpgradedConnection {
 public:
  virtual ~UpgradedConnection() = default;
  // Queues bytes for sending. Returns false once the connection is closed.
  virtual bool write(std::string_view bytes) = 0;
  // Flushes queued bytes then closes.
  virtual void close() = 0;
  virtual bool closed() const = 0;
  // Called on the event loop with bytes as they arrive, and once when the peer goes away.
  // Set both before returning from the handler; bytes that arrived earlier are replayed.
  virtual void setOnData(std::function<void(std::string_view)> on_data) = 0;
  virtual void setOnClose(std::function<void()> on_close) = 0;
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // A complete response with Content-Length. Call at most once, and not with startStream.
  // Content-Length, Transfer-Encoding, Connection and Date given by the handler are replaced
  // by the server's own ("Connection: close" from the handler is honoured). A handler that
  // drops its last reference without answering gets a 500 sent for it.
  virtual void respond(int status, const Headers& headers, std::string body) = 0;

  // A body produced piece by piece as the socket drains, sent chunked (Transfer-Encoding:
  // chunked): instead of one string holding a whole large list, `next` appends the next piece
  // (a few hundred KiB) to *out and returns false when that was the last one. It runs on the
  // connection's event loop, so each call must be quick (copying prepared bytes, not
  // computing); what it captures lives until the body is sent or the connection closes.
  // Call at most once, instead of respond or startStream; the writer then counts as ended.
  using BodySource = std::function<bool(std::string* out)>;
  virtual void respondStreamed(int status, const Headers& headers, BodySource next) = 0;

  // A chunked response (Transfer-Encoding: chunked). Each writeChunk is flushed at once.
  virtual void startStream(int status, const Headers& headers) = 0;
  // Returns false when the client has gone; the caller should stop streaming.
  virtual bool writeChunk(std::string_view data) = 0;
  // Like writeChunk for bytes that many streams send (a watch event fanned out to every
  // watcher). `framed` is one whole chunk as frameChunk() makes it, framed once for all the
  // streams; it is queued by reference and, when nothing else waits on the connection,
  // encrypted straight from it. It must not change afterwards.
  virtual bool writeSharedChunk(std::shared_ptr<const std::string> framed) = 0;
  virtual void endStream() = 0;

  // Answers 101 with the given headers and hands the raw connection to the caller.
  // The headers are sent as given (include Upgrade and Connection). Returns nullptr if a
  // response was already started. Afterwards this writer counts as ended.
  virtual std::shared_ptr<UpgradedConnection> upgrade(const Headers& headers) = 0;

  // True once the client disconnected (or the response ended).
  virtual bool closed() const = 0;
  // Called once when the connection closes (client went away or server stops), from the loop.
  // Precisely: it fires once, on the connection's event loop, when closed() becomes true —
  // the client went away, the server stopped, or this response ended (respond, endStream,
  // upgrade). Set after that point, it still runs once, promptly, on the loop. Keep it short
  // and do not block in it.
  virtual void setOnClose(std::function<void()> on_close) = 0;
};

// `data` framed as one chunk of a chunked body ("<hex size>\r\n<data>\r\n"), for
// ResponseWriter::writeSharedChunk. Empty data gives an empty string (an empty chunk would end
// the body).
std::string frameChunk(std::string_view data);
// The data of a chunk that frameChunk framed.
std::string_view chunkData(std::string_view framed);

using Handler = std::function<void(Request&, std::shared_ptr<ResponseWriter>)>;

struct TlsOptions {
  std::string cert_file;       // PEM serving certificate (chain)
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // if set, client certificates are requested and verified
};

struct Options {
  std::string bind_address = "127.0.0.1";
  int port = 6443;  // 0 = any free port; see Server::port()
  bool tls = true;  // false only for tests and benchmarks of the plain path
  TlsOptions tls_options;
  int io_threads = 2;
  int worker_threads = 8;
  size_t max_body_bytes = 3 * 1024 * 1024;
  size_t max_header_bytes = 1024 * 1024;
  int idle_timeout_seconds = 300;  // keep-alive connections without an active request
  // Called on the event loop for each complete request: true runs the Handler right there
  // instead of on the worker pool. Only for requests the Handler answers quickly and without
  // blocking (the loop serves every other connection it owns meanwhile). Unset: never inline.
  std::function<bool(const Request&)> run_inline;
};

class Server {
 public:
  virtual ~Server() = default;
  static Result<std::unique_ptr<Server>> create(const Options& options, Handler handler);
  // Binds and starts the loops; returns once listening.
  virtual Status start() = 0;
  virtual int port() const = 0;
  // Closes the listener and every connection (streams see closed()), joins threads.
  virtual void stop() = 0;
  virtual size_t openConnections() const = 0;
  // Connections each event loop owns; accepted connections are dealt to the loops in turn.
  virtual std::vector<size_t> connectionsPerLoop() const = 0;
};

}  // namespace berth::http
