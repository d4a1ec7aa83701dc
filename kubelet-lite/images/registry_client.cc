#include "kubelet-lite/images/registry_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "kubelet-lite/images/blob_store.h"

namespace berth::images {

using json = nlohmann::json;

namespace {

// The host[:port] a docker config key names: "https://index.docker.io/v1/" -> "docker.io".
std::string normaliseRegistryKey(std::string k) {
  if (size_t p = k.find("://"); p != std::string::npos) k = k.substr(p + 3);
  if (size_t p = k.find('/'); p != std::string::npos) k = k.substr(0, p);
  k = toLower(k);
  if (k == "index.docker.io" || k == "registry-1.docker.io" || k == "registry.hub.docker.com")
    return "docker.io";
  return k;
}

bool isLoopback(const std::string& registry) {
  std::string host = registry;
  if (startsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (size_t c = host.rfind(':'); c != std::string::npos && host.find(':') == c) {
    host = host.substr(0, c);
  }
  if (host == "localhost") return true;
  in_addr a4;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return host == "::1";
}

std::string registryError(const std::string& body, long code) {
  try {
    json j = json::parse(body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
      const json& e = j["errors"][0];
      std::string msg = e.value("message", "");
      std::string c = e.value("code", "");
      if (!msg.empty()) return c.empty() ? msg : msg + " (" + c + ")";
    }
  } catch (const json::exception&) {
  }
  return "HTTP " + std::to_string(code);
}

void ensureCurlInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<Keyring> Keyring::parse(const std::vector<std::string>& docker_configs) {
  Keyring k;
  for (const std::string& text : docker_configs) {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      return badRequest(std::string("image pull secret is not valid docker config JSON: ") + e.what());
    }
    if (!j.is_object()) return badRequest("image pull secret is not a JSON object");
    const json& auths = j.contains("auths") ? j["auths"] : j;  // .dockercfg has no "auths"
    if (!auths.is_object()) return badRequest("image pull secret: \"auths\" must be an object");
    for (auto it = auths.begin(); it != auths.end(); ++it) {
      if (!it->is_object()) continue;
      RegistryCredential c;
      c.username = it->value("username", "");
      c.password = it->value("password", "");
      if (std::string auth = it->value("auth", ""); !auth.empty()) {
        std::string decoded;
        if (!base64Decode(auth, &decoded) || decoded.find(':') == std::string::npos)
          return badRequest("image pull secret: \"auth\" for " + it.key() +
                            " is not base64 of user:password");
        c.username = decoded.substr(0, decoded.find(':'));
        c.password = decoded.substr(decoded.find(':') + 1);
      }
      k.add(it.key(), c);
    }
  }
  return k;
}

void Keyring::add(const std::string& registry, RegistryCredential cred) {
  creds_.emplace(normaliseRegistryKey(registry), std::move(cred));  // the first secret wins
}

std::optional<RegistryCredential> Keyring::lookup(const std::string& registry) const {
  auto it = creds_.find(normaliseRegistryKey(registry));
  if (it == creds_.end()) return std::nullopt;
  return it->second;
}

std::string parseChallenge(const std::string& header, std::map<std::string, std::string>* params) {
  std::string_view s = trim(header);
  size_t sp = s.find(' ');
  std::string scheme = toLower(s.substr(0, sp));
  if (sp == std::string_view::npos) return scheme;
  s.remove_prefix(sp + 1);
  while (!s.empty()) {
    s = trim(s);
    size_t eq = s.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = toLower(trim(s.substr(0, eq)));
    s.remove_prefix(eq + 1);
    std::string value;
    if (!s.empty() && s.front() == '"') {
      size_t i = 1;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value += s[i];
      }
      s.remove_prefix(std::min(i + 1, s.size()));
    } else {
      size_t comma = s.find(',');
      value = std::string(trim(s.substr(0, comma)));
      s.remove_prefix(comma == std::string_view::npos ? s.size() : comma);
    }
    (*params)[key] = value;
    s = trim(s);
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
  return scheme;
}

struct RegistryClient::Response {
  long code = 0;
  std::string body;  // only when no sink took it (errors, manifests, tokens)
  std::map<std::string, std::string> headers;  // lower-cased names, the last response's
};

RegistryClient::RegistryClient(Options opts) : opts_(std::move(opts)) { ensureCurlInit(); }

std::string RegistryClient::baseUrl(const std::string& name) const {
  auto mirror = opts_.mirrors.find(name);
  const std::string& registry = mirror == opts_.mirrors.end() ? name : mirror->second;
  std::string host = registry == "docker.io" ? "registry-1.docker.io" : registry;
  bool plain = isLoopback(registry) ||
               std::find(opts_.insecure_registries.begin(), opts_.insecure_registries.end(),
                         registry) != opts_.insecure_registries.end();
  return (plain ? "http://" : "https://") + host;
}

namespace {

struct Transfer {
  CURL* curl;
  const RegistryClient::Sink* sink;
  std::string body;
  std::map<std::string, std::string> headers;
  Status sink_status;
};

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (startsWith(line, "HTTP/")) t->headers.clear();  // a new response (after a redirect)
  size_t colon = line.find(':');
  if (colon != std::string_view::npos)
    t->headers[toLower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code == 200 && t->sink) {
    t->sink_status = (*t->sink)(data, size * n);
    return t->sink_status.isOk() ? size * n : 0;
  }
  if (t->body.size() > (64u << 20)) return 0;  // a manifest or error body this large is bogus
  t->body.append(data, size * n);
  return size * n;
}

}  // namespace

Result<RegistryClient::Response> RegistryClient::perform(const std::string& url,
                                                         const std::string& accept,
                                                         const std::string& authorization,
                                                         const Sink* sink) {
  CURL* c = curl_easy_init();
  if (!c) return internalError("curl_easy_init failed");
  Transfer t{c, sink, {}, {}, Status::ok()};
  curl_slist* headers = nullptr;
  if (!accept.empty()) headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  if (!authorization.empty()) headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.low_speed_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  CURLcode rc = curl_easy_perform(c);
  Response r;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (!t.sink_status.isOk()) return t.sink_status;
  if (rc != CURLE_OK)
    return Status(Code::kUnavailable, "GET " + url + ": " + curl_easy_strerror(rc));
  r.body = std::move(t.body);
  r.headers = std::move(t.headers);
  return r;
}

Result<std::string> RegistryClient::authorize(const ImageReference& ref, const std::string& challenge,
                                              const std::optional<RegistryCredential>& cred) {
  std::map<std::string, std::string> params;
  std::string scheme = parseChallenge(challenge, &params);
  std::string basic = cred ? "Basic " + base64Encode(cred->username + ":" + cred->password) : "";
  if (scheme == "basic") {
    if (!cred) return Status(Code::kUnauthorized, "the registry requires credentials (no imagePullSecret matches " + ref.registry + ")");
    return basic;
  }
  if (scheme != "bearer" || params["realm"].empty())
    return Status(Code::kUnauthorized, "unsupported authentication challenge \"" + challenge + "\"");
  std::string url = params["realm"];
  std::string scope = params.count("scope") ? params["scope"] : "repository:" + ref.repository + ":pull";
  url += (url.find('?') == std::string::npos ? "?" : "&");
  if (!params["service"].empty()) url += "service=" + urlEncode(params["service"]) + "&";
  url += "scope=" + urlEncode(scope);
  BERTH_ASSIGN_OR_RETURN(Response r, perform(url, "application/json", basic, nullptr));
  if (r.code != 200)
    return Status(Code::kUnauthorized, "token request to " + params["realm"] + " failed: " +
                                           registryError(r.body, r.code));
  try {
    json j = json::parse(r.body);
    std::string tok = j.value("token", "");
    if (tok.empty()) tok = j.value("access_token", "");
    if (tok.empty()) return Status(Code::kUnauthorized, "token response from " + params["realm"] + " has no token");
    return "Bearer " + tok;
  } catch (const json::exception&) {
    return Status(Code::kUnauthorized, "token response from " + params["realm"] + " is not JSON");
  }
}

Result<RegistryClient::Response> RegistryClient::get(const ImageReference& ref, const std::string& url,
                                                     const std::string& accept,
                                                     const std::optional<RegistryCredential>& cred,
                                                     const Sink* sink) {
  const std::string key = ref.registry + "/" + ref.repository;
  std::string auth;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = tokens_.find(key); it != tokens_.end()) auth = it->second;
  }
  BERTH_ASSIGN_OR_RETURN(Response r, perform(url, accept, auth, sink));
  if (r.code != 401) return r;
  auto challenge = r.headers.find("www-authenticate");
  if (challenge == r.headers.end())
    return Status(Code::kUnauthorized, "unauthorized: " + registryError(r.body, r.code));
  BERTH_ASSIGN_OR_RETURN(auth, authorize(ref, challenge->second, cred));
  {
    std::lock_guard<std::mutex> l(mu_);
    tokens_[key] = auth;
  }
  return perform(url, accept, auth, sink);
}

