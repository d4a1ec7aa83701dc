#include "apiserver/core/api_server.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/core/discovery.h"
#include "apiserver/http/pki.h"
#include "apiserver/kinds/priority_classes.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace fs = std::filesystem;

std::string resourcePrefix(const KindSpec& k) {
  return "/registry/" + (k.group.empty() ? std::string("core") : k.group) + "/" + k.resource + "/";
}

std::string objectKey(const KindSpec& k, const std::string& ns, const std::string& name) {
  return resourcePrefix(k) + (k.namespaced ? ns + "/" : "") + name;
}

std::string listPrefix(const KindSpec& k, const std::string& ns) {
  return resourcePrefix(k) + (k.namespaced && !ns.empty() ? ns + "/" : "");
}

ApiServer::ApiServer(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

ApiServer::~ApiServer() { stop(); }

int ApiServer::port() const { return impl_->http ? impl_->http->port() : 0; }
std::string ApiServer::url() const { return impl_->url; }
std::string ApiServer::adminKubeconfigPath() const { return impl_->admin_kubeconfig; }

Status ApiServer::start() {
  Impl& s = *impl_;
  s.kinds = &KindRegistry::builtin();
  std::error_code ec;
  fs::create_directories(s.options.data_dir, ec);
  if (ec) return internalError("creating data dir " + s.options.data_dir + ": " + ec.message());
  BERTH_RETURN_IF_ERROR(s.openStore());
  BERTH_RETURN_IF_ERROR(s.loadTokens());
  auto alloc = ServiceAllocator::create(s.options.service_cidr, s.options.node_port_range);
  if (!alloc.isOk()) return alloc.status();
  s.services = std::move(alloc).value();
  s.timers = std::make_unique<TimerQueue>();
  s.cache = std::make_unique<WatchCache>(s.store.get());
  for (const auto& k : s.kinds->all()) s.cache->addResource(resourcePrefix(k));
  BERTH_RETURN_IF_ERROR(s.cache->start());
  if (const KindSpec* svc = s.kinds->byResource("", "v1", "services")) {
    for (const auto& o : s.cache->resource(resourcePrefix(*svc))->list(resourcePrefix(*svc), nullptr))
      s.services->restore(o->obj);
  }
  s.buildDocuments();
  BERTH_RETURN_IF_ERROR(s.startServing());
  BERTH_RETURN_IF_ERROR(s.bootstrap());
  s.ready = true;
  BLOG(0, "berth API server serving").kv("url", s.url).kv("kubeconfig", s.admin_kubeconfig);
  return Status::ok();
}

void ApiServer::stop() {
  Impl& s = *impl_;
  s.ready = false;
  if (s.http) s.http->stop();
  if (s.cache) s.cache->stop();
  if (s.timers) s.timers->stop();
  if (s.store) s.store->close();
  s.http.reset();
  s.cache.reset();
  s.timers.reset();
  s.store.reset();
}

Status ApiServer::Impl::openStore() {
  std::string endpoint = options.datastore_endpoint;
  if (endpoint.empty()) endpoint = "sqlite://" + (fs::path(options.data_dir) / "state.db").string();
  auto st = storage::openStore(endpoint);
  if (!st.isOk()) return st.status().withContext("opening datastore " + endpoint);
  store = std::move(st).value();
  return Status::ok();
}

Status ApiServer::Impl::loadTokens() {
  if (options.token_auth_file.empty()) return Status::ok();
  std::ifstream in(options.token_auth_file);
  if (!in) return badRequest("cannot read token auth file " + options.token_auth_file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    // token,user,uid[,"group1,group2"]
    std::vector<std::string> fields;
    std::string cur;
    bool quoted = false;
    for (char c : t) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) {
        fields.push_back(cur);
        cur.clear();
      } else cur += c;
    }
    fields.push_back(cur);
    if (fields.size() < 3 || fields[0].empty() || fields[1].empty())
      return badRequest("token auth file " + options.token_auth_file + " line " +
                        std::to_string(n) + ": want token,user,uid[,\"groups\"]");
    UserInfo u{fields[1], fields[2], {}};
    if (fields.size() > 3)
      for (auto& g : split(fields[3], ','))
        if (!trim(g).empty()) u.groups.emplace_back(trim(g));
    tokens[fields[0]] = u;
  }
  return Status::ok();
}

