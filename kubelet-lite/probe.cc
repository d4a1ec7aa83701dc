#include "kubelet-lite/probe.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "kubelet-lite/runtime/dial.h"

namespace berth::kubelet {
namespace {

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// An int field of the probe: absent (or 0, which the API defaults) gives `def`.
Result<int64_t> intField(const json& probe, const char* field, int64_t def, const std::string& path) {
  const json& v = at(probe, field);
  if (v.is_null()) return def;
  if (!v.is_number_integer()) return invalid(path + "." + field + ": must be an integer");
  int64_t n = v.get<int64_t>();
  if (n < 0) return invalid(path + "." + field + ": must be greater than or equal to 0");
  return n == 0 ? def : n;
}

// An IntOrString port: a number, or the name of one of the container's ports (a string of
// digits is taken as a number when no port has that name, as upstream does).
Result<int> resolvePort(const json& port, const json& container, const std::string& path) {
  int n = -1;
  if (port.is_number_integer()) {
    n = port.get<int>();
  } else if (port.is_string()) {
    std::string name = port.get<std::string>();
    for (const json& p : at(container, "ports"))
      if (at(p, "name") == name && at(p, "containerPort").is_number_integer())
        n = p["containerPort"].get<int>();
    if (n < 0) {
      bool digits = !name.empty() && name.size() < 6;
      for (char c : name) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (!digits) return invalid(path + ".port: no container port named \"" + name + "\"");
      n = std::stoi(name);
    }
  } else {
    return invalid(path + ".port: required");
  }
  if (n < 1 || n > 65535)
    return invalid(path + ".port: invalid port number " + std::to_string(n) + " (must be 1-65535)");
  return n;
}

std::string quoteCommand(const std::vector<std::string>& cmd) {
  std::string s;
  for (const auto& a : cmd) s += (s.empty() ? "" : " ") + a;
  return "\"" + s + "\"";
}

ProbeOutcome runExec(ContainerRuntime* rt, const ProbeTarget& t, const ProbeSpec& spec) {
  auto r = rt->execSync(t.container_id, spec.command,
                        std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout));
  if (!r.isOk()) return {ProbeResult::kUnknown, r.status().message()};
  if (r->timed_out)
    return {ProbeResult::kFailure, "command " + quoteCommand(spec.command) + " timed out"};
  if (r->exit_code == 0) return {ProbeResult::kSuccess, ""};
  std::string out = r->output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return {ProbeResult::kFailure, out};
}

Result<int> dial(ContainerRuntime* rt, const ProbeTarget& t, const ProbeSpec& spec,
                 std::chrono::milliseconds timeout) {
  if (spec.host.empty()) return rt->dialPod(t.sandbox_id, spec.port, timeout);
  return dialTcp(spec.host, spec.port, timeout);
}

std::string addressOf(const ProbeTarget& t, const ProbeSpec& spec) {
  return (spec.host.empty() ? t.pod_ip : spec.host) + ":" + std::to_string(spec.port);
}

// Reads and writes on a connected socket until the response head is in, within `deadline`.
class Conn {
 public:
  Conn(int fd, std::chrono::steady_clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  // Probes skip certificate verification, as upstream's do.
  Status startTls(const std::string& server_name) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return internalError("TLS: cannot create a context");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    if (!ssl_) return internalError("TLS: cannot create a session");
    SSL_set_fd(ssl_, fd_);
    if (!server_name.empty()) SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    if (!armTimeout()) return Status(Code::kUnavailable, "i/o timeout");
    if (SSL_connect(ssl_) != 1) return Status(Code::kUnavailable, "TLS handshake failed");
    return Status::ok();
  }
  bool writeAll(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      if (!armTimeout()) return false;
      ssize_t n = ssl_ ? SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off))
                       : ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Appends what arrives to `out`; false on EOF, error or the deadline.
  bool readSome(std::string* out) {
    if (!armTimeout()) return false;
    char buf[4096];
    ssize_t n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    return true;
  }
  bool expired() const { return std::chrono::steady_clock::now() >= deadline_; }

