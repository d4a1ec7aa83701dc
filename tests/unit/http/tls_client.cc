#include "tests/unit/http/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/strings.h"

namespace berth::http::testing {

using Clock = std::chrono::steady_clock;

int rawConnect(int port, int recv_buffer) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Set before connecting, so the window the client offers stays that small.
  if (recv_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &recv_buffer, sizeof recv_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::unique_ptr<TestClient> TestClient::connect(int port, const ClientOptions& o,
                                                std::string* error) {
  std::unique_ptr<TestClient> c(new TestClient());
  auto fail = [&](const std::string& what) -> std::unique_ptr<TestClient> {
    if (error) {
      char buf[256] = "";
      unsigned long e = ERR_get_error();
      if (e) ERR_error_string_n(e, buf, sizeof buf);
      *error = what + ": " + buf;
    }
    return nullptr;
  };
  c->fd_ = rawConnect(port, o.recv_buffer);
  if (c->fd_ < 0) return fail("connect");
  if (!o.tls) return c;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return fail("SSL_CTX_new");
  // Let SSL_read return after a non-data record (TLS 1.3 tickets) so reads honour deadlines.
  SSL_CTX_clear_mode(c->ctx_, SSL_MODE_AUTO_RETRY);
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c->ctx_, o.ca_file.c_str(), nullptr) != 1) {
      return fail("load CA");
    }
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_pem.empty()) {
    BIO* cb = BIO_new_mem_buf(o.cert_pem.data(), static_cast<int>(o.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(o.key_pem.data(), static_cast<int>(o.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    bool ok = cert && key && SSL_CTX_use_certificate(c->ctx_, cert) == 1 &&
              SSL_CTX_use_PrivateKey(c->ctx_, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return fail("client certificate");
  }
  c->ssl_ = SSL_new(c->ctx_);
  SSL_set_fd(c->ssl_, c->fd_);
  if (!o.ca_file.empty()) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl_), "127.0.0.1");
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : split(o.alpn, ',')) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_set_alpn_protos(c->ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (SSL_connect(c->ssl_) != 1) return fail("TLS handshake");
  return c;
}

TestClient::~TestClient() { close(); }

void TestClient::close() {
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string TestClient::alpnSelected() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  if (ssl_) SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : "";
}

bool TestClient::send(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    int n;
    if (ssl_) {
      n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
    } else {
      n = static_cast<int>(::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL));
    }
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool TestClient::fill(Clock::time_point deadline) {
  if (eof_ || fd_ < 0) return false;
  if (!ssl_ || SSL_pending(ssl_) == 0) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
  }
  char buf[16384];
  int n = ssl_ ? SSL_read(ssl_, buf, sizeof buf)
               : static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
  if (n <= 0) {
    // A TLS record that held only session tickets reads as "want read": not an EOF.
    if (ssl_ && SSL_get_error(ssl_, n) == SSL_ERROR_WANT_READ) return true;
    eof_ = true;
    return false;
  }
  buf_.append(buf, static_cast<size_t>(n));
  return true;
}

bool TestClient::readLine(std::string* line, Clock::time_point deadline) {
  while (true) {
    size_t nl = buf_.find("\r\n");
    if (nl != std::string::npos) {
      *line = buf_.substr(0, nl);
      buf_.erase(0, nl + 2);
      return true;
    }
    if (!fill(deadline)) return false;
  }
}

std::optional<Response> TestClient::readHead(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  Response r;
  std::string line;
  if (!readLine(&line, deadline)) return std::nullopt;
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  r.status = std::atoi(line.c_str() + 9);
  while (true) {
    if (!readLine(&line, deadline)) return std::nullopt;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    r.headers[toLower(line.substr(0, colon))] = std::string(trim(line.substr(colon + 1)));
  }
  return r;
}

std::optional<std::string> TestClient::readChunk(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::string line;
  if (!readLine(&line, deadline)) return std::nullopt;
  size_t n = std::stoul(line, nullptr, 16);
  while (buf_.size() < n + 2) {
    if (!fill(deadline)) return std::nullopt;
  }
  std::string data = buf_.substr(0, n);
  buf_.erase(0, n + 2);
  return data;
}

std::optional<std::string> TestClient::readBytes(size_t n, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (buf_.size() < n) {
    if (!fill(deadline)) return std::nullopt;
  }
  std::string data = buf_.substr(0, n);
  buf_.erase(0, n);
  return data;
}

std::optional<Response> TestClient::readResponse(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  auto head = readHead(timeout);
  if (!head) return std::nullopt;
  Response r = std::move(*head);
  if (r.header("transfer-encoding") == "chunked") {
    while (true) {
      auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      auto chunk = readChunk(left);
      if (!chunk) return std::nullopt;
      if (chunk->empty()) break;
      r.body += *chunk;
    }
    return r;
  }
  if (r.headers.count("content-length")) {
    size_t n = std::stoul(r.header("content-length"));
    auto body = readBytes(n, std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (!body) return std::nullopt;
    r.body = *body;
    return r;
  }
  while (fill(deadline)) {
  }
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

bool TestClient::waitClosed(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    if (Clock::now() >= deadline) return false;
    buf_.clear();
    fill(deadline);
  }
  return true;
}

}  // namespace berth::http::testing