Status ApiServer::Impl::startServing() {
  std::vector<std::string> sans = options.extra_sans;
  sans.push_back(options.bind_address);
  auto pki = http::ensurePki((fs::path(options.data_dir) / "pki").string(), sans);
  if (!pki.isOk()) return pki.status().withContext("creating PKI");
  BERTH_RETURN_IF_ERROR(setUpKubeletClient(*pki));
  BERTH_RETURN_IF_ERROR(loadServiceAccountKey());
  http::Options ho;
  ho.bind_address = options.bind_address;
  ho.port = options.secure_port;
  ho.tls = true;
  ho.tls_options.cert_file = pki->serving_cert;
  ho.tls_options.key_file = pki->serving_key;
  ho.tls_options.client_ca_file = pki->ca_cert;
  ho.io_threads = options.io_threads;
  ho.worker_threads = options.worker_threads;
  ho.run_inline = [this](const http::Request& req) { return servesInline(req); };
  auto srv = http::Server::create(ho, [this](http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
    handle(req, std::move(w));
  });
  if (!srv.isOk()) return srv.status().withContext("creating HTTPS server");
  http = std::move(srv).value();
  BERTH_RETURN_IF_ERROR(http->start().withContext("listening on " + options.bind_address + ":" +
                                                  std::to_string(options.secure_port)));
  std::string host = options.bind_address == "0.0.0.0" ? "127.0.0.1" : options.bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  url = options.advertise_url.empty() ? "https://" + host + ":" + std::to_string(http->port())
                                      : options.advertise_url;
  // The admin kubeconfig.
  auto read = [](const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  auto kc = http::renderKubeconfig(url, read(pki->ca_cert), read(pki->admin_cert),
                                   read(pki->admin_key), "berth", "admin");
  if (!kc.isOk()) return kc.status();
  admin_kubeconfig = (fs::path(options.data_dir) / "admin.kubeconfig").string();
  std::string tmp = admin_kubeconfig + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << *kc;
    if (!f) return internalError("writing " + tmp);
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
  fs::rename(tmp, admin_kubeconfig);
  return Status::ok();
}

const KindSpec* ApiServer::Impl::namespaceKind() const {
  return kinds->byResource("", "v1", "namespaces");
}

Status ApiServer::Impl::bootstrap() {
  // The namespaces every cluster starts with, and the `kubernetes` Service.
  const KindSpec* nsk = namespaceKind();
  if (!nsk) return internalError("no namespaces kind registered");
  http::Request dummy;
  RequestCtx ctx{dummy, nullptr, {}, nsk, {"system:apiserver", "", {"system:masters"}}};
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (cache->resource(resourcePrefix(*nsk))->get(objectKey(*nsk, "", name))) continue;
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
    auto r = createObject(ctx, *nsk, ns, false);
    if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
      return r.status().withContext(std::string("creating namespace ") + name);
  }
  // The system priority classes (upstream's scheduling post-start hook).
  if (const KindSpec* pck = kinds->byResource("scheduling.k8s.io", "v1", "priorityclasses")) {
    RequestCtx pctx{dummy, nullptr, {}, pck, ctx.user};
    for (const auto& sys : kinds::kSystemPriorityClasses) {
      std::string name(sys.name);
      if (cache->resource(resourcePrefix(*pck))->get(objectKey(*pck, "", name))) continue;
      json pc = {{"apiVersion", "scheduling.k8s.io/v1"},
                 {"kind", "PriorityClass"},
                 {"metadata", {{"name", name}}},
                 {"value", sys.value},
                 {"description", std::string(sys.description)}};
      auto r = createObject(pctx, *pck, pc, false);
      if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
        return r.status().withContext("creating priority class " + name);
    }
  }
  if (const KindSpec* svc = kinds->byResource("", "v1", "services")) {
    if (!cache->resource(resourcePrefix(*svc))->get(objectKey(*svc, "default", "kubernetes"))) {
      json s = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", "kubernetes"},
                  {"namespace", "default"},
                  {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                {"spec",
                 {{"clusterIP", services->firstAddress()},
                  {"ports",
                   {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"},
                     {"targetPort", http->port()}}}}}}};
      RequestCtx sctx{dummy, nullptr, {}, svc, ctx.user};
      auto r = createObject(sctx, *svc, s, false);
      if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
        return r.status().withContext("creating the kubernetes service");
    }
    BERTH_RETURN_IF_ERROR(bootstrapDnsService(*svc, ctx.user));
  }
  return Status::ok();
}

