// The pod subresources that reach a container through its node's kubelet, as upstream's
// pod REST storage and upgrade-aware proxy do:
//   pods/log                          GET, streamed back (chunked, flushed as it arrives)
//   pods/exec, pods/attach            WebSocket (v5/v4.channel.k8s.io) or SPDY upgrade
//   pods/portforward                  WebSocket (SPDY/3.1+portforward.k8s.io) or SPDY upgrade
// The kubelet is found from the pod's node: its InternalIP (else first) address and
// status.daemonEndpoints.kubeletEndpoint.Port. The API server authenticates to it with the
// kubelet-client certificate (CN kube-apiserver-kubelet-client, O system:masters) issued from
// the cluster CA. Upgrades are answered with the kubelet's own 101 and then piped byte for byte.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/http/pki.h"
#include "apiserver/streaming/tls_client.h"
#include "apiserver/streaming/upgrade_proxy.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace {

constexpr int kDefaultKubeletPort = 10250;

struct KubeletTarget {
  std::string host;
  int port = kDefaultKubeletPort;
  std::string container;
};

// obj[key], or an empty object when obj is not an object or lacks it (objects come from the
// store, but a missing field must not take the server down).
const json& field(const json& obj, const char* key) {
  static const json kEmpty = json::object();
  if (!obj.is_object()) return kEmpty;
  auto it = obj.find(key);
  return it == obj.end() || !it->is_object() ? kEmpty : *it;
}

std::vector<std::string> containerNames(const json& spec, const char* field) {
  std::vector<std::string> names;
  if (spec.contains(field) && spec[field].is_array())
    for (const auto& c : spec[field])
      if (c.is_object() && c.contains("name") && c["name"].is_string()) names.push_back(c["name"]);
  return names;
}

// Upstream's container choice: the named one (any kind of container), else the pod's only one,
// else the default-container annotation.
Result<std::string> chooseContainer(const json& pod, const std::string& requested,
                                    const std::string& pod_name) {
  const json& spec = field(pod, "spec");
  auto main = containerNames(spec, "containers");
  if (requested.empty()) {
    if (main.size() == 1) return main[0];
    const json& annotations = field(field(pod, "metadata"), "annotations");
    auto it = annotations.find("kubectl.kubernetes.io/default-container");
    if (it != annotations.end() && it->is_string()) return it->get<std::string>();
    return badRequest("a container name must be specified for pod " + pod_name +
                      ", choose one of: [" + join(main, " ") + "]");
  }
  for (const char* field : {"containers", "initContainers", "ephemeralContainers"})
    for (const auto& n : containerNames(spec, field))
      if (n == requested) return requested;
  return badRequest("container " + requested + " is not valid for pod " + pod_name);
}

Result<KubeletTarget> kubeletOf(const json& node) {
  KubeletTarget t;
  const json& status = field(node, "status");
  std::string first;
  if (status.contains("addresses") && status["addresses"].is_array()) {
    for (const auto& a : status["addresses"]) {
      if (!a.is_object() || !a.contains("address") || !a["address"].is_string()) continue;
      if (first.empty()) first = a["address"];
      if (a.value("type", "") == "InternalIP" && t.host.empty()) t.host = a["address"];
    }
  }
  if (t.host.empty()) t.host = first;
  std::string name = field(node, "metadata").value("name", "");
  // A simulated node's address is made up: dialing it would send packets off this machine.
  const json& info = field(status, "nodeInfo");
  std::string runtime = info.contains("containerRuntimeVersion") && info["containerRuntimeVersion"].is_string()
                            ? info["containerRuntimeVersion"].get<std::string>()
                            : "";
  if (runtime.rfind("simulated://", 0) == 0)
    return badRequest("node \"" + name + "\" is simulated (" + runtime +
                      "): its pods run no containers, so there are no logs, exec, attach or port-forward");
  if (t.host.empty()) return badRequest("node \"" + name + "\" has no address to reach its kubelet");
  const json* port = &status;
  for (const char* k : {"daemonEndpoints", "kubeletEndpoint", "Port"}) {
    if (!port->is_object() || !port->contains(k)) {
      port = nullptr;
      break;
    }
    port = &(*port)[k];
  }
  if (port && port->is_number_integer() && port->get<int>() > 0) t.port = port->get<int>();
  return t;
}

