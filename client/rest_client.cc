#include "client/rest_client.h"

#include <curl/curl.h>

#include <algorithm>

#include "common/json_parse.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::client {

bool Resource::hasVerb(const std::string& v) const {
  return std::find(verbs.begin(), verbs.end(), v) != verbs.end();
}

std::string Resource::path(const std::string& ns, const std::string& name,
                           const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + urlEncode(ns);
  p += "/" + resource;
  if (!name.empty()) p += "/" + urlEncode(name);
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

const char* contentType(PatchType t) {
  switch (t) {
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::kApply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

namespace {

Code codeFromReason(const std::string& reason, long http_code) {
  static const std::pair<const char*, Code> kReasons[] = {
      {"BadRequest", Code::kBadRequest},       {"Unauthorized", Code::kUnauthorized},
      {"Forbidden", Code::kForbidden},         {"NotFound", Code::kNotFound},
      {"MethodNotAllowed", Code::kMethodNotAllowed}, {"NotAcceptable", Code::kNotAcceptable},
      {"AlreadyExists", Code::kAlreadyExists}, {"Conflict", Code::kConflict},
      {"Expired", Code::kExpired},             {"Gone", Code::kExpired},
      {"RequestEntityTooLarge", Code::kRequestEntityTooLarge},
      {"UnsupportedMediaType", Code::kUnsupportedMediaType}, {"Invalid", Code::kInvalid},
      {"TooManyRequests", Code::kTooManyRequests}, {"InternalError", Code::kInternal},
      {"ServiceUnavailable", Code::kUnavailable}, {"Timeout", Code::kTimeout},
  };
  for (const auto& [r, c] : kReasons)
    if (reason == r) return c;
  switch (http_code) {
    case 400: return Code::kBadRequest;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 405: return Code::kMethodNotAllowed;
    case 406: return Code::kNotAcceptable;
    case 409: return Code::kConflict;
    case 410: return Code::kExpired;
    case 413: return Code::kRequestEntityTooLarge;
    case 415: return Code::kUnsupportedMediaType;
    case 422: return Code::kInvalid;
    case 429: return Code::kTooManyRequests;
    case 503: return Code::kUnavailable;
    case 504: return Code::kTimeout;
    default: return Code::kInternal;
  }
}

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? "?" : "&";
    q += k + "=" + urlEncode(v);
  }
  return q;
}

struct WatchState {
  CURL* curl = nullptr;
  const WatchHandler* handler = nullptr;
  CancelToken* cancel = nullptr;
  std::string buf;
  std::string error_body;
  long code = 0;
  bool stopped = false;
  Status parse_error;
};

size_t watchWrite(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<WatchState*>(user);
  if (st->code == 0) curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->code);
  if (st->code != 200) {
    st->error_body.append(data, size * n);
    return size * n;
  }
  st->buf.append(data, size * n);
  size_t start = 0;
  while (true) {
    size_t nl = st->buf.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(st->buf.data() + start, nl - start);
    start = nl + 1;
    if (trim(line).empty()) continue;
    json ev = parseJson(line);
    if (ev.is_discarded() || !ev.is_object()) {
      st->parse_error = internalError("watch: malformed event line");
      st->stopped = true;
      return 0;
    }
    if (!(*st->handler)(ev)) {
      st->stopped = true;
      return 0;
    }
    if (st->cancel && st->cancel->cancelled()) {
      st->stopped = true;
      return 0;
    }
  }
  st->buf.erase(0, start);
  return size * n;
}

int watchProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<WatchState*>(user);
  return (st->cancel && st->cancel->cancelled()) ? 1 : 0;
}

}  // namespace

Status statusFromResponse(long http_code, const std::string& body) {
  json st = json::parse(body, nullptr, false);
  if (st.is_object() && st.value("kind", "") == "Status") {
    std::string reason = st.value("reason", "");
    long code = st.contains("code") && st["code"].is_number_integer() ? st["code"].get<long>() : http_code;
    Status s(codeFromReason(reason, code), st.value("message", "HTTP " + std::to_string(http_code)));
    if (st.contains("details") && st["details"].is_object() && st["details"].contains("causes") &&
        st["details"]["causes"].is_array()) {
      for (const auto& c : st["details"]["causes"])
        if (c.is_object())
          s = s.withCause({c.value("reason", ""), c.value("message", ""), c.value("field", "")});
    }
    return s;
  }
  std::string msg = std::string(trim(body));
  if (msg.size() > 512) msg.resize(512);
  return Status(codeFromReason("", http_code),
                "HTTP " + std::to_string(http_code) + (msg.empty() ? "" : ": " + msg));
}

