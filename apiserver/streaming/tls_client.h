// A blocking TLS client connection with a client certificate, for the API server's calls to
// kubelets (logs, and exec/attach/port-forward upgrades that are then piped byte for byte),
// plus the small HTTP/1.1 pieces those calls need: the request line and headers out, the
// response head and a chunked body in.
//
// Thread-safety: one connection is used by one thread at a time (OpenSSL forbids concurrent
// reads and writes on one session).
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace berth::streaming {

struct TlsClientOptions {
  std::string cert_pem;  // client certificate (PEM); empty: none
  std::string key_pem;
  // Server CA (PEM). Empty: the server certificate is not verified, as upstream's API server
  // does by default for kubelets (their serving certificates are self-signed).
  std::string ca_pem;
  int timeout_ms = 10000;  // connect, handshake and response head
};

class TlsConnection {
 public:
  static Result<std::unique_ptr<TlsConnection>> dial(const std::string& host, int port,
                                                     const TlsClientOptions& options);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  Status writeAll(std::string_view bytes);
  // Reads what is available, waiting up to timeout_ms (-1: forever). Returns the bytes, ""
  // at end of stream, or a kTimeout error.
  Result<std::string> readSome(int timeout_ms);
  // True when decrypted bytes are buffered (poll() on fd() would not show them).
  bool hasBuffered() const;
  int fd() const { return fd_; }

 private:
  TlsConnection(SSL_CTX* ctx, SSL* ssl, int fd) : ctx_(ctx), ssl_(ssl), fd_(fd) {}
  SSL_CTX* ctx_;
  SSL* ssl_;
  int fd_;
};

struct ResponseHead {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string rest;  // bytes read past the head (start of the body or the upgraded stream)
  std::string header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

// Reads and parses the status line and headers (up to 64 KiB), within timeout_ms.
Result<ResponseHead> readResponseHead(TlsConnection& conn, int timeout_ms);

// Incremental decoder of a chunked body: feed bytes, get data. done() after the last chunk.
class ChunkedDecoder {
 public:
  // Appends decoded data to *out. Returns false on malformed framing.
  bool feed(std::string_view bytes, std::string* out);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  State state_ = State::kSize;
  std::string line_;
  size_t remaining_ = 0;
};

}  // namespace berth::streaming