std::string query(const http::Request& req, const std::vector<std::string>& names) {
  std::string q;
  for (const auto& n : names)
    for (const auto& v : req.params(n)) q += (q.empty() ? "?" : "&") + n + "=" + urlEncode(v);
  return q;
}

std::string hostHeader(const KubeletTarget& t) {
  std::string h = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  return h + ":" + std::to_string(t.port);
}

// Reads a non-101/non-200 kubelet answer and turns it into the Status kubectl sees.
Status kubeletError(streaming::TlsConnection& conn, const streaming::ResponseHead& head) {
  std::string body = head.rest;
  bool chunked = toLower(head.header("transfer-encoding")) == "chunked";
  while (body.size() < 64 * 1024) {
    auto more = conn.readSome(5000);
    if (!more.isOk() || more->empty()) break;
    body += *more;
    if (!chunked && !head.header("content-length").empty() &&
        body.size() >= std::strtoul(head.header("content-length").c_str(), nullptr, 10))
      break;
  }
  if (chunked) {
    std::string decoded;
    streaming::ChunkedDecoder d;
    if (d.feed(body, &decoded)) body = decoded;
  }
  json j = json::parse(body, nullptr, false);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : std::string(trim(body));
  switch (head.status) {
    case 400: return badRequest(message);
    case 401: return Status(Code::kUnauthorized, message);
    case 403: return Status(Code::kForbidden, message);
    case 404: return notFound(message);
    default: return internalError("kubelet answered " + std::to_string(head.status) + ": " + message);
  }
}

// Copies a kubelet's log body to the client as it arrives, until either side ends.
void streamLogBody(std::unique_ptr<streaming::TlsConnection> conn, streaming::ResponseHead head,
                   std::shared_ptr<http::ResponseWriter> w) {
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  w->setOnClose([wake] {
    uint64_t one = 1;
    (void)!write(wake, &one, sizeof one);
  });
  w->startStream(200, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-cache, private"}});
  bool chunked = toLower(head.header("transfer-encoding")) == "chunked";
  streaming::ChunkedDecoder decoder;
  std::string raw = std::move(head.rest), data;
  while (!w->closed()) {
    if (!raw.empty()) {
      data.clear();
      if (chunked) {
        if (!decoder.feed(raw, &data)) break;
      } else {
        data.swap(raw);
      }
      raw.clear();
      if (!data.empty() && !w->writeChunk(data)) break;
      if (chunked && decoder.done()) break;
    }
    pollfd fds[2] = {{conn->fd(), POLLIN, 0}, {wake, POLLIN, 0}};
    if (!conn->hasBuffered() && poll(fds, 2, -1) <= 0) continue;
    if (fds[1].revents) break;
    auto more = conn->readSome(0);
    if (more.isOk() && more->empty()) break;
    if (!more.isOk() && more.status().code() != Code::kTimeout) break;
    if (more.isOk()) raw = std::move(more).value();
  }
  w->endStream();
  close(wake);
}

void proxyToKubelet(ApiServer::Impl& s, RequestCtx& ctx, const KubeletTarget& target,
                    const std::string& target_path, bool upgrade) {
  streaming::TlsClientOptions opts;
  opts.cert_pem = s.kubelet_client_cert;
  opts.key_pem = s.kubelet_client_key;
  auto conn = streaming::TlsConnection::dial(target.host, target.port, opts);
  if (!conn.isOk()) {
    s.sendError(ctx, Status(Code::kInternal, "error dialing backend: " + conn.status().message()));
    return;
  }
  std::string request = ctx.req.method + " " + target_path + " HTTP/1.1\r\nHost: " +
                        hostHeader(target) + "\r\n";
  if (upgrade) {
    for (const char* h : {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                          "sec-websocket-protocol", "x-stream-protocol-version"}) {
      std::string v = ctx.req.header(h);
      if (!v.empty()) request += std::string(h) + ": " + v + "\r\n";
    }
  } else {
    request += "Connection: close\r\n";
  }
  request += "Content-Length: 0\r\n\r\n";
  auto& backend = *conn;
  if (auto st = backend->writeAll(request); !st.isOk()) {
    s.sendError(ctx, Status(Code::kInternal, "error talking to the kubelet: " + st.message()));
    return;
  }
  auto head = streaming::readResponseHead(*backend, 30000);
  if (!head.isOk()) {
    s.sendError(ctx, Status(Code::kInternal, "error reading the kubelet's answer: " +
                                               head.status().message()));
    return;
  }
  if (upgrade && head->status == 101) {
    http::Headers h;
    for (const char* name : {"upgrade", "connection", "sec-websocket-accept",
                             "sec-websocket-protocol", "x-stream-protocol-version"}) {
      std::string v = head->header(name);
      if (!v.empty()) h.emplace_back(name, v);
    }
    auto client = ctx.w->upgrade(h);
    ctx.code = 101;
    if (!client) return;
    BLOG(4, "proxying upgraded stream").kv("pod", ctx.info.namespace_ + "/" + ctx.info.name)
        .kv("subresource", ctx.info.subresource);
    streaming::pipeUpgraded(std::move(client), std::move(backend), std::move(head->rest));
    return;
  }
  if (head->status != 200 || upgrade) {
    s.sendError(ctx, kubeletError(*backend, *head));
    return;
  }
  ctx.code = 200;
  bool follow = ctx.req.param("follow") == "true" || ctx.req.param("follow") == "1";
  if (!follow) return streamLogBody(std::move(backend), std::move(head).value(), ctx.w);
  // A followed log may last for hours: it gets its own thread, not a request worker.
  std::thread(streamLogBody, std::move(backend), std::move(head).value(), ctx.w).detach();
}

}  // namespace