// Reserves the cluster DNS address: kube-system/kube-dns (no selector: every node's agent serves
// the address itself with dnsmasq). A cluster whose .10 is already taken keeps going without.
Status ApiServer::Impl::bootstrapDnsService(const KindSpec& svc, const UserInfo& user) {
  if (cache->resource(resourcePrefix(svc))->get(objectKey(svc, "kube-system", "kube-dns")))
    return Status::ok();
  json s = {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata",
             {{"name", "kube-dns"},
              {"namespace", "kube-system"},
              {"labels", {{"k8s-app", "kube-dns"}, {"kubernetes.io/name", "CoreDNS"}}}}},
            {"spec",
             {{"clusterIP", services->dnsAddress()},
              {"ports",
               {{{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}, {"targetPort", 53}},
                {{"name", "dns-tcp"}, {"port", 53}, {"protocol", "TCP"}, {"targetPort", 53}}}}}}};
  http::Request dummy;
  RequestCtx ctx{dummy, nullptr, {}, &svc, user};
  auto r = createObject(ctx, svc, s, false);
  if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
    BLOG_WARN("cluster DNS service not created").kv("err", r.status().toString());
  return Status::ok();
}

// ---- dispatch ----

Status ApiServer::Impl::authenticate(RequestCtx& ctx) {
  const auto& req = ctx.req;
  std::string auth = req.header("authorization");
  if (startsWith(auth, "Bearer ") || startsWith(auth, "bearer ")) {
    std::string token(trim(auth.substr(7)));
    auto it = tokens.find(token);
    if (it != tokens.end()) {
      ctx.user = it->second;
      ctx.user.groups.push_back("system:authenticated");
      return Status::ok();
    }
    // A bad token is rejected even if a certificate was also presented. Other short tokens are
    // taken as bootstrap tokens (<id>.<secret>), refused with the reason: malformed, unknown,
    // expired...
    if (std::count(token.begin(), token.end(), '.') == 2) {
      auto who = authenticateServiceAccountToken(token);
      if (!who.isOk()) return who.status();
      ctx.user = std::move(who).value();
      return Status::ok();
    }
    if (token.size() < 64) {
      auto who = authenticateBootstrapToken(token);
      if (!who.isOk()) return who.status();
      ctx.user = std::move(who).value();
      return Status::ok();
    }
    return Status(Code::kUnauthorized, "Unauthorized");
  }
  if (!req.client_cert_cn.empty()) {
    ctx.user.name = req.client_cert_cn;
    ctx.user.groups = req.client_cert_orgs;
    ctx.user.groups.push_back("system:authenticated");
    return Status::ok();
  }
  return Status(Code::kUnauthorized, "Unauthorized");
}

