#include "apiserver/streaming/tls_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/strings.h"

namespace berth::streaming {

namespace {

std::string sslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

Status loadPemIdentity(SSL_CTX* ctx, const TlsClientOptions& o) {
  if (o.cert_pem.empty()) return Status::ok();
  BIO* cb = BIO_new_mem_buf(o.cert_pem.data(), static_cast<int>(o.cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(o.key_pem.data(), static_cast<int>(o.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  bool ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return internalError("loading the client certificate: " + sslErrors());
  return Status::ok();
}

Status loadCa(SSL_CTX* ctx, const std::string& ca_pem) {
  if (ca_pem.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return Status::ok();
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  BIO* b = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  int n = 0;
  while (X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, c);
    X509_free(c);
    ++n;
  }
  BIO_free(b);
  ERR_clear_error();
  if (n == 0) return badRequest("the server CA holds no PEM certificate");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return Status::ok();
}

Result<int> connectTcp(const std::string& host, int port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int rc = getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) return Status(Code::kUnavailable, "resolving " + host + ": " + gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int r = connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      r = poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
      int err = r == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof err;
      if (r == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        r = -1;
      }
    }
    if (r == 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  return Status(Code::kUnavailable,
                "dial tcp " + host + ":" + std::to_string(port) + ": " + last);
}

bool waitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

}  // namespace

Result<std::unique_ptr<TlsConnection>> TlsConnection::dial(const std::string& host, int port,
                                                           const TlsClientOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return internalError("creating a TLS context: " + sslErrors());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  Status st = loadPemIdentity(ctx, options);
  if (st.isOk()) st = loadCa(ctx, options.ca_pem);
  if (!st.isOk()) {
    SSL_CTX_free(ctx);
    return st;
  }
  auto fd = connectTcp(host, port, options.timeout_ms);
  if (!fd.isOk()) {
    SSL_CTX_free(ctx);
    return fd.status();
  }
  timeval tv{options.timeout_ms / 1000, (options.timeout_ms % 1000) * 1000};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, *fd);
  std::string sni = host;
  in6_addr ignored;
  if (inet_pton(AF_INET, host.c_str(), &ignored) != 1 && host.find(':') == std::string::npos)
    SSL_set_tlsext_host_name(ssl, sni.c_str());
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn - 1);
  std::unique_ptr<TlsConnection> conn(new TlsConnection(ctx, ssl, *fd));
  if (SSL_connect(ssl) != 1) {
    return Status(Code::kUnavailable, "TLS handshake with " + host + ":" + std::to_string(port) +
                                          ": " + sslErrors());
  }
  timeval none{0, 0};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  return conn;
}

TlsConnection::~TlsConnection() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) close(fd_);
  SSL_CTX_free(ctx_);
}

Status TlsConnection::writeAll(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    if (n <= 0) return Status(Code::kUnavailable, "writing to the backend: " + sslErrors());
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

bool TlsConnection::hasBuffered() const { return SSL_pending(ssl_) > 0; }

Result<std::string> TlsConnection::readSome(int timeout_ms) {
  if (!hasBuffered() && !waitReadable(fd_, timeout_ms))
    return Status(Code::kTimeout, "timed out reading from the backend");
  char buf[16384];
  int n = SSL_read(ssl_, buf, sizeof buf);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_ZERO_RETURN) return std::string();
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return std::string();  // plain EOF
  if (err == SSL_ERROR_WANT_READ) return Status(Code::kTimeout, "no complete TLS record yet");
  return Status(Code::kUnavailable, "reading from the backend: " + sslErrors());
}

Result<ResponseHead> readResponseHead(TlsConnection& conn, int timeout_ms) {
  std::string buf;
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 64 * 1024) return Status(Code::kUnavailable, "backend response head too large");
    auto more = conn.readSome(timeout_ms);
    if (!more.isOk()) return more.status();
    if (more->empty()) return Status(Code::kUnavailable, "backend closed before answering");
    buf += *more;
  }
  ResponseHead head;
  auto lines = split(std::string_view(buf).substr(0, end), '\n');
  if (lines.empty()) return Status(Code::kUnavailable, "empty backend response");
  // "HTTP/1.1 200 OK"
  std::string_view status_line = trim(lines[0]);
  auto sp = status_line.find(' ');
  if (!startsWith(status_line, "HTTP/1.") || sp == std::string_view::npos)
    return Status(Code::kUnavailable, "malformed backend status line");
  head.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view l = trim(lines[i]);
    auto colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    head.headers[toLower(trim(l.substr(0, colon)))] = std::string(trim(l.substr(colon + 1)));
  }
  head.rest = buf.substr(end + 4);
  return head;
}

bool ChunkedDecoder::feed(std::string_view bytes, std::string* out) {
  size_t i = 0;
  while (i < bytes.size() && state_ != State::kDone) {
    switch (state_) {
      case State::kSize:
      case State::kTrailer:
      case State::kDataEnd: {
        char c = bytes[i++];
        if (c != '\n') {
          line_ += c;
          if (line_.size() > 4096) return false;
          break;
        }
        std::string line(trim(line_));
        line_.clear();
        if (state_ == State::kDataEnd) {
          if (!line.empty()) return false;
          state_ = State::kSize;
        } else if (state_ == State::kTrailer) {
          if (line.empty()) state_ = State::kDone;
        } else {
          line = line.substr(0, line.find(';'));
          char* endp = nullptr;
          remaining_ = std::strtoul(line.c_str(), &endp, 16);
          if (line.empty() || *endp != '\0') return false;
          state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        }
        break;
      }
      case State::kData: {
        size_t n = std::min(remaining_, bytes.size() - i);
        out->append(bytes.substr(i, n));
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataEnd;
        break;
      }
      case State::kDone:
        break;
    }
  }
  return true;
}

}  // namespace berth::streaming
