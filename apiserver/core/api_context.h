// Internal to apiserver/core: the state shared by the request handlers (ApiServer::Impl) and
// the small helpers they share. Not a public interface.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apiserver/core/api_server.h"
#include "apiserver/core/metrics.h"
#include "apiserver/core/request_info.h"
#include "apiserver/core/service_allocator.h"
#include "apiserver/core/watch_cache.h"
#include "apiserver/http/pki.h"
#include "apiserver/http/server.h"
#include "apiserver/kinds/kind_spec.h"
#include "apiserver/storage/store.h"
#include "common/timer_queue.h"

namespace berth::apiserver {

using json = nlohmann::json;

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

enum class OutFormat { kJson, kTable, kYaml, kProtobuf };

// Per-request state.
struct RequestCtx {
  http::Request& req;
  std::shared_ptr<http::ResponseWriter> w;
  RequestInfo info;
  const KindSpec* kind = nullptr;
  UserInfo user;
  OutFormat out = OutFormat::kJson;
  std::vector<std::string> warnings;
  std::vector<std::string> duplicate_fields;  // from decoding the body, for fieldValidation
  bool is_apply = false;                      // a server-side apply patch
  // Set by createObject: the created object serialised with its resourceVersion, so the
  // response reuses the bytes written to the store instead of encoding the object again.
  std::string created_json;
  std::chrono::steady_clock::time_point started;
  std::string metric_resource;
  int code = 0;
};

// Version reported to clients; kubectl's dispatcher picks its client by major/minor.
inline constexpr const char* kGitVersion = "v1.32.0+berth";

struct ApiServer::Impl {
  ServerOptions options;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<WatchCache> cache;
  std::unique_ptr<http::Server> http;
  std::unique_ptr<TimerQueue> timers;
  std::unique_ptr<ServiceAllocator> services;
  const KindRegistry* kinds = nullptr;
  Metrics metrics;
  std::map<std::string, UserInfo> tokens;
  std::string url;
  std::string admin_kubeconfig;
  std::atomic<bool> ready{false};

  // Cached discovery and OpenAPI documents (built once; kinds are static).
  std::string discovery_api, discovery_apis, legacy_api, legacy_apis;
  std::map<std::string, std::string> legacy_group_versions;  // "apps/v1" -> APIResourceList
  std::string openapi_index;
  std::map<std::string, std::string> openapi_docs;  // "apis/apps/v1" -> doc
  std::string openapi_v2_json, openapi_v2_proto;

  // ---- set-up (api_server.cc) ----
  Status openStore();
  Status loadTokens();
  Status bootstrap();
  Status bootstrapDnsService(const KindSpec& svc, const UserInfo& user);
  Status startServing();
  void buildDocuments();

  // ---- dispatch (api_server.cc) ----
  void handle(http::Request& req, std::shared_ptr<http::ResponseWriter> w);
  // Whether `handle` may answer req on the HTTP event loop: quickly and without blocking
  // (inline_requests.cc). Any thread; reads only what is fixed after start-up and the cache.
  bool servesInline(const http::Request& req) const;
  // Who is asking: kUnauthorized with the reason when a presented credential is bad.
  Status authenticate(RequestCtx& ctx);
  // Bootstrap tokens against kube-system/bootstrap-token-<id> Secrets, and what their users may
  // do (bootstrap_auth.cc).
  Result<UserInfo> authenticateBootstrapToken(const std::string& token);
  Status authorizeBootstrapper(const RequestCtx& ctx);
  void handleNonResource(RequestCtx& ctx);
  void handleResource(RequestCtx& ctx);
  // Non-stored resources: access reviews, pod binding and eviction (virtual_resources.cc).
  // Returns true when it handled the request.
  bool handleVirtual(RequestCtx& ctx);
  // A kind served at a second version of a stored one (stored_version.cc): converts the
  // request, handles it as the stored version, converts the answer.
  void handleStoredAs(RequestCtx& ctx, const KindSpec& view);
  Status convertRequestToStored(RequestCtx& ctx, const KindSpec& view, const KindSpec& stored);
  // serviceaccounts/token and the tokens it issues (service_account_tokens.cc).
  Status loadServiceAccountKey();
  void handleTokenRequest(RequestCtx& ctx);
  Result<UserInfo> authenticateServiceAccountToken(const std::string& token);
  std::string sa_signing_key;
  // pods/log, exec, attach, portforward through the node's kubelet (pod_proxy.cc).
  bool handlePodProxy(RequestCtx& ctx);
  Status setUpKubeletClient(const http::PkiFiles& pki);
  std::string kubelet_client_cert, kubelet_client_key;  // PEM, issued at start-up
  // pods/eviction with the PodDisruptionBudget checks (eviction.cc).
  void handleEviction(RequestCtx& ctx, const json& eviction);
  Result<std::vector<ObjPtr>> budgetsFor(const json& pod);