void ApiServer::Impl::handle(http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  RequestCtx ctx{req, std::move(w), {}, nullptr, {}};
  ctx.started = std::chrono::steady_clock::now();
  std::string accept = req.header("accept");
  if (accept.find("as=Table") != std::string::npos) ctx.out = OutFormat::kTable;
  else if (accept.find("application/vnd.kubernetes.protobuf") != std::string::npos &&
           accept.find("json") == std::string::npos && accept.find("*/*") == std::string::npos)
    ctx.out = OutFormat::kProtobuf;
  else if (accept.find("application/yaml") != std::string::npos &&
           accept.find("json") == std::string::npos)
    ctx.out = OutFormat::kYaml;

  const std::string& path = req.path;
  bool is_public = path == "/version" || path == "/healthz" || path == "/livez" ||
                   path == "/readyz" || startsWith(path, "/healthz/") ||
                   startsWith(path, "/livez/") || startsWith(path, "/readyz/");
  Status authn = authenticate(ctx);
  if (!authn.isOk() && !is_public) {
    ctx.metric_resource = "";
    sendError(ctx, authn);
    return;
  }
  // A boolean query parameter is true unless it is "0" or "false" (any case), as upstream
  // converts it.
  bool watch = req.hasParam("watch") && queryFlag(req.param("watch"));
  ctx.info = parseRequestInfo(req.method, path, watch);
  // Authorisation is all-allowed except for bootstrap-token users.
  if (authn.isOk() && isBootstrapper(ctx.user)) {
    Status authz = authorizeBootstrapper(ctx);
    if (!authz.isOk()) return sendError(ctx, authz);
  }
  if (ctx.info.is_resource_request) {
    handleResource(ctx);
  } else {
    handleNonResource(ctx);
  }
}

namespace {
http::Headers responseHeaders(const RequestCtx& ctx, const std::string& content_type,
                              http::Headers extra) {
  http::Headers h = {{"Content-Type", content_type}, {"Cache-Control", "no-cache, private"}};
  for (auto& e : extra) h.push_back(std::move(e));
  for (const auto& wmsg : ctx.warnings) h.emplace_back("Warning", "299 - " + json(wmsg).dump());
  return h;
}
}  // namespace

void ApiServer::Impl::respond(RequestCtx& ctx, int code, const std::string& content_type,
                              std::string body, http::Headers extra) {
  if (!ctx.w) return;
  ctx.code = code;
  ctx.w->respond(code, responseHeaders(ctx, content_type, std::move(extra)), std::move(body));
  metrics.observeRequest(ctx.info.verb.empty() ? toLower(ctx.req.method) : ctx.info.verb,
                         ctx.metric_resource, code,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count());
}

void ApiServer::Impl::respondStreamed(RequestCtx& ctx, int code, const std::string& content_type,
                                      http::ResponseWriter::BodySource next) {
  if (!ctx.w) return;
  ctx.code = code;
  ctx.w->respondStreamed(code, responseHeaders(ctx, content_type, {}), std::move(next));
  metrics.observeRequest(ctx.info.verb.empty() ? toLower(ctx.req.method) : ctx.info.verb,
                         ctx.metric_resource, code,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count());
}

void ApiServer::Impl::sendJson(RequestCtx& ctx, int code, const json& body) {
  respond(ctx, code, "application/json", body.dump());
}

void ApiServer::Impl::sendError(RequestCtx& ctx, const Status& st, const std::string& name) {
  std::string group, kind;
  if (ctx.kind) {
    group = ctx.kind->group;
    kind = st.code() == Code::kInvalid ? ctx.kind->kind : ctx.kind->resource;
  }
  bool with_details = st.code() == Code::kNotFound || st.code() == Code::kAlreadyExists ||
                      st.code() == Code::kConflict || st.code() == Code::kInvalid;
  json body = with_details ? statusObject(st, name, group, kind) : statusObject(st);
  if (!with_details && !st.causes().empty()) body = statusObject(st);
  sendJson(ctx, httpCode(st.code()), body);
}

