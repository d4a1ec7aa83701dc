#include "kubelet-lite/server/kubelet_server.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "apiserver/http/pki.h"
#include "apiserver/http/server.h"
#include "apiserver/http/websocket.h"
#include "apiserver/streaming/channel.h"
#include "common/log.h"
#include "common/strings.h"
#include "kubelet-lite/server/container_logs.h"
#include "kubelet-lite/server/sessions.h"

namespace berth::kubelet {

namespace fs = std::filesystem;
using json = nlohmann::json;
namespace channel = streaming::channel;

namespace {

int httpCodeOf(Code c) {
  switch (c) {
    case Code::kBadRequest: return 400;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kMethodNotAllowed: return 405;
    default: return 500;
  }
}

const char* reasonOf(Code c) {
  switch (c) {
    case Code::kBadRequest: return "BadRequest";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kNotFound: return "NotFound";
    case Code::kMethodNotAllowed: return "MethodNotAllowed";
    default: return "InternalError";
  }
}

// Errors go out as metav1.Status, which the API server relays to kubectl unchanged.
void sendError(http::ResponseWriter& w, const Status& st) {
  int code = httpCodeOf(st.code());
  json body = {{"kind", "Status"},     {"apiVersion", "v1"},   {"metadata", json::object()},
               {"status", "Failure"},  {"message", st.message()},
               {"reason", reasonOf(st.code())}, {"code", code}};
  w.respond(code, {{"Content-Type", "application/json"}}, body.dump());
}

bool truthy(const http::Request& req, const char* name) {
  std::string v = req.param(name);
  return v == "true" || v == "1";
}

bool labelled(const Labels& l, const std::string& ns, const std::string& pod) {
  auto get = [&](const char* k) {
    auto it = l.find(k);
    return it == l.end() ? std::string() : it->second;
  };
  return get(kLabelPodNamespace) == ns && get(kLabelPodName) == pod;
}

// The container named `container` of pod ns/pod: the running one, else the newest.
Result<ContainerStatus> findContainer(ContainerRuntime& rt, const std::string& ns,
                                      const std::string& pod, const std::string& container) {
  BERTH_ASSIGN_OR_RETURN(auto all, rt.listContainers());
  const ContainerStatus* best = nullptr;
  for (const auto& c : all) {
    if (!labelled(c.labels, ns, pod) || c.name != container) continue;
    bool running = c.state == ContainerState::kRunning;
    bool best_running = best && best->state == ContainerState::kRunning;
    if (!best || (running && !best_running) ||
        (running == best_running && c.created_at > best->created_at))
      best = &c;
  }
  if (!best)
    return notFound("container \"" + container + "\" in pod \"" + pod + "\" is not known to this node");
  return *best;
}

Result<SandboxStatus> findSandbox(ContainerRuntime& rt, const std::string& ns,
                                  const std::string& pod) {
  BERTH_ASSIGN_OR_RETURN(auto all, rt.listSandboxes());
  const SandboxStatus* best = nullptr;
  for (const auto& s : all) {
    if (!labelled(s.labels, ns, pod)) continue;
    if (!best || (s.state == SandboxState::kReady && best->state != SandboxState::kReady) ||
        (s.state == best->state && s.created_at > best->created_at))
      best = &s;
  }
  if (!best) return notFound("pod \"" + pod + "\" in namespace \"" + ns + "\" is not running on this node");
  return *best;
}

class KubeletServerImpl : public KubeletServer {
 public:
  KubeletServerImpl(KubeletServerOptions o, ContainerRuntime* rt) : opts_(std::move(o)), rt_(rt) {}
  ~KubeletServerImpl() override { stop(); }