  // ---- responses ----
  // Every API response goes out here: Cache-Control, Warning headers, metrics.
  void respond(RequestCtx& ctx, int code, const std::string& content_type, std::string body,
               http::Headers extra = {});
  // The same for a large body produced piece by piece on the connection's loop (lists).
  void respondStreamed(RequestCtx& ctx, int code, const std::string& content_type,
                       http::ResponseWriter::BodySource next);
  void sendJson(RequestCtx& ctx, int code, const json& body);
  void sendObject(RequestCtx& ctx, int code, const json& obj);  // honours ctx.out
  void sendError(RequestCtx& ctx, const Status& st, const std::string& name = "");

  // ---- reads (rest_read.cc) ----
  void handleGet(RequestCtx& ctx);
  void handleList(RequestCtx& ctx);
  void handleWatch(RequestCtx& ctx);
  Result<ObjPtr> readCurrent(const KindSpec& k, const std::string& ns, const std::string& name);

  // ---- writes (rest_write.cc) ----
  void handleCreate(RequestCtx& ctx);
  void handleUpdate(RequestCtx& ctx);
  void handlePatch(RequestCtx& ctx);
  void handleDelete(RequestCtx& ctx);
  void handleDeleteCollection(RequestCtx& ctx);
  Result<json> decodeBody(RequestCtx& ctx, const KindSpec& k, bool check_kind);

  // Object lifecycle shared by create/update/patch/delete.
  Result<json> createObject(RequestCtx& ctx, const KindSpec& k, json obj, bool dry_run);
  Status prepareCreate(RequestCtx& ctx, const KindSpec& k, json& obj, bool dry_run);
  // A create answered from the thread that commits it (a JSON answer, not a dry run, not a
  // Service): the worker returns as soon as the write is queued.
  void createAnsweredOnCommit(RequestCtx& ctx, const KindSpec& k, json obj,
                              const std::string& error_name);
  // What both create paths store for a prepared object: its key, its name and its bytes
  // (without resourceVersion: that is the row's revision).
  struct StoredCreate {
    std::string key, name, bytes;
  };
  static StoredCreate storedCreate(const KindSpec& k, const json& obj);
  // A failed store create as the API reports it (AlreadyExists names the object).
  static Status createStoreError(const KindSpec& k, const std::string& name, const Status& st);
  // `mutate` turns the current object into the desired one; retried on CAS conflicts unless
  // the desired object pins a resourceVersion.
  Result<json> updateObject(RequestCtx& ctx, const KindSpec& k, const std::string& ns,
                            const std::string& name,
                            const std::function<Result<json>(const json* current)>& mutate,
                            bool allow_create, bool dry_run, bool* created);
  Result<json> deleteObject(RequestCtx& ctx, const KindSpec& k, const std::string& ns,
                            const std::string& name, const json& options, bool dry_run,
                            bool* deleted_now);

  const KindSpec* namespaceKind() const;
  // Every cached object of a kind, or of one namespace of it (empty when the kind is not
  // served).
  std::vector<json> cachedObjects(const std::string& group, const std::string& version,
                                  const std::string& resource, const std::string& ns = "");
  // ResourceQuota admission of a create (or, with `old`, of an update, charged only what it
  // adds to old's usage): every quota of the namespace that selects the object and limits
  // what it uses must have room; its status.used is raised by the usage (compare-and-swap on
  // the quota, not on a dry run). Forbidden when one has no room.
  Status chargeQuota(const KindSpec& k, const json& obj, bool dry_run, const json* old = nullptr);
  // The priority classes that can apply to a new pod: the one it names, else the defaults.
  std::vector<json> priorityClassesFor(const json& pod);
  // The Priority admission plugin's check of a PriorityClass create or update: one default.
  Status admitPriorityClass(const KindSpec& k, const json& obj, bool update);
};

// Storage keys: /registry/<group|core>/<resource>/[<namespace>/]<name>.
std::string resourcePrefix(const KindSpec& k);
std::string objectKey(const KindSpec& k, const std::string& ns, const std::string& name);
std::string listPrefix(const KindSpec& k, const std::string& ns);

// CertificateSigningRequests (bootstrap_auth.cc): a user in system:bootstrappers; the requestor
// written into spec on create; the object after an /approval or /status update; the rule that
// Approved and Denied exclude each other.
bool isBootstrapper(const UserInfo& u);
bool isCsrKind(const KindSpec& k);
void stampCsrRequestor(const UserInfo& user, json& csr);
json csrSubresourceUpdate(const std::string& sub, const json& old, const json& desired);
std::vector<Cause> validateCsrConditions(const json& csr);

// Table rendering (tables.cc).
json tableColumns(const KindSpec& k);
json tableRow(const KindSpec& k, const json& obj, const std::string& include_object,
              TimePoint now);
json buildTable(const KindSpec& k, const std::vector<const json*>& objs,
                const std::string& include_object, bool with_columns);
// The same Table as text, built from each cached object's cells and its cached metadata bytes
// (no per-row JSON tree): a list's whole body, with `metadata` as the Table's metadata.
void appendTableRow(std::string& out, const KindSpec& k, const CachedObject& o,
                    const std::string& include_object, TimePoint now);
std::string tableListBody(const KindSpec& k, const std::vector<ObjPtr>& objs,
                          const std::string& include_object, const json& metadata);

}  // namespace berth::apiserver
