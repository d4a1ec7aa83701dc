// A small blocking HTTP/1.1 test client over TCP or TLS (OpenSSL), reading with deadlines.
// Written for tests: it plays well-behaved clients and badly behaved ones (raw bytes, early
// close) against the real server. One thread per client.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace berth::http::testing {

using Millis = std::chrono::milliseconds;

struct ClientOptions {
  bool tls = true;
  std::string ca_file;    // verify the server against this CA (and its SAN 127.0.0.1)
  std::string cert_pem;   // optional client certificate
  std::string key_pem;
  std::string alpn;       // e.g. "h2,http/1.1" as a comma list; empty = none
  int recv_buffer = 0;    // SO_RCVBUF in bytes before connecting; 0 = the system default
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case keys
  std::string body;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};

class TestClient {
 public:
  // Returns nullptr (and logs to *error) when connecting or the TLS handshake fails.
  static std::unique_ptr<TestClient> connect(int port, const ClientOptions& options,
                                             std::string* error = nullptr);
  ~TestClient();

  bool send(std::string_view data);
  // One full response (Content-Length, chunked, or until close).
  std::optional<Response> readResponse(Millis timeout = Millis(5000));
  // Status line and headers only (for streams and 101/100 answers).
  std::optional<Response> readHead(Millis timeout = Millis(5000));
  // The next chunk of a chunked body; "" for the terminating chunk; nullopt on timeout/close.
  std::optional<std::string> readChunk(Millis timeout = Millis(5000));
  // Exactly n raw bytes (after an upgrade).
  std::optional<std::string> readBytes(size_t n, Millis timeout = Millis(5000));
  // True once the server closed the connection within the timeout.
  bool waitClosed(Millis timeout = Millis(5000));
  std::string alpnSelected() const;
  void close();

 private:
  TestClient() = default;
  // Reads more bytes into buf_; false on timeout, error or EOF (eof_ set).
  bool fill(std::chrono::steady_clock::time_point deadline);
  bool readLine(std::string* line, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  bool eof_ = false;
};

// A raw TCP connection for sending bytes that are not TLS at all.
// recv_buffer > 0 sets SO_RCVBUF (bytes) before connecting.
int rawConnect(int port, int recv_buffer = 0);

}  // namespace berth::http::testing