  Status start() override {
    std::string pki_dir = (fs::path(opts_.state_dir) / "pki").string();
    auto pki = http::ensurePki(pki_dir, opts_.sans);
    if (!pki.isOk()) return pki.status().withContext("creating the kubelet serving certificate");
    if (opts_.client_ca_pem.empty()) return badRequest("kubelet server: no client CA given");
    std::string ca_file = (fs::path(pki_dir) / "client-ca.crt").string();
    BERTH_RETURN_IF_ERROR(http::writeFileAtomic(ca_file, opts_.client_ca_pem, 0644));
    http::Options ho;
    ho.bind_address = opts_.bind_address;
    ho.port = opts_.port;
    ho.tls_options = {pki->serving_cert, pki->serving_key, ca_file};
    ho.worker_threads = 4;
    auto srv = http::Server::create(ho, [this](http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
      handle(req, std::move(w));
    });
    if (!srv.isOk()) return srv.status().withContext("creating the kubelet server");
    server_ = std::move(srv).value();
    BERTH_RETURN_IF_ERROR(server_->start().withContext(
        "kubelet server listening on " + opts_.bind_address + ":" + std::to_string(opts_.port)));
    BLOG(0, "kubelet server serving").kv("port", server_->port());
    return Status::ok();
  }

  void stop() override {
    if (!server_) return;
    server_->stop();  // closes every connection: the sessions see their client gone
    server_.reset();
    if (!sessions_.waitIdle(std::chrono::seconds(30)))
      BLOG_WARN("kubelet server: sessions still running 30s after stop");
  }

  int port() const override { return server_ ? server_->port() : 0; }

 private:
  void handle(http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
    if (req.path == "/healthz") {
      w->respond(200, {{"Content-Type", "text/plain"}}, "ok");
      return;
    }
    if (req.client_cert_cn.empty()) {
      sendError(*w, Status(Code::kUnauthorized, "Unauthorized"));
      return;
    }
    const auto& orgs = req.client_cert_orgs;
    if (std::find(orgs.begin(), orgs.end(), "system:masters") == orgs.end()) {
      sendError(*w, Status(Code::kForbidden, "user \"" + req.client_cert_cn +
                                                 "\" may not use the kubelet API"));
      return;
    }
    auto parts = split(req.path, '/');  // "", "exec", ns, pod, container
    std::string kind = parts.size() > 1 ? parts[1] : "";
    if (kind == "containerLogs" && parts.size() == 5 && req.method == "GET") {
      serveLogs(req, std::move(w), parts[2], parts[3], parts[4]);
    } else if ((kind == "exec" || kind == "attach") && parts.size() == 5) {
      serveExec(req, std::move(w), kind, parts[2], parts[3], parts[4]);
    } else if (kind == "portForward" && parts.size() == 4) {
      servePortForward(req, std::move(w), parts[2], parts[3]);
    } else {
      sendError(*w, notFound("no kubelet endpoint at " + req.path));
    }
  }

  void serveLogs(http::Request& req, std::shared_ptr<http::ResponseWriter> w,
                 const std::string& ns, const std::string& pod, const std::string& container) {
    auto query = parseLogQuery(req, std::chrono::system_clock::now());
    if (!query.isOk()) return sendError(*w, query.status());
    auto file = findLogFile(opts_.pods_dir, ns, pod, container, query->previous);
    if (!file.isOk()) return sendError(*w, file.status());
    std::thread(followLog, rt_, sessions_.acquire(), std::move(w), *file, *query, ns, pod, container)
        .detach();
  }