namespace {

Status statusFor(const RegistryClient* , long code, const std::string& body, const std::string& what) {
  std::string msg = registryError(body, code);
  Code c = code == 404 ? Code::kNotFound
           : (code == 401 || code == 403) ? Code::kUnauthorized
           : code == 429 ? Code::kTooManyRequests
           : Code::kUnavailable;
  return Status(c, what + ": " + msg);
}

}  // namespace

Result<RegistryClient::Manifest> RegistryClient::fetchManifest(const ImageReference& ref,
                                                               const std::string& reference,
                                                               const std::optional<RegistryCredential>& cred) {
  std::string url = baseUrl(ref.registry) + "/v2/" + ref.repository + "/manifests/" + reference;
  std::string accept = std::string(kOciIndex) + ", " + kOciManifest + ", " + kDockerList + ", " + kDockerManifest;
  BERTH_ASSIGN_OR_RETURN(Response r, get(ref, url, accept, cred, nullptr));
  if (r.code != 200) return statusFor(this, r.code, r.body, ref.name() + ":" + reference);
  Manifest m;
  m.media_type = r.headers["content-type"];
  if (size_t semi = m.media_type.find(';'); semi != std::string::npos) m.media_type.resize(semi);
  m.digest = Sha256::of(r.body);
  m.body = std::move(r.body);
  if (isValidDigest(reference) && m.digest != reference)
    return badRequest("digest mismatch: manifest " + reference + " of " + ref.name() +
                      " has content " + m.digest + "; refused");
  return m;
}

Status RegistryClient::fetchBlob(const ImageReference& ref, const std::string& digest,
                                 const std::optional<RegistryCredential>& cred, const Sink& sink) {
  std::string url = baseUrl(ref.registry) + "/v2/" + ref.repository + "/blobs/" + digest;
  BERTH_ASSIGN_OR_RETURN(Response r, get(ref, url, "", cred, &sink));
  if (r.code != 200) return statusFor(this, r.code, r.body, "blob " + digest + " of " + ref.name());
  return Status::ok();
}

}  // namespace berth::images