Status ApiServer::Impl::setUpKubeletClient(const http::PkiFiles& pki) {
  auto pair = http::issueClientCert(pki, "kube-apiserver-kubelet-client", {"system:masters"});
  if (!pair.isOk()) return pair.status().withContext("issuing the kubelet client certificate");
  kubelet_client_cert = pair->first;
  kubelet_client_key = pair->second;
  return Status::ok();
}

bool ApiServer::Impl::handlePodProxy(RequestCtx& ctx) {
  const auto& info = ctx.info;
  const std::string& sub = info.subresource;
  if (!info.group.empty() || info.resource != "pods" || info.name.empty() ||
      (sub != "log" && sub != "exec" && sub != "attach" && sub != "portforward"))
    return false;
  const KindSpec* pods = kinds->byResource("", "v1", "pods");
  const KindSpec* nodes = kinds->byResource("", "v1", "nodes");
  if (!pods || !nodes) return false;
  ctx.kind = pods;
  const std::string& method = ctx.req.method;
  bool upgrade = sub != "log";
  if ((!upgrade && method != "GET") || (upgrade && method != "GET" && method != "POST")) {
    sendError(ctx, Status(Code::kMethodNotAllowed,
                          "the server does not allow this method on the requested resource"));
    return true;
  }
  auto pod = readCurrent(*pods, info.namespace_, info.name);
  if (!pod.isOk()) {
    sendError(ctx, pod.status(), info.name);
    return true;
  }
  const json& p = (*pod)->obj;
  std::string node_name = field(p, "spec").value("nodeName", "");
  if (node_name.empty()) {
    sendError(ctx, badRequest("pod " + info.name + " does not have a host assigned"));
    return true;
  }
  auto node = readCurrent(*nodes, "", node_name);
  if (!node.isOk()) {
    ctx.kind = nodes;
    sendError(ctx, node.status(), node_name);
    return true;
  }
  auto target = kubeletOf((*node)->obj);
  if (!target.isOk()) {
    sendError(ctx, target.status());
    return true;
  }
  std::string path, q;
  const std::string base = info.namespace_ + "/" + info.name;
  if (sub == "portforward") {
    path = "/portForward/" + base;
    q = query(ctx.req, {"ports"});
  } else {
    auto container = chooseContainer(p, ctx.req.param("container"), info.name);
    if (!container.isOk()) {
      sendError(ctx, container.status());
      return true;
    }
    if (sub == "log") {
      path = "/containerLogs/" + base + "/" + urlEncode(*container);
      q = query(ctx.req, {"follow", "tailLines", "timestamps", "previous", "sinceSeconds",
                          "sinceTime", "limitBytes"});
    } else {
      path = "/" + sub + "/" + base + "/" + urlEncode(*container);
      q = query(ctx.req, {"command", "stdin", "stdout", "stderr", "tty"});
    }
  }
  proxyToKubelet(*this, ctx, *target, path + q, upgrade);
  return true;
}

}  // namespace berth::apiserver