void ApiServer::Impl::handleNonResource(RequestCtx& ctx) {
  const std::string& path = ctx.req.path;
  auto text = [&](int code, const std::string& body, const std::string& type) {
    ctx.code = code;
    ctx.w->respond(code, {{"Content-Type", type}, {"Cache-Control", "no-cache, private"}}, body);
  };
  if (path == "/version") {
    sendJson(ctx, 200,
             {{"major", "1"},
              {"minor", "32"},
              {"gitVersion", kGitVersion},
              {"gitCommit", "berth"},
              {"gitTreeState", "clean"},
              {"buildDate", "2026-11-27T00:00:00Z"},
              {"goVersion", "n/a (C++20)"},
              {"compiler", "gcc"},
              {"platform", "linux/amd64"}});
    return;
  }
  if (path == "/healthz" || path == "/livez" || path == "/readyz" || startsWith(path, "/healthz/") ||
      startsWith(path, "/livez/") || startsWith(path, "/readyz/")) {
    // The named checks, as upstream lists them with ?verbose ("[+]ping ok") and serves each at
    // /readyz/<check>. Readiness is the store's state being loaded into the watch cache.
    std::string endpoint = path.substr(
        1, path.find('/', 1) == std::string::npos ? std::string::npos : path.find('/', 1) - 1);
    bool is_ready = endpoint == "readyz";
    bool loaded = ready.load();
    std::vector<std::pair<std::string, bool>> checks = {
        {"ping", true}, {"log", true}, {"etcd", true}};
    if (is_ready) checks.push_back({"informer-sync", loaded});
    checks.push_back({"poststarthook/start-apiserver-admission-initializer", true});
    if (endpoint != "livez") checks.push_back({"poststarthook/bootstrap-controller", loaded});
    std::string sub = path.size() > endpoint.size() + 2 ? path.substr(endpoint.size() + 2) : "";
    if (!sub.empty()) {
      auto it =
          std::find_if(checks.begin(), checks.end(), [&](const auto& c) { return c.first == sub; });
      if (it == checks.end()) {
        text(404, "404 page not found\n", "text/plain; charset=utf-8");
        return;
      }
      text(it->second ? 200 : 500, it->second ? "ok" : "internal server error: " + sub + " failed",
           "text/plain; charset=utf-8");
      return;
    }
    bool ok = std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.second; });
    if (!ctx.req.hasParam("verbose") && ok) {
      text(200, "ok", "text/plain; charset=utf-8");
      return;
    }
    std::string body;
    for (const auto& [name, passed] : checks)
      body += (passed ? "[+]" : "[-]") + name + (passed ? " ok\n" : " failed: reason withheld\n");
    body += endpoint + (ok ? " check passed\n" : " check failed\n");
    text(ok ? 200 : 500, body, "text/plain; charset=utf-8");
    return;
  }
  if (path == "/metrics") {
    text(200, metrics.render(), "text/plain; version=0.0.4");
    return;
  }
  std::string accept = ctx.req.header("accept");
  bool aggregated = accept.find("as=APIGroupDiscoveryList") != std::string::npos &&
                    accept.find("v=v2") != std::string::npos;
  static const char* kAggType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
  if (path == "/api" || path == "/apis") {
    if (aggregated) {
      text(200, path == "/api" ? discovery_api : discovery_apis, kAggType);
    } else {
      text(200, path == "/api" ? legacy_api : legacy_apis, "application/json");
    }
    return;
  }
  if (ctx.info.is_group_version_root) {
    std::string gv = ctx.info.group.empty() ? ctx.info.version : ctx.info.group + "/" + ctx.info.version;
    auto it = legacy_group_versions.find(gv);
    if (it != legacy_group_versions.end()) {
      text(200, it->second, "application/json");
      return;
    }
  }
  if (startsWith(path, "/apis/") && split(path, '/').size() == 3) {
    // /apis/<group>: the APIGroup.
    std::string group = split(path, '/')[2];
    json g = groupObject(*kinds, group);
    if (!g.is_null()) {
      sendJson(ctx, 200, g);
      return;
    }
  }
  if (path == "/openapi/v2") {
    // kubectl asks for gnostic's protobuf (validating `kind: List` manifests); others for JSON.
    if (ctx.req.header("accept").find("protobuf") != std::string::npos)
      text(200, openapi_v2_proto, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    else
      text(200, openapi_v2_json, "application/json");
    return;
  }
  if (path == "/openapi/v3") {
    text(200, openapi_index, "application/json");
    return;
  }
  if (startsWith(path, "/openapi/v3/")) {
    auto it = openapi_docs.find(path.substr(strlen("/openapi/v3/")));
    if (it != openapi_docs.end()) {
      ctx.code = 200;
      ctx.w->respond(200, {{"Content-Type", "application/json"},
                           {"Cache-Control", "public, immutable"},
                           {"Expires", "Fri, 01 Jan 2100 00:00:00 GMT"}},
                     it->second);
      return;
    }
  }
  sendError(ctx, Status(Code::kNotFound, "the server could not find the requested resource"));
}