RestClient::RestClient(KubeConfig config, Options opts)
    : config_(std::move(config)), opts_(std::move(opts)) {
  globalInit();
}

RestClient::~RestClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

Result<std::unique_ptr<RestClient>> RestClient::fromKubeconfig(const std::string& path) {
  auto kc = loadKubeConfig(path);
  if (!kc.isOk()) return kc.status();
  return std::make_unique<RestClient>(std::move(kc).value());
}

void* RestClient::takeHandle() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void RestClient::giveBack(void* handle) {
  std::lock_guard<std::mutex> l(mu_);
  idle_.push_back(handle);
}

void RestClient::configure(void* handle, const std::string& url) {
  CURL* c = static_cast<CURL*>(handle);
  // reset keeps the connection cache and TLS session cache: the point of the pool.
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!config_.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(config_.cert_pem.data()), config_.cert_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!config_.key_pem.empty()) {
    curl_blob key{const_cast<char*>(config_.key_pem.data()), config_.key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

Result<json> RestClient::request(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& content_type) {
  CURL* c = static_cast<CURL*>(takeHandle());
  if (!c) return internalError("curl_easy_init failed");
  configure(c, config_.server + path);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!body.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  if (!config_.token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + config_.token).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.request_timeout.count()));
  std::string resp;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // A broken connection: do not hand this handle's state to the next caller.
    curl_easy_cleanup(c);
    Code k = rc == CURLE_OPERATION_TIMEDOUT ? Code::kTimeout : Code::kUnavailable;
    return Status(k, method + " " + path + ": " + curl_easy_strerror(rc));
  }
  giveBack(c);
  if (code >= 400) return statusFromResponse(code, resp);
  if (trim(resp).empty()) return json::object();
  json out = parseJson(resp);
  if (out.is_discarded()) return internalError(method + " " + path + ": response is not JSON");
  return out;
}

Result<json> RestClient::get(const Resource& r, const std::string& ns, const std::string& name) {
  return request("GET", r.path(ns, name));
}

Result<json> RestClient::list(const Resource& r, const std::string& ns, const ListOptions& o) {
  return request("GET", r.path(ns) + query({{"labelSelector", o.label_selector},
                                           {"fieldSelector", o.field_selector},
                                           {"resourceVersion", o.resource_version},
                                           {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                                           {"continue", o.continue_token}}));
}

Result<json> RestClient::create(const Resource& r, const std::string& ns, const json& obj) {
  return request("POST", r.path(ns), obj.dump());
}

Result<json> RestClient::update(const Resource& r, const std::string& ns, const std::string& name,
                                const json& obj, const std::string& subresource) {
  return request("PUT", r.path(ns, name, subresource), obj.dump());
}

Result<json> RestClient::patch(const Resource& r, const std::string& ns, const std::string& name,
                               PatchType type, const json& p) {
  std::string path = r.path(ns, name);
  if (type == PatchType::kApply) path += "?fieldManager=berth-controller-manager";
  return request("PATCH", path, p.dump(), contentType(type));
}

Result<json> RestClient::remove(const Resource& r, const std::string& ns, const std::string& name,
                                const json& options) {
  return request("DELETE", r.path(ns, name), options.empty() ? "" : options.dump());
}

Result<json> RestClient::removeCollection(const Resource& r, const std::string& ns,
                                          const json& options) {
  return request("DELETE", r.path(ns), options.empty() ? "" : options.dump());
}

Status RestClient::watch(const Resource& r, const std::string& ns, const WatchOptions& o,
                         const WatchHandler& handler, CancelToken* cancel) {
  std::string path = r.path(ns) + query({{"watch", "true"},
                                         {"resourceVersion", o.resource_version},
                                         {"allowWatchBookmarks", o.allow_bookmarks ? "true" : ""},
                                         {"timeoutSeconds", std::to_string(o.timeout_seconds)},
                                         {"labelSelector", o.label_selector},
                                         {"fieldSelector", o.field_selector}});
  CURL* c = curl_easy_init();
  if (!c) return internalError("curl_easy_init failed");
  configure(c, config_.server + path);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!config_.token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + config_.token).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  WatchState st;
  st.curl = c;
  st.handler = &handler;
  st.cancel = cancel;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watchWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watchProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(o.timeout_seconds + 30));
  CURLcode rc = curl_easy_perform(c);
  if (st.code == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st.code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (!st.parse_error.isOk()) return st.parse_error;
  if (st.stopped || (cancel && cancel->cancelled())) return Status::ok();
  if (rc != CURLE_OK) return Status(Code::kUnavailable, "watch " + path + ": " + curl_easy_strerror(rc));
  if (st.code >= 400) return statusFromResponse(st.code, st.error_body);
  return Status::ok();
}

}  // namespace berth::client
