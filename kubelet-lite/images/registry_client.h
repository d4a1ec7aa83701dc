// RegistryClient: the pull side of the OCI distribution API over libcurl.
//
// - GET /v2/<repo>/manifests/<tag|digest> with Accept for OCI index/manifest and Docker v2
//   schema2 list/manifest; GET /v2/<repo>/blobs/<digest> streamed to a sink (redirects followed).
// - Auth: an anonymous request first; a 401 with `WWW-Authenticate: Bearer realm=...,service=...,
//   scope=...` is answered by fetching a token from the realm (with the credentials as HTTP basic
//   auth when there are any) and retrying; a `Basic` challenge is answered with the credentials.
//   Tokens are cached per registry and repository.
// - Scheme: plain HTTP for loopback registries (localhost, 127.0.0.0/8, ::1) and for the hosts
//   named in `insecure_registries` ("HOST:PORT"), HTTPS with certificate checks otherwise.
//   "docker.io" is served by registry-1.docker.io. A registry with a mirror (Options::mirrors)
//   is served by the mirror instead (plain HTTP when the mirror is loopback or insecure).
// - Errors carry the registry's own message (e.g. "manifest unknown"): NotFound for 404,
//   Unauthorized for 401/403, Unavailable when the registry cannot be reached.
// Keyring reads imagePullSecrets (".dockerconfigjson" {"auths":{...}} or legacy ".dockercfg").
// Thread-safety: RegistryClient methods may be called from any thread; Keyring is a value.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kubelet-lite/images/image_reference.h"

namespace berth::images {

struct RegistryCredential {
  std::string username;
  std::string password;
};

class Keyring {
 public:
  // Each element is the content of one pull secret's .dockerconfigjson (or .dockercfg).
  static Result<Keyring> parse(const std::vector<std::string>& docker_configs);
  void add(const std::string& registry, RegistryCredential cred);
  // The credential for `registry` (host[:port]); docker.io also matches index.docker.io keys.
  std::optional<RegistryCredential> lookup(const std::string& registry) const;
  bool empty() const { return creds_.empty(); }

 private:
  std::map<std::string, RegistryCredential> creds_;  // normalised host[:port] -> credential
};

// Media types this client understands.
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

class RegistryClient {
 public:
  struct Options {
    std::vector<std::string> insecure_registries;  // "HOST:PORT" allowed over plain HTTP
    // Registry mirrors, "FROM" -> "TO" (host[:port] each): requests for images named FROM/...
    // go to TO; the image keeps the name the user wrote (tags, credentials look-up).
    std::map<std::string, std::string> mirrors;
    std::chrono::seconds connect_timeout{15};
    std::chrono::seconds low_speed_timeout{60};  // abort a transfer stalled this long
    std::string user_agent = "berth-agent";
  };
  explicit RegistryClient(Options opts);

  struct Manifest {
    std::string media_type;
    std::string body;
    std::string digest;  // sha256 of body
  };
  using Sink = std::function<Status(const char* data, size_t n)>;

  // `reference` is a tag or a digest; when a digest, the body is checked against it.
  Result<Manifest> fetchManifest(const ImageReference& ref, const std::string& reference,
                                 const std::optional<RegistryCredential>& cred);
  Status fetchBlob(const ImageReference& ref, const std::string& digest,
                   const std::optional<RegistryCredential>& cred, const Sink& sink);

  // "http://127.0.0.1:5000" or "https://registry-1.docker.io" (the mirror's, when it has one).
  std::string baseUrl(const std::string& registry) const;

 private:
  struct Response;
  Result<Response> get(const ImageReference& ref, const std::string& url,
                       const std::string& accept, const std::optional<RegistryCredential>& cred,
                       const Sink* sink);
  Result<Response> perform(const std::string& url, const std::string& accept,
                           const std::string& authorization, const Sink* sink);
  Result<std::string> authorize(const ImageReference& ref, const std::string& challenge,
                                const std::optional<RegistryCredential>& cred);

  Options opts_;
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // registry/repository -> "Bearer ..." header
};

// Splits a WWW-Authenticate value into its scheme and parameters (exposed for tests).
std::string parseChallenge(const std::string& header, std::map<std::string, std::string>* params);

}  // namespace berth::images