 private:
  bool armTimeout() {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    timeval tv{static_cast<time_t>(left.count() / 1000000),
               static_cast<suseconds_t>(left.count() % 1000000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
  }
  int fd_;
  std::chrono::steady_clock::time_point deadline_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

ProbeOutcome runHttp(ContainerRuntime* rt, const ProbeTarget& t, const ProbeSpec& spec) {
  std::string scheme = spec.scheme == "HTTPS" ? "https" : "http";
  std::string url = scheme + "://" + addressOf(t, spec) + spec.path;
  auto start = std::chrono::steady_clock::now();
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout);
  auto fd = dial(rt, t, spec, timeout);
  if (!fd.isOk()) {
    if (fd.status().code() != Code::kUnavailable) return {ProbeResult::kUnknown, fd.status().message()};
    return {ProbeResult::kFailure, "Get \"" + url + "\": " + fd.status().message()};
  }
  Conn conn(*fd, start + timeout);
  std::string timed_out = "Get \"" + url + "\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
  if (spec.scheme == "HTTPS") {
    Status st = conn.startTls(spec.host);
    if (!st.isOk()) return {ProbeResult::kFailure, conn.expired() ? timed_out : "Get \"" + url + "\": " + st.message()};
  }
  if (!conn.writeAll(buildHttpRequest(spec, addressOf(t, spec))))
    return {ProbeResult::kFailure, conn.expired() ? timed_out : "Get \"" + url + "\": write failed"};
  std::string head;
  while (head.find("\r\n") == std::string::npos && head.size() < 16384) {
    if (!conn.readSome(&head)) {
      if (conn.expired()) return {ProbeResult::kFailure, timed_out};
      if (head.empty()) return {ProbeResult::kFailure, "Get \"" + url + "\": EOF"};
      break;
    }
  }
  int code = parseHttpStatus(head);
  if (code < 0) return {ProbeResult::kFailure, "Get \"" + url + "\": malformed HTTP response"};
  if (code >= 200 && code < 400) return {ProbeResult::kSuccess, ""};
  return {ProbeResult::kFailure, "HTTP probe failed with statuscode: " + std::to_string(code)};
}

ProbeOutcome runTcp(ContainerRuntime* rt, const ProbeTarget& t, const ProbeSpec& spec) {
  auto fd = dial(rt, t, spec, std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout));
  if (!fd.isOk()) {
    if (fd.status().code() != Code::kUnavailable) return {ProbeResult::kUnknown, fd.status().message()};
    return {ProbeResult::kFailure, fd.status().message()};
  }
  ::close(*fd);
  return {ProbeResult::kSuccess, ""};
}

}  // namespace

const char* probeKindName(ProbeKind k) {
  switch (k) {
    case ProbeKind::kLiveness: return "Liveness";
    case ProbeKind::kReadiness: return "Readiness";
    case ProbeKind::kStartup: break;
  }
  return "Startup";
}

const char* probeField(ProbeKind k) {
  switch (k) {
    case ProbeKind::kLiveness: return "livenessProbe";
    case ProbeKind::kReadiness: return "readinessProbe";
    case ProbeKind::kStartup: break;
  }
  return "startupProbe";
}

