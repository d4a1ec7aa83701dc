// Which requests the HTTP server may hand to ApiServer::Impl::handle on its event loop instead
// of the worker pool (http::Options::run_inline). Only answers that are ready-made or read from
// the watch cache without waiting qualify: health checks, /version, discovery, OpenAPI, and a
// JSON GET of one stored object while the cache is up to date. Anything that may block (a
// store read, a token to verify, a cache that must catch up first) or that costs real work
// (Tables, protobuf, lists, watches, writes) stays on the pool.
#include "apiserver/core/api_context.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace {

bool isHealthPath(const std::string& path) {
  return path == "/version" || path == "/healthz" || path == "/livez" || path == "/readyz" ||
         startsWith(path, "/healthz/") || startsWith(path, "/livez/") ||
         startsWith(path, "/readyz/");
}

// JSON is the only output served inline: Table and protobuf encodings re-encode the object.
bool wantsPlainJson(const http::Request& req) {
  std::string accept = req.header("accept");
  return accept.find("as=Table") == std::string::npos &&
         accept.find("protobuf") == std::string::npos && accept.find("yaml") == std::string::npos;
}

}  // namespace

bool ApiServer::Impl::servesInline(const http::Request& req) const {
  if (req.method != "GET" || !req.body.empty() || !req.raw_query.empty()) return false;
  // Client certificates need no work; a static token is a map lookup. Service account and
  // bootstrap tokens verify signatures or read Secrets: the pool does those.
  std::string auth = req.header("authorization");
  if (!auth.empty()) {
    if (!startsWith(auth, "Bearer ") && !startsWith(auth, "bearer ")) return false;
    if (tokens.find(std::string(trim(auth.substr(7)))) == tokens.end()) return false;
  }
  const std::string& path = req.path;
  if (isHealthPath(path)) return true;  // public: anonymous callers too
  if (auth.empty() && req.client_cert_cn.empty()) return false;  // the pool answers the 401
  if (path == "/api" || path == "/apis" || startsWith(path, "/openapi/v3")) return true;
  RequestInfo info = parseRequestInfo(req.method, path, false);
  if (info.is_group_version_root) return true;
  if (!info.is_resource_request || info.verb != "get" || !info.subresource.empty()) return false;
  const KindSpec* k = kinds->byResource(info.group, info.version, info.resource);
  if (!k || !k->storage_version.empty()) return false;
  if (k->namespaced == info.namespace_.empty()) return false;  // the pool answers the 404
  return wantsPlainJson(req) && cache->isFresh();
}

}  // namespace berth::apiserver