  // Writes the selected log, then (with follow) what is appended until the client goes, the
  // container stops running or a newer log file (a restart) appears.
  static void followLog(ContainerRuntime* rt, SessionToken, std::shared_ptr<http::ResponseWriter> w,
                        std::string path, LogQuery q, std::string ns, std::string pod,
                        std::string container) {
    std::ifstream in(path, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t consumed = 0;
    std::string out = renderLog(content, q, &consumed);
    int64_t budget = q.limit_bytes.value_or(INT64_MAX);
    auto emit = [&](std::string text) {
      if (static_cast<int64_t>(text.size()) > budget) text.resize(static_cast<size_t>(budget));
      budget -= static_cast<int64_t>(text.size());
      return text.empty() || w->writeChunk(text);
    };
    w->startStream(200, {{"Content-Type", "text/plain"}});
    if (!emit(std::move(out)) || !q.follow || budget <= 0) return w->endStream();
    int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    inotify_add_watch(ino, path.c_str(), IN_MODIFY);
    inotify_add_watch(ino, fs::path(path).parent_path().c_str(), IN_CREATE);
    w->setOnClose([wake] {
      uint64_t one = 1;
      (void)!write(wake, &one, sizeof one);
    });
    size_t offset = consumed;
    q.tail_lines.reset();
    q.since.reset();
    std::string pending = content.substr(consumed);
    bool running = true;
    while (!w->closed() && budget > 0 && running) {
      pollfd fds[2] = {{ino, POLLIN, 0}, {wake, POLLIN, 0}};
      // The timeout only rechecks whether the container still runs.
      poll(fds, 2, 1000);
      char evbuf[4096];
      bool restarted = false;
      ssize_t n;
      while ((n = read(ino, evbuf, sizeof evbuf)) > 0) {
        for (char* p = evbuf; p < evbuf + n;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          if ((ev->mask & IN_CREATE) && ev->len && endsWith(ev->name, ".log")) restarted = true;
          p += sizeof(inotify_event) + ev->len;
        }
      }
      in.clear();
      in.seekg(static_cast<std::streamoff>(offset + pending.size()));
      std::string more((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      pending += more;
      size_t used = 0;
      std::string text = renderLog(pending, q, &used);
      offset += used;
      pending.erase(0, used);
      if (!emit(std::move(text))) break;
      auto c = findContainer(*rt, ns, pod, container);
      running = !restarted && c.isOk() && c->state == ContainerState::kRunning;
    }
    close(ino);
    close(wake);
    w->endStream();
  }

  void serveExec(http::Request& req, std::shared_ptr<http::ResponseWriter> w,
                 const std::string& kind, const std::string& ns, const std::string& pod,
                 const std::string& container) {
    // WebSocket (kubectl's first choice) or its SPDY fallback; exit codes need v4 or later.
    bool spdy = toLower(req.header("upgrade")) == "spdy/3.1";
    std::string proto =
        spdy ? channel::negotiate(req.header("x-stream-protocol-version"), {channel::kV4})
             : channel::negotiate(req.header("sec-websocket-protocol"), {channel::kV5, channel::kV4});
    if ((!spdy && toLower(req.header("upgrade")) != "websocket") || proto.empty())
      return sendError(*w, badRequest("exec needs a WebSocket upgrade (" + std::string(channel::kV5) +
                                      " or " + std::string(channel::kV4) +
                                      ") or a SPDY/3.1 upgrade (" + std::string(channel::kV4) + ")"));
    bool in = truthy(req, "stdin") || truthy(req, "input");
    bool out = truthy(req, "stdout") || truthy(req, "output");
    bool err = truthy(req, "stderr") || truthy(req, "error");
    ExecRequest exec;
    bool attach = kind == "attach";
    if (!attach) exec.command = req.params("command");
    exec.tty = truthy(req, "tty");
    if (!attach && exec.command.empty())
      return sendError(*w, badRequest("you must specify at least 1 command"));
    if (!in && !out && !err)
      return sendError(*w, badRequest("you must specify at least 1 of stdin, stdout, stderr"));
    auto c = findContainer(*rt_, ns, pod, container);
    if (c.isOk() && c->state != ContainerState::kRunning)
      c = badRequest("container " + container + " is not running");
    // Over SPDY a failure can only be an HTTP answer: the error stream does not exist yet.
    if (spdy && !c.isOk()) return sendError(*w, c.status());
    http::Headers upgrade_headers =
        spdy ? http::Headers{{"Connection", "Upgrade"},
                             {"Upgrade", "SPDY/3.1"},
                             {"X-Stream-Protocol-Version", proto}}
             : http::Headers{{"Upgrade", "websocket"},
                             {"Connection", "Upgrade"},
                             {"Sec-WebSocket-Accept", http::ws::acceptKey(req.header("sec-websocket-key"))},
                             {"Sec-WebSocket-Protocol", proto}};
    auto conn = w->upgrade(upgrade_headers);
    if (!conn) return;
    if (!c.isOk()) {
      // As upstream: a failure after the handshake travels on the error channel.
      conn->write(channel::frame(channel::kError, channel::failureStatus(c.status().message())));
      conn->write(http::ws::encodeClose(1000));
      conn->close();
      return;
    }
    exec.container_id = c->id;
    BLOG(4, kind).kv("pod", ns + "/" + pod).kv("container", container);
    startExecSession(std::move(conn), rt_, std::move(exec), in, out, err, spdy, sessions_.acquire());
  }

  void servePortForward(http::Request& req, std::shared_ptr<http::ResponseWriter> w,
                        const std::string& ns, const std::string& pod) {
    auto sandbox = findSandbox(*rt_, ns, pod);
    if (!sandbox.isOk()) return sendError(*w, sandbox.status());
    std::string id = sandbox->id, name = ns + "/" + pod;
    if (toLower(req.header("upgrade")) == "websocket") {
      std::string proto = channel::negotiate(req.header("sec-websocket-protocol"),
                                             {channel::kSpdyPortForward});
      if (proto.empty())
        return sendError(*w, badRequest("port-forward over WebSocket needs the " +
                                        std::string(channel::kSpdyPortForward) + " subprotocol"));
      auto conn = w->upgrade({{"Upgrade", "websocket"},
                              {"Connection", "Upgrade"},
                              {"Sec-WebSocket-Accept", http::ws::acceptKey(req.header("sec-websocket-key"))},
                              {"Sec-WebSocket-Protocol", proto}});
      if (conn) startPortForwardSession(std::move(conn), rt_, id, name, true, sessions_.acquire());
      return;
    }
    if (toLower(req.header("upgrade")) != "spdy/3.1")
      return sendError(*w, badRequest("port-forward needs an Upgrade to SPDY/3.1 or websocket"));
    auto conn = w->upgrade({{"Connection", "Upgrade"},
                            {"Upgrade", "SPDY/3.1"},
                            {"X-Stream-Protocol-Version", "portforward.k8s.io"}});
    if (conn) startPortForwardSession(std::move(conn), rt_, id, name, false, sessions_.acquire());
  }

  KubeletServerOptions opts_;
  ContainerRuntime* rt_;
  SessionCounter sessions_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace

KubeletServerOptions nodeServerOptions(const std::string& root_dir, const std::string& node_name,
                                       const std::string& node_ip, int port,
                                       std::string cluster_ca_pem) {
  KubeletServerOptions o;
  o.bind_address = "0.0.0.0";
  o.port = port;
  std::string node_dir = root_dir + "/" + node_name;
  o.state_dir = node_dir + "/kubelet";
  o.pods_dir = node_dir + "/pods";
  o.client_ca_pem = std::move(cluster_ca_pem);
  if (!node_ip.empty()) o.sans.push_back(node_ip);
  o.sans.push_back(node_name);
  return o;
}

Result<std::unique_ptr<KubeletServer>> KubeletServer::create(KubeletServerOptions options,
                                                             ContainerRuntime* runtime) {
  if (!runtime) return badRequest("kubelet server: no runtime");
  if (options.pods_dir.empty() || options.state_dir.empty())
    return badRequest("kubelet server: pods_dir and state_dir are required");
  return std::unique_ptr<KubeletServer>(new KubeletServerImpl(std::move(options), runtime));
}

}  // namespace berth::kubelet