Result<ProbeSpec> parseProbe(const json& container, ProbeKind kind) {
  const json& probe = at(container, probeField(kind));
  if (probe.is_null()) return notFound(probeField(kind));
  std::string path = std::string(probeField(kind));
  if (!probe.is_object()) return invalid(path + ": must be an object");
  ProbeSpec s;
  int handlers = 0;
  for (const char* h : {"exec", "httpGet", "tcpSocket", "grpc"}) handlers += at(probe, h).is_object();
  if (handlers == 0) return invalid(path + ": must specify a handler type");
  if (handlers > 1) return invalid(path + ": may not specify more than 1 handler type");
  if (const json& e = at(probe, "exec"); e.is_object()) {
    s.handler = ProbeSpec::Handler::kExec;
    for (const json& a : at(e, "command")) s.command.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    if (s.command.empty()) return invalid(path + ".exec.command: required");
  } else if (const json& h = at(probe, "httpGet"); h.is_object()) {
    s.handler = ProbeSpec::Handler::kHttpGet;
    BERTH_ASSIGN_OR_RETURN(s.port, resolvePort(at(h, "port"), container, path + ".httpGet"));
    if (at(h, "host").is_string()) s.host = h["host"].get<std::string>();
    if (at(h, "path").is_string() && !h["path"].get<std::string>().empty()) s.path = h["path"];
    if (s.path[0] != '/') s.path = "/" + s.path;
    if (at(h, "scheme").is_string()) s.scheme = h["scheme"];
    if (s.scheme != "HTTP" && s.scheme != "HTTPS")
      return invalid(path + ".httpGet.scheme: Unsupported value: \"" + s.scheme + "\": supported values: \"HTTP\", \"HTTPS\"");
    for (const json& hd : at(h, "httpHeaders")) {
      if (!at(hd, "name").is_string() || hd["name"].get<std::string>().empty())
        return invalid(path + ".httpGet.httpHeaders.name: required");
      s.headers.emplace_back(hd["name"], at(hd, "value").is_string() ? hd["value"].get<std::string>() : "");
    }
  } else if (const json& tcp = at(probe, "tcpSocket"); tcp.is_object()) {
    s.handler = ProbeSpec::Handler::kTcpSocket;
    BERTH_ASSIGN_OR_RETURN(s.port, resolvePort(at(tcp, "port"), container, path + ".tcpSocket"));
    if (at(tcp, "host").is_string()) s.host = tcp["host"].get<std::string>();
  } else {
    s.handler = ProbeSpec::Handler::kGrpc;
    BERTH_ASSIGN_OR_RETURN(s.port, resolvePort(at(at(probe, "grpc"), "port"), container, path + ".grpc"));
  }
  BERTH_ASSIGN_OR_RETURN(int64_t delay, intField(probe, "initialDelaySeconds", 0, path));
  BERTH_ASSIGN_OR_RETURN(int64_t period, intField(probe, "periodSeconds", 10, path));
  BERTH_ASSIGN_OR_RETURN(int64_t timeout, intField(probe, "timeoutSeconds", 1, path));
  BERTH_ASSIGN_OR_RETURN(int64_t success, intField(probe, "successThreshold", 1, path));
  BERTH_ASSIGN_OR_RETURN(int64_t failure, intField(probe, "failureThreshold", 3, path));
  if (kind != ProbeKind::kReadiness && success != 1)
    return invalid(path + ".successThreshold: Invalid value: " + std::to_string(success) + ": must be 1");
  s.initial_delay = std::chrono::seconds(delay);
  s.period = std::chrono::seconds(period);
  s.timeout = std::chrono::seconds(timeout);
  s.success_threshold = static_cast<int>(success);
  s.failure_threshold = static_cast<int>(failure);
  if (const json& g = at(probe, "terminationGracePeriodSeconds"); !g.is_null()) {
    if (kind == ProbeKind::kReadiness)
      return invalid(path + ".terminationGracePeriodSeconds: must not be set for readinessProbes");
    if (!g.is_number_integer() || g.get<int64_t>() <= 0)
      return invalid(path + ".terminationGracePeriodSeconds: must be greater than 0");
    s.termination_grace = std::chrono::seconds(g.get<int64_t>());
  }
  return s;
}

int parseHttpStatus(const std::string& head) {
  // "HTTP/1.1 200 OK"
  if (head.rfind("HTTP/", 0) != 0) return -1;
  size_t sp = head.find(' ');
  if (sp == std::string::npos || sp + 4 > head.size()) return -1;
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(head[i]))) return -1;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

std::string buildHttpRequest(const ProbeSpec& spec, const std::string& host_header) {
  auto has = [&](const char* name) {
    for (const auto& [k, v] : spec.headers)
      if (strcasecmp(k.c_str(), name) == 0) return true;
    return false;
  };
  std::string req = "GET " + spec.path + " HTTP/1.1\r\n";
  if (!has("Host")) req += "Host: " + host_header + "\r\n";
  if (!has("User-Agent")) req += "User-Agent: kube-probe/1.32\r\n";
  if (!has("Accept")) req += "Accept: */*\r\n";
  for (const auto& [k, v] : spec.headers) req += k + ": " + v + "\r\n";
  req += "Connection: close\r\n\r\n";
  return req;
}

ProbeOutcome runProbe(ContainerRuntime* runtime, const ProbeTarget& target, const ProbeSpec& spec) {
  switch (spec.handler) {
    case ProbeSpec::Handler::kExec: return runExec(runtime, target, spec);
    case ProbeSpec::Handler::kHttpGet: return runHttp(runtime, target, spec);
    case ProbeSpec::Handler::kTcpSocket: return runTcp(runtime, target, spec);
    case ProbeSpec::Handler::kGrpc: break;
  }
  return {ProbeResult::kUnknown, "gRPC probes are not supported by this node agent"};
}

}  // namespace berth::kubelet