void ApiServer::Impl::handleResource(RequestCtx& ctx) {
  auto& info = ctx.info;
  const KindSpec* k = kinds->byResource(info.group, info.version, info.resource);
  ctx.metric_resource = info.resource;
  if (!k) {
    if (handleVirtual(ctx)) return;
    sendError(ctx, Status(Code::kNotFound, "the server could not find the requested resource"));
    return;
  }
  if (!k->storage_version.empty()) return handleStoredAs(ctx, *k);
  ctx.kind = k;
  if (ctx.req.body_too_large) {
    sendError(ctx, Status(Code::kRequestEntityTooLarge, "Request entity too large: limit is 3145728"));
    return;
  }
  // Cluster-scoped kinds addressed through a namespace, and the reverse.
  if (!k->namespaced && !info.namespace_.empty()) {
    sendError(ctx, Status(Code::kNotFound, "the server could not find the requested resource"));
    return;
  }
  if (!info.subresource.empty()) {
    bool ok = (info.subresource == "status" && k->has_status) ||
              (info.subresource == "scale" && k->has_scale) ||
              (info.resource == "namespaces" && info.subresource == "finalize") ||
              (isCsrKind(*k) && info.subresource == "approval");
    if (!ok || info.name.empty()) {
      if (handleVirtual(ctx)) return;
      sendError(ctx, Status(Code::kNotFound, "the server could not find the requested resource"));
      return;
    }
  }
  const std::string& v = info.verb;
  // A verb the kind does not serve (deletecollection of namespaces), or a write to a
  // collection, is not allowed on it.
  bool collection_write = info.name.empty() && (v == "update" || v == "patch");
  if (collection_write || std::find(k->verbs.begin(), k->verbs.end(), v) == k->verbs.end()) {
    sendError(ctx, Status(Code::kMethodNotAllowed,
                          "the server does not allow this method on the requested resource"));
    return;
  }
  if (v != "get" && v != "list" && v != "watch") {
    // Only "All" is a dry run; anything else is refused before anything is written.
    std::vector<std::string> dry = ctx.req.params("dryRun");
    if (std::any_of(dry.begin(), dry.end(), [](const std::string& d) { return d != "All"; })) {
      std::string options = v == "create"   ? "CreateOptions"
                            : v == "update" ? "UpdateOptions"
                            : v == "patch"  ? "PatchOptions"
                                            : "DeleteOptions";
      std::string values;
      for (const auto& d : dry) values += (values.empty() ? "" : ", ") + json(d).dump();
      sendError(ctx, Status(Code::kInvalid, options +
                                                ".meta.k8s.io \"\" is invalid: dryRun: "
                                                "Unsupported value: []string{" +
                                                values + "}: supported values: \"All\"")
                         .withCause({"FieldValueNotSupported",
                                     "Unsupported value: []string{" + values +
                                         "}: supported values: \"All\"",
                                     "dryRun"}));
      return;
    }
  }
  if (v == "get") handleGet(ctx);
  else if (v == "list") handleList(ctx);
  else if (v == "watch") handleWatch(ctx);
  else if (v == "create" && info.name.empty()) handleCreate(ctx);
  else if (v == "update") handleUpdate(ctx);
  else if (v == "patch") handlePatch(ctx);
  else if (v == "delete") handleDelete(ctx);
  else if (v == "deletecollection") handleDeleteCollection(ctx);
  else
    sendError(ctx, Status(Code::kMethodNotAllowed,
                          "the server does not allow this method on the requested resource"));
}

void ApiServer::Impl::buildDocuments() {
  DiscoveryDocuments d = buildDiscovery(*kinds, kGitVersion);
  discovery_api = d.aggregated_api;
  discovery_apis = d.aggregated_apis;
  legacy_api = d.legacy_api;
  legacy_apis = d.legacy_apis;
  legacy_group_versions = d.group_versions;
  openapi_index = d.openapi_index;
  openapi_docs = d.openapi_docs;
  openapi_v2_json = std::move(d.openapi_v2_json);
  openapi_v2_proto = std::move(d.openapi_v2_proto);
}

}  // namespace berth::apiserver
