// Writes: create, update (PUT), patch (all four types), delete and deletecollection, with the
// object lifecycle upstream's generic registry has: system metadata, defaulting, validation,
// generation, no-op detection, compare-and-swap retries, finalizers and graceful deletion.
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/core/object_filter.h"
#include "apiserver/core/pod_admission.h"
#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/name_validation.h"
#include "apiserver/kinds/priority_classes.h"
#include "apiserver/kinds/quantity.h"
#include "apiserver/kinds/quota.h"
#include "apiserver/patch/apply.h"
#include "apiserver/patch/patch.h"
#include "apiserver/patch/selectors.h"
#include "apiserver/schema/protobuf.h"
#include "apiserver/schema/schema.h"
#include "apiserver/schema/validate.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace {

constexpr int kMaxCasRetries = 16;

std::string nowRfc3339() { return formatRfc3339(std::chrono::system_clock::now()); }

std::string mediaType(const std::string& content_type) {
  return toLower(trim(content_type.substr(0, content_type.find(';'))));
}

const schema::Type* typeOf(const KindSpec& k) {
  auto t = schema::Registry::get().forKind({k.group, k.version, k.kind});
  return t.get();
}

// The field manager: ?fieldManager=, else the user agent's program name, as upstream.
std::string fieldManager(const http::Request& req) {
  std::string m = req.param("fieldManager");
  if (!m.empty()) return m;
  std::string ua = req.header("user-agent");
  m = ua.substr(0, ua.find('/'));
  return m.empty() ? "unknown" : m;
}

bool dryRun(const http::Request& req) {
  for (const auto& v : req.params("dryRun"))
    if (v == "All") return true;
  return false;
}

// Removes the fields at `paths` (as unknownFields reports them: a.b[0].c).
void pruneFields(json& obj, const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    json* cur = &obj;
    std::vector<std::string> segs;
    std::string seg;
    for (size_t i = 0; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '.') {
        segs.push_back(seg);
        seg.clear();
      } else {
        seg += path[i];
      }
    }
    bool ok = true;
    for (size_t i = 0; i + 1 < segs.size() && ok; ++i) {
      std::string name = segs[i];
      std::vector<size_t> idx;
      while (!name.empty() && name.back() == ']') {
        auto open = name.rfind('[');
        if (open == std::string::npos) break;
        idx.insert(idx.begin(), std::stoul(name.substr(open + 1, name.size() - open - 2)));
        name = name.substr(0, open);
      }
      if (!cur->is_object() || !cur->contains(name)) {
        ok = false;
        break;
      }
      cur = &(*cur)[name];
      for (size_t ix : idx) {
        if (!cur->is_array() || ix >= cur->size()) {
          ok = false;
          break;
        }
        cur = &(*cur)[ix];
      }
    }
    if (ok && cur->is_object()) cur->erase(segs.back());
  }
}

// The stored form: the object without metadata.resourceVersion (the row's revision is the
// resourceVersion). Takes it out and puts it back rather than copying the object.
std::string dumpWithoutResourceVersion(json& obj) {
  json& meta = obj["metadata"];
  auto it = meta.find("resourceVersion");
  if (it == meta.end()) return obj.dump();
  json rv = std::move(*it);
  meta.erase(it);
  std::string out = obj.dump();
  meta["resourceVersion"] = std::move(rv);
  return out;
}

// Everything but metadata and status: what a generation bump is about.
bool specChanged(const json& a, const json& b) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status" || it.key() == "apiVersion" ||
        it.key() == "kind")
      continue;
    if (!b.contains(it.key()) || b[it.key()] != it.value()) return true;
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status" || it.key() == "apiVersion" ||
        it.key() == "kind")
      continue;
    if (!a.contains(it.key())) return true;
  }
  return false;
}

// Equal except for fields the server rewrites on every write.
bool sameObject(json a, json b) {
  // Ownership counts (a manager that now co-owns a field is a change), its timestamps do not,
  // as upstream ignores a write that would only move them.
  for (json* o : {&a, &b}) {
    if (!(*o)["metadata"].is_object()) continue;
    json& meta = (*o)["metadata"];
    meta.erase("resourceVersion");
    if (auto mf = meta.find("managedFields"); mf != meta.end() && mf->is_array())
      for (json& e : *mf)
        if (e.is_object()) e.erase("time");
  }
  return a == b;
}

std::vector<Cause> validateMetadata(const KindSpec& k, const json& obj) {
  std::vector<Cause> causes;
  const json& meta = obj["metadata"];
  std::string name = meta.value("name", "");
  if (name.empty()) {
    causes.push_back({"FieldValueRequired", "Required value: name or generateName is required",
                      "metadata.name"});
  } else if (!(k.group.empty() && k.resource == "namespaces")) {
    // (A Namespace's validate checks its stricter label rule itself.)
    std::vector<std::string> errs;
    switch (k.name_rule) {
      case KindSpec::NameRule::kSubdomain: errs = validateDns1123Subdomain(name); break;
      case KindSpec::NameRule::kLabel: errs = validateDns1123Label(name); break;
      case KindSpec::NameRule::kPathSegment: errs = validatePathSegmentName(name); break;
    }
    for (const auto& e : errs)
      causes.push_back({"FieldValueInvalid", "Invalid value: \"" + name + "\": " + e, "metadata.name"});
  }
  if (meta.contains("labels") && !meta["labels"].is_null()) {
    if (!meta["labels"].is_object()) {
      causes.push_back({"FieldValueInvalid", "Invalid value: must be a map of strings", "metadata.labels"});
    } else {
      for (auto it = meta["labels"].begin(); it != meta["labels"].end(); ++it) {
        for (const auto& e : patch::validateLabelKey(it.key()))
          causes.push_back({"FieldValueInvalid", "Invalid value: \"" + it.key() + "\": " + e, "metadata.labels"});
        if (!it.value().is_string()) {
          causes.push_back({"FieldValueInvalid", "Invalid value: label values must be strings", "metadata.labels"});
          continue;
        }
        std::string v = it.value().get<std::string>();
        for (const auto& e : patch::validateLabelValue(v))
          causes.push_back({"FieldValueInvalid", "Invalid value: \"" + v + "\": " + e, "metadata.labels"});
      }
    }
  }
  if (meta.contains("annotations") && !meta["annotations"].is_null()) {
    size_t total = 0;
    if (!meta["annotations"].is_object()) {
      causes.push_back({"FieldValueInvalid", "Invalid value: must be a map of strings", "metadata.annotations"});
    } else {
      for (auto it = meta["annotations"].begin(); it != meta["annotations"].end(); ++it) {
        for (const auto& e : patch::validateLabelKey(it.key()))
          causes.push_back({"FieldValueInvalid", "Invalid value: \"" + it.key() + "\": " + e, "metadata.annotations"});
        total += it.key().size() + (it.value().is_string() ? it.value().get<std::string>().size() : 0);
      }
      if (total > 256 * 1024)
        causes.push_back({"FieldValueTooLong", "Too long: must have at most 262144 bytes", "metadata.annotations"});
    }
  }
  return causes;
}

// An Invalid Status with field causes (as the Service allocator returns) worded as upstream's
// `Kind "name" is invalid: field: detail`; any other Status unchanged.
Status asInvalidObject(const KindSpec& k, const std::string& name, Status st) {
  if (st.code() != Code::kInvalid || st.causes().empty()) return st;
  return invalidError(k, name, st.causes());
}

}  // namespace

Result<json> ApiServer::Impl::decodeBody(RequestCtx& ctx, const KindSpec& k, bool check_kind) {
  const auto& req = ctx.req;
  std::string mt = mediaType(req.header("content-type"));
  json obj;
  std::vector<std::string> dups;
  if (mt.empty() || mt == "application/json") {
    auto r = schema::parseJsonStrict(req.body, &dups);
    if (!r.isOk()) return r.status();
    obj = std::move(r).value();
  } else if (mt == "application/yaml") {
    auto r = schema::yamlToJson(req.body);
    if (!r.isOk()) return r.status();
    obj = std::move(r).value();
  } else if (mt == "application/vnd.kubernetes.protobuf") {
    auto r = schema::decodeKubernetesProtobuf(req.body);
    if (!r.isOk()) return r.status();
    obj = std::move(r).value();
  } else {
    return Status(Code::kUnsupportedMediaType,
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json, application/yaml, "
                  "application/vnd.kubernetes.protobuf");
  }
  if (!obj.is_object())
    return badRequest("the body of the request must be a JSON object, got " + std::string(obj.type_name()));
  if (check_kind) {
    std::string api_version = obj.value("apiVersion", "");
    std::string kind = obj.value("kind", "");
    if (!obj.contains("apiVersion") || api_version.empty()) obj["apiVersion"] = k.groupVersion();
    else if (api_version != k.groupVersion())
      return badRequest("the API version in the data (" + api_version +
                        ") does not match the expected API version (" + k.groupVersion() + ")");
    if (kind.empty()) obj["kind"] = k.kind;
    else if (kind != k.kind)
      return badRequest("the kind in the data (" + kind + ") does not match the expected kind (" +
                        k.kind + ")");
  }
  ctx.duplicate_fields = std::move(dups);  // judged with the unknown fields by checkFields
  return obj;
}

// Applies fieldValidation: unknown (and duplicate) fields fail (Strict), warn (Warn, the
// default) or pass silently (Ignore); in the last two cases they are dropped, as upstream's
// typed decoding drops them.
static Status checkFields(RequestCtx& ctx, const KindSpec& k, json& obj) {
  std::vector<std::string> dups = std::move(ctx.duplicate_fields);
  ctx.duplicate_fields.clear();
  std::string mode = ctx.req.param("fieldValidation");
  if (mode.empty()) mode = "Warn";
  if (mode != "Strict" && mode != "Warn" && mode != "Ignore")
    return badRequest("fieldValidation: Unsupported value: \"" + mode +
                      "\": supported values: \"Ignore\", \"Strict\", \"Warn\"");
  const schema::Type* type = typeOf(k);
  if (type) {
    auto type_errs = schema::typeErrors(obj, *type);
    if (!type_errs.empty())
      return badRequest(k.kind + " in version \"" + k.version + "\" cannot be handled as a " +
                        k.kind + ": " + type_errs[0].message);
  }
  std::vector<std::string> unknown = type ? schema::unknownFields(obj, *type) : std::vector<std::string>{};
  if (unknown.empty() && dups.empty()) return Status::ok();
  if (mode == "Strict") {
    std::vector<std::string> parts;
    for (const auto& u : unknown) parts.push_back("unknown field \"" + u + "\"");
    for (const auto& d : dups) parts.push_back("duplicate field \"" + d + "\"");
    return badRequest(k.kind + " in version \"" + k.version + "\" cannot be handled as a " +
                      k.kind + ": strict decoding error: " + join(parts, ", "));
  }
  if (mode == "Warn") {
    for (const auto& u : unknown) ctx.warnings.push_back("unknown field \"" + u + "\"");
    for (const auto& d : dups) ctx.warnings.push_back("duplicate field \"" + d + "\"");
  }
  pruneFields(obj, unknown);
  return Status::ok();
}

namespace {
bool isPriorityClassKind(const KindSpec& k) {
  return k.group == "scheduling.k8s.io" && k.resource == "priorityclasses";
}
}  // namespace

std::vector<json> ApiServer::Impl::cachedObjects(const std::string& group,
                                                 const std::string& version,
                                                 const std::string& resource,
                                                 const std::string& ns) {
  std::vector<json> out;
  const KindSpec* k = kinds->byResource(group, version, resource);
  if (!k) return out;
  std::string prefix = resourcePrefix(*k) + (ns.empty() ? "" : ns + "/");
  for (const auto& o : cache->resource(resourcePrefix(*k))->list(prefix, nullptr))
    out.push_back(o->obj);
  return out;
}

std::vector<json> ApiServer::Impl::priorityClassesFor(const json& pod) {
  std::vector<json> out;
  const KindSpec* pck = kinds->byResource("scheduling.k8s.io", "v1", "priorityclasses");
  if (!pck) return out;
  ResourceCache* rc = cache->resource(resourcePrefix(*pck));
  std::string named = pod["spec"].is_object() ? pod["spec"].value("priorityClassName", "") : "";
  if (!named.empty()) {
    if (ObjPtr o = rc->get(objectKey(*pck, "", named))) out.push_back(o->obj);
    return out;
  }
  for (const auto& o : rc->list(resourcePrefix(*pck), nullptr)) {  // only a default can apply
    const json& c = o->obj;
    auto d = c.find("globalDefault");
    if (d != c.end() && d->is_boolean() && d->get<bool>()) out.push_back(c);
  }
  return out;
}

Status ApiServer::Impl::admitPriorityClass(const KindSpec& k, const json& obj, bool update) {
  const json* flag = obj.contains("globalDefault") ? &obj["globalDefault"] : nullptr;
  if (!flag || !flag->is_boolean() || !flag->get<bool>()) return Status::ok();
  std::vector<json> classes = cachedObjects(k.group, k.version, k.resource);
  const json* current = globalDefaultPriorityClass(classes);
  if (!current) return Status::ok();
  std::string name = obj["metadata"].value("name", "");
  std::string other = (*current)["metadata"].value("name", "");
  if (update && other == name) return Status::ok();
  return Status(Code::kForbidden, k.qualifiedResource() + " \"" + name +
                                      "\" is forbidden: PriorityClass " + other +
                                      " is already marked as default. Only one default can exist");
}

namespace {

// upstream's prettyPrint of a resource list: "cpu=1,pods=2", sorted.
std::string quotaList(const std::map<std::string, std::string>& list) {
  std::string out;
  for (const auto& [name, v] : list) out += (out.empty() ? "" : ",") + name + "=" + v;
  return out;
}

long double quantityValue(const json& v) { return quantityOf(v).value_or(0); }

void dropZeroStatusCounters(const KindSpec& k, json& obj) {
  if (k.status_omit_zero.empty()) return;
  auto st = obj.find("status");
  if (st == obj.end() || !st->is_object()) return;
  for (const std::string& f : k.status_omit_zero)
    if (auto v = st->find(f); v != st->end() && v->is_number_integer() && v->get<int64_t>() == 0)
      st->erase(v);
}

}  // namespace

Status ApiServer::Impl::chargeQuota(const KindSpec& k, const json& obj, bool dry_run,
                                    const json* old) {
  if (!k.namespaced) return Status::ok();
  const KindSpec* qk = kinds->byResource("", "v1", "resourcequotas");
  const json& meta = obj["metadata"];
  std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
  if (!qk || ns.empty()) return Status::ok();
  std::vector<json> quotas = cachedObjects("", "v1", "resourcequotas", ns);
  if (quotas.empty()) return Status::ok();
  std::sort(quotas.begin(), quotas.end(), [](const json& a, const json& b) {
    return a["metadata"].value("name", "") < b["metadata"].value("name", "");
  });
  kinds::QuotaUsage delta = kinds::quotaUsage(k.group, k.resource, obj);
  if (old) {
    // An update is charged what it adds (upstream's SubtractWithNonNegativeResult).
    const kinds::QuotaUsage before = kinds::quotaUsage(k.group, k.resource, *old);
    for (auto it = delta.begin(); it != delta.end();) {
      auto was = before.find(it->first);
      if (was != before.end()) it->second = std::max<long double>(0, it->second - was->second);
      it = it->second == 0 ? delta.erase(it) : std::next(it);
    }
    if (delta.empty()) return Status::ok();
  }
  const bool is_pod = k.group.empty() && k.resource == "pods";
  const std::string refused = k.qualifiedResource() + " \"" + name + "\" is forbidden: ";
  for (const json& quota : quotas) {
    const json spec_hard = quota.contains("spec") && quota["spec"].is_object()
                               ? quota["spec"].value("hard", json::object())
                               : json::object();
    if (!kinds::quotaTracksKind(spec_hard, k.group, k.resource)) continue;
    if (!kinds::quotaSelects(quota, k.group, k.resource, obj)) continue;
    std::string qname = quota["metadata"].value("name", "");
    if (is_pod) {
      std::string missing = kinds::quotaPodConstraints(spec_hard, obj);
      if (!missing.empty())
        return Status(Code::kForbidden, refused + "failed quota: " + qname + ": " + missing);
    }
    std::vector<std::string> restricted;
    for (auto it = spec_hard.begin(); it != spec_hard.end(); ++it)
      if (delta.count(it.key())) restricted.push_back(it.key());
    if (restricted.empty()) continue;
    http::Request dummy;
    RequestCtx qctx{dummy, nullptr, {}, qk, {"system:apiserver", "", {"system:masters"}}};
    qctx.info.subresource = "status";
    auto charged = updateObject(
        qctx, *qk, ns, qname,
        [&](const json* current) -> Result<json> {
          if (!current) return Status(Code::kNotFound, "quota gone");
          json next = *current;
          const json* hard = current->contains("status") && (*current)["status"].is_object() &&
                                     (*current)["status"].contains("hard")
                                 ? &(*current)["status"]["hard"]
                                 : nullptr;
          const json* used = hard && (*current)["status"].contains("used")
                                 ? &(*current)["status"]["used"]
                                 : nullptr;
          std::string unknown;
          for (const auto& r : restricted)
            if (!hard || !hard->contains(r) || !used || !used->contains(r))
              unknown += (unknown.empty() ? "" : ",") + r;
          if (!unknown.empty())
            return Status(Code::kForbidden, refused + "status unknown for quota: " + qname +
                                                ", resources: " + unknown);
          std::map<std::string, std::string> requested, was, limited;
          for (const auto& r : restricted) {
            std::string hard_text = quantityText((*hard)[r]);
            bool binary = isBinaryQuantity(hard_text);
            long double now = quantityValue((*used)[r]) + delta.at(r);
            if (now > quantityValue((*hard)[r])) {
              requested[r] = formatQuantity(delta.at(r), binary);
              was[r] = quantityText((*used)[r]);
              limited[r] = hard_text;
            }
            next["status"]["used"][r] = formatQuantity(now, binary);
          }
          if (!limited.empty())
            return Status(Code::kForbidden, refused + "exceeded quota: " + qname + ", requested: " +
                                                quotaList(requested) + ", used: " + quotaList(was) +
                                                ", limited: " + quotaList(limited));
          return next;
        },
        false, dry_run, nullptr);
    if (!charged.isOk() && charged.status().code() != Code::kNotFound) return charged.status();
  }
  return Status::ok();
}

// Everything a create does before its store write: namespace, metadata, defaults, validation,
// the Service's allocations (not on a dry run) and managedFields. Leaves `obj` as stored.
Status ApiServer::Impl::prepareCreate(RequestCtx& ctx, const KindSpec& k, json& obj, bool dry_run) {
  if (!obj["metadata"].is_object()) obj["metadata"] = json::object();
  json& meta = obj["metadata"];
  const std::string& path_ns = ctx.info.namespace_;
  if (k.namespaced) {
    std::string ns = meta.value("namespace", "");
    std::string want = path_ns.empty() ? ns : path_ns;
    if (!ns.empty() && !path_ns.empty() && ns != path_ns)
      return badRequest("the namespace of the provided object does not match the namespace sent on the request");
    if (want.empty()) want = "default";
    meta["namespace"] = want;
  } else {
    meta.erase("namespace");
  }
  std::string name = meta.value("name", "");
  if (name.empty() && meta.value("generateName", "") != "") {
    // upstream's SimpleNameGenerator: the base is cut to 58 so that the name fits in 63.
    name = meta["generateName"].get<std::string>().substr(0, 58) + randomSuffix(5);
    meta["name"] = name;
  }
  // Namespace lifecycle: content only goes into namespaces that exist and are not terminating.
  if (k.namespaced && namespaceKind()) {
    const KindSpec& nsk = *namespaceKind();
    std::string ns = meta["namespace"];
    ObjPtr nso = cache->resource(resourcePrefix(nsk))->get(objectKey(nsk, "", ns));
    if (!nso) {
      // The cache may trail a namespace created a moment ago.
      if (cache->waitUntilFresh(std::chrono::seconds(3)).isOk())
        nso = cache->resource(resourcePrefix(nsk))->get(objectKey(nsk, "", ns));
    }
    if (!nso) return Status(Code::kNotFound, "namespaces \"" + ns + "\" not found");
    if (nso->obj["metadata"].contains("deletionTimestamp"))
      return Status(Code::kForbidden, k.resource + " \"" + name +
                                          "\" is forbidden: unable to create new content in namespace " +
                                          ns + " because it is being terminated");
  }
  for (const char* f : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "selfLink", "uid", "creationTimestamp"})
    meta.erase(f);
  if (!ctx.is_apply) meta.erase("managedFields");
  meta["uid"] = newUuid();
  meta["creationTimestamp"] = nowRfc3339();
  if (k.uses_generation) meta["generation"] = 1;
  else meta.erase("generation");
  // Status is the controllers' to write; a new object starts with none (as upstream's
  // PrepareForCreate), except Nodes, whose agent registers them with their status.
  if (k.has_status && k.kind != "Node") obj.erase("status");
  const bool is_pod = k.group.empty() && k.resource == "pods";
  if (is_pod) {
    addDefaultTolerations(obj, options.default_not_ready_toleration_seconds,
                          options.default_unreachable_toleration_seconds);
    applyFargateProfile(obj, cachedObjects("berth.dev", "v1alpha1", "fargateprofiles"));
    Status priority = admitPodPriority(obj, priorityClassesFor(obj));
    if (!priority.isOk())
      return Status(priority.code(),
                    k.resource + " \"" + name + "\" is forbidden: " + priority.message());
  }
  if (is_pod || (k.group.empty() && k.resource == "persistentvolumeclaims")) {
    std::vector<json> ranges = cachedObjects("", "v1", "limitranges", meta["namespace"]);
    if (!ranges.empty()) {
      // Defaults come before admission, as upstream decodes them in: a container with only
      // limits has its requests from them before LimitRanger looks.
      if (is_pod && obj["spec"].is_object()) kinds::defaultPodRequests(obj["spec"]);
      Status limited = is_pod ? applyLimitRanges(obj, ranges) : checkClaimLimits(obj, ranges);
      if (!limited.isOk())
        return Status(limited.code(),
                      k.resource + " \"" + name + "\" is forbidden: " + limited.message());
    }
  }
  if (isPriorityClassKind(k)) BERTH_RETURN_IF_ERROR(admitPriorityClass(k, obj, false));
  if (k.defaults) k.defaults(obj);
  auto causes = validateMetadata(k, obj);
  if (k.validate) {
    auto more = k.validate(obj, nullptr);
    causes.insert(causes.end(), more.begin(), more.end());
  }
  if (!causes.empty()) return invalidError(k, name, causes);
  BERTH_RETURN_IF_ERROR(chargeQuota(k, obj, dry_run));
  bool is_service = k.group.empty() && k.resource == "services";
  if (is_service && !dry_run) BERTH_RETURN_IF_ERROR(asInvalidObject(k, name, services->allocate(obj)));
  if (!ctx.is_apply)  // server-side apply has recorded its own ownership
    patch::recordUpdate(&obj, nullptr, fieldManager(ctx.req), meta.value("creationTimestamp", ""),
                        k.groupVersion(), typeOf(k));
  return Status::ok();
}

Result<json> ApiServer::Impl::createObject(RequestCtx& ctx, const KindSpec& k, json obj, bool dry_run) {
  BERTH_RETURN_IF_ERROR(prepareCreate(ctx, k, obj, dry_run));
  if (dry_run) return obj;
  bool is_service = k.group.empty() && k.resource == "services";
  StoredCreate sc = storedCreate(k, obj);
  auto start = std::chrono::steady_clock::now();
  auto rev = store->create(sc.key, sc.bytes);
  metrics.observeStoreSince("create", start);
  if (!rev.isOk()) {
    if (is_service) services->release(obj);
    return createStoreError(k, sc.name, rev.status());
  }
  obj["metadata"]["resourceVersion"] = std::to_string(*rev);
  ctx.created_json = withResourceVersion(sc.bytes, *rev);
  return obj;
}

ApiServer::Impl::StoredCreate ApiServer::Impl::storedCreate(const KindSpec& k, const json& obj) {
  static const json kNoMeta = json::object();
  auto it = obj.find("metadata");  // prepareCreate made it an object
  const json& meta = it != obj.end() && it->is_object() ? *it : kNoMeta;
  StoredCreate sc;
  sc.name = meta.value("name", "");
  sc.key = objectKey(k, k.namespaced ? meta.value("namespace", "") : "", sc.name);
  sc.bytes = obj.dump();  // resourceVersion was erased by prepareCreate
  return sc;
}

Status ApiServer::Impl::createStoreError(const KindSpec& k, const std::string& name, const Status& st) {
  return st.code() == Code::kAlreadyExists ? alreadyExistsError(k, name) : st;
}

void ApiServer::Impl::createAnsweredOnCommit(RequestCtx& ctx, const KindSpec& k, json obj,
                                             const std::string& error_name) {
  Status st = prepareCreate(ctx, k, obj, false);
  if (!st.isOk()) return sendError(ctx, st, error_name);
  // What the answer needs once the write is durable; the request itself may be gone by then.
  struct Pending {
    std::shared_ptr<http::ResponseWriter> w;
    RequestInfo info;
    std::vector<std::string> warnings;
    std::chrono::steady_clock::time_point started;
    std::string metric_resource;
    StoredCreate sc;
  };
  auto p = std::make_shared<Pending>();
  p->sc = storedCreate(k, obj);
  obj = json();  // free the tree on this thread, not on the committing one
  p->w = std::move(ctx.w);
  p->info = std::move(ctx.info);
  p->warnings = std::move(ctx.warnings);
  p->started = ctx.started;
  p->metric_resource = std::move(ctx.metric_resource);
  auto store_start = std::chrono::steady_clock::now();
  const KindSpec* kind = &k;
  store->createAsync(p->sc.key, p->sc.bytes, [this, p, kind, store_start](Result<int64_t> rev) {
    metrics.observeStoreSince("create", store_start);
    http::Request none;
    RequestCtx c{none, std::move(p->w), std::move(p->info), kind, {}};
    c.warnings = std::move(p->warnings);
    c.started = p->started;
    c.metric_resource = std::move(p->metric_resource);
    if (!rev.isOk()) return sendError(c, createStoreError(*kind, p->sc.name, rev.status()), p->sc.name);
    respond(c, 201, "application/json", withResourceVersion(p->sc.bytes, *rev));
  });
}

Result<json> ApiServer::Impl::updateObject(
    RequestCtx& ctx, const KindSpec& k, const std::string& ns, const std::string& name,
    const std::function<Result<json>(const json* current)>& mutate, bool allow_create,
    bool dry_run, bool* created) {
  if (created) *created = false;
  const std::string& sub = ctx.info.subresource;
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    auto cur_r = readCurrent(k, ns, name);
    if (!cur_r.isOk() && cur_r.status().code() != Code::kNotFound) return cur_r.status();
    ObjPtr cur = cur_r.isOk() ? *cur_r : nullptr;
    auto desired_r = mutate(cur ? &cur->obj.get() : nullptr);
    if (!desired_r.isOk()) return desired_r.status();
    json desired = std::move(desired_r).value();
    if (!cur) {
      if (!allow_create) return notFoundError(k, name);
      if (created) *created = true;
      auto r = createObject(ctx, k, std::move(desired), dry_run);
      if (!r.isOk() && r.status().code() == Code::kAlreadyExists) continue;  // raced; retry
      return r;
    }
    const json& old = cur->obj;
    if (!desired.is_object()) return badRequest("the object must be a JSON object");
    if (!desired["metadata"].is_object()) desired["metadata"] = json::object();
    json& meta = desired["metadata"];
    std::string body_name = meta.value("name", "");
    if (!body_name.empty() && body_name != name)
      return badRequest("the name of the object (" + body_name +
                        ") does not match the name on the URL (" + name + ")");
    meta["name"] = name;
    if (k.namespaced) {
      std::string body_ns = meta.value("namespace", "");
      if (!body_ns.empty() && body_ns != ns)
        return badRequest("the namespace of the provided object does not match the namespace sent on the request");
      meta["namespace"] = ns;
    }
    // A replace names the object it read by its uid: another object of the same name (deleted
    // and created again since) is a failed precondition, as upstream's UpdatedObjectInfo.
    if (ctx.info.verb == "update" && sub.empty() && meta.contains("uid") &&
        meta["uid"].is_string() && !meta["uid"].get<std::string>().empty() &&
        meta["uid"] != old["metadata"].value("uid", json(""))) {
      return Status(
          Code::kConflict,
          "Operation cannot be fulfilled on " + k.qualifiedResource() + " \"" + name +
              "\": Precondition failed: UID in precondition: " + meta["uid"].get<std::string>() +
              ", UID in object meta: " + old["metadata"].value("uid", ""));
    }
    std::string want_rv = meta.value("resourceVersion", "");
    bool pinned = !want_rv.empty();
    if (pinned && want_rv != old["metadata"].value("resourceVersion", "")) return conflictError(k, name);

    json result;
    std::vector<Cause> meta_causes;
    if (isCsrKind(k) && (sub == "status" || sub == "approval")) {
      result = csrSubresourceUpdate(sub, old, desired);
    } else if (sub == "status") {
      // Only status changes through /status (with an apply's record of who owns it).
      result = old;
      if (desired.contains("status")) result["status"] = desired["status"];
      else result.erase("status");
      if (ctx.is_apply && desired["metadata"].is_object() &&
          desired["metadata"].contains("managedFields"))
        result["metadata"]["managedFields"] = desired["metadata"]["managedFields"];
    } else if (sub == "finalize") {
      // Only a namespace's spec.finalizers changes through /finalize.
      result = old;
      if (desired.contains("spec") && desired["spec"].is_object() && desired["spec"].contains("finalizers"))
        result["spec"]["finalizers"] = desired["spec"]["finalizers"];
      else if (result["spec"].is_object())
        result["spec"].erase("finalizers");
    } else {
      result = desired;
      json& rm = result["metadata"];
      const json& om = old["metadata"];
      // ValidateObjectMetaUpdate: the uid, when given, is the object's own.
      if (rm.contains("uid") && rm["uid"].is_string() && !rm["uid"].get<std::string>().empty() &&
          rm["uid"] != om.value("uid", json("")))
        meta_causes.push_back({"FieldValueInvalid",
                               "Invalid value: " + rm["uid"].dump() + ": field is immutable",
                               "metadata.uid"});
      // Nothing new may hold up an object that is already going.
      if (om.contains("deletionTimestamp") && rm.contains("finalizers") &&
          rm["finalizers"].is_array()) {
        std::string added;
        for (const json& f : rm["finalizers"]) {
          const json old_f = om.value("finalizers", json::array());
          if (f.is_string() &&
              (!old_f.is_array() || std::find(old_f.begin(), old_f.end(), f) == old_f.end()))
            added += (added.empty() ? "" : ", ") + f.dump();
        }
        if (!added.empty())
          meta_causes.push_back({"FieldValueForbidden",
                                 "Forbidden: no new finalizers can be added if the object is being "
                                 "deleted, found new finalizers []string{" +
                                     added + "}",
                                 "metadata.finalizers"});
      }
      for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
        if (om.contains(f)) rm[f] = om[f];
        else rm.erase(f);
      }
      if (om.contains("managedFields") && !rm.contains("managedFields")) rm["managedFields"] = om["managedFields"];
      // A binding sets the PodScheduled condition along with spec.nodeName, as upstream's.
      if (k.has_status && sub != "finalize" && sub != "binding") {
        if (old.contains("status")) result["status"] = old["status"];
        else result.erase("status");
      }
      if (k.uses_generation) rm["generation"] = om.value("generation", 1);
      else rm.erase("generation");
      if (k.group.empty() && k.resource == "services") dropTypeDependentFields(result, old);
      // The Priority admission plugin keeps what it gave the pod at its creation.
      if (k.group.empty() && k.resource == "pods" && result["spec"].is_object() &&
          old["spec"].is_object()) {
        for (const char* f : {"priority", "preemptionPolicy"})
          if (!result["spec"].contains(f) && old["spec"].contains(f))
            result["spec"][f] = old["spec"][f];
      }
      if (k.defaults) k.defaults(result);
      if (k.uses_generation && specChanged(result, old))
        rm["generation"] = om.value("generation", int64_t{1}) + 1;
    }
    result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
    dropZeroStatusCounters(k, result);
    auto causes = validateMetadata(k, result);
    causes.insert(causes.begin(), meta_causes.begin(), meta_causes.end());
    if (k.validate) {
      auto more = k.validate(result, &old);
      causes.insert(causes.end(), more.begin(), more.end());
    }
    if (isCsrKind(k)) {
      auto more = validateCsrConditions(result);
      causes.insert(causes.end(), more.begin(), more.end());
    }
    if (!causes.empty()) return invalidError(k, name, causes);
    if (isPriorityClassKind(k)) BERTH_RETURN_IF_ERROR(admitPriorityClass(k, result, true));
    bool is_service = k.group.empty() && k.resource == "services";
    if (is_service && sub.empty() && !dry_run)
      BERTH_RETURN_IF_ERROR(asInvalidObject(k, name, services->reallocate(result, old)));
    if (sameObject(result, old)) return old;  // no-op: no write, no new resourceVersion
    // Quota admits updates of the kinds whose usage an update can raise (upstream's service
    // and claim evaluators; a pod's resources do not change in 1.32).
    if (sub.empty() && k.group.empty() &&
        (k.resource == "services" || k.resource == "persistentvolumeclaims"))
      BERTH_RETURN_IF_ERROR(chargeQuota(k, result, dry_run, &old));
    if (!ctx.is_apply)
      patch::recordUpdate(&result, &old, fieldManager(ctx.req), nowRfc3339(), k.groupVersion(),
                          typeOf(k), sub == "status" || sub == "scale" ? sub : "");
    if (dry_run) return result;

    int64_t old_rev = cur->mod_revision;
    const json& rmeta = result["metadata"];
    bool finalized = rmeta.contains("deletionTimestamp") &&
                     (!rmeta.contains("finalizers") || rmeta["finalizers"].empty()) &&
                     !(k.resource == "namespaces" && k.group.empty() &&
                       result["spec"].contains("finalizers") && !result["spec"]["finalizers"].empty());
    auto start = std::chrono::steady_clock::now();
    if (finalized) {
      auto del = store->remove(objectKey(k, ns, name), old_rev);
      if (!del.isOk()) {
        if (del.status().code() == Code::kConflict && !pinned) continue;
        if (del.status().code() == Code::kConflict) return conflictError(k, name);
        return del.status();
      }
      if (is_service) services->release(result);
      result["metadata"]["resourceVersion"] = std::to_string(del->mod_revision);
      return result;
    }
    auto rev = store->update(objectKey(k, ns, name), dumpWithoutResourceVersion(result), old_rev);
    metrics.observeStoreSince("update", start);
    if (!rev.isOk()) {
      if (rev.status().code() == Code::kConflict && !pinned) continue;
      if (rev.status().code() == Code::kConflict) return conflictError(k, name);
      if (rev.status().code() == Code::kNotFound) {
        if (!pinned) continue;
        return notFoundError(k, name);
      }
      return rev.status();
    }
    result["metadata"]["resourceVersion"] = std::to_string(*rev);
    return result;
  }
  return conflictError(k, name);
}

void ApiServer::Impl::handleCreate(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  auto body = decodeBody(ctx, k, true);
  if (!body.isOk()) return sendError(ctx, body.status());
  json obj = std::move(body).value();
  Status st = checkFields(ctx, k, obj);
  if (!st.isOk()) return sendError(ctx, st);
  // The name the error's details carry (kubectl prints it), read before obj is moved.
  std::string name;
  if (obj.contains("metadata") && obj["metadata"].is_object()) name = obj["metadata"].value("name", "");
  if (isCsrKind(k)) stampCsrRequestor(ctx.user, obj);
  bool dry_run = dryRun(ctx.req);
  bool is_service = k.group.empty() && k.resource == "services";
  if (!dry_run && !is_service && ctx.out == OutFormat::kJson)
    return createAnsweredOnCommit(ctx, k, std::move(obj), name);
  auto r = createObject(ctx, k, std::move(obj), dry_run);
  if (!r.isOk()) return sendError(ctx, r.status(), name);
  if (ctx.out == OutFormat::kJson && !ctx.created_json.empty())
    return respond(ctx, 201, "application/json", std::move(ctx.created_json));
  sendObject(ctx, 201, *r);
}

void ApiServer::Impl::handleUpdate(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  const std::string& sub = ctx.info.subresource;
  bool scale = sub == "scale";
  auto body = decodeBody(ctx, k, !scale);
  if (!body.isOk()) return sendError(ctx, body.status(), ctx.info.name);
  json obj = std::move(body).value();
  if (!scale) {
    Status st = checkFields(ctx, k, obj);
    if (!st.isOk()) return sendError(ctx, st, ctx.info.name);
  }
  bool dry = dryRun(ctx.req);
  bool created = false;
  std::function<Result<json>(const json*)> mutate;
  if (scale) {
    mutate = [&](const json* cur) -> Result<json> {
      if (!cur) return notFoundError(k, ctx.info.name);
      json res = *cur;
      std::string want_rv = obj["metadata"].is_object() ? obj["metadata"].value("resourceVersion", "") : "";
      if (!want_rv.empty()) res["metadata"]["resourceVersion"] = want_rv;
      else res["metadata"].erase("resourceVersion");
      if (!obj.contains("spec") || !obj["spec"].contains("replicas") || !obj["spec"]["replicas"].is_number_integer())
        return invalidError(k, ctx.info.name, {{"FieldValueRequired", "Required value", "spec.replicas"}});
      res[json::json_pointer(k.scale_spec_replicas)] = obj["spec"]["replicas"];
      return res;
    };
  } else {
    mutate = [&](const json* cur) -> Result<json> { return obj; };
  }
  // PUT creates when the object is missing (upstream allows create-on-update for most kinds
  // only when AllowCreateOnUpdate; kubectl replace never relies on it), so we do not.
  auto r = updateObject(ctx, k, ctx.info.namespace_, ctx.info.name, mutate, false, dry, &created);
  if (!r.isOk()) return sendError(ctx, r.status(), ctx.info.name);
  if (scale) return sendJson(ctx, 200, scaleObject(k, *r));
  sendObject(ctx, created ? 201 : 200, *r);
}

static bool patchNamesRv(const json& patch) {
  if (patch.is_object())
    return patch.contains("metadata") && patch["metadata"].is_object() &&
           patch["metadata"].contains("resourceVersion");
  if (patch.is_array())
    for (const auto& op : patch)
      if (op.is_object() && op.value("path", "") == "/metadata/resourceVersion") return true;
  return false;
}

void ApiServer::Impl::handlePatch(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  const auto& req = ctx.req;
  const std::string& sub = ctx.info.subresource;
  std::string mt = mediaType(req.header("content-type"));
  bool is_apply = mt == "application/apply-patch+yaml";
  ctx.is_apply = is_apply;
  if (mt != "application/json-patch+json" && mt != "application/merge-patch+json" &&
      mt != "application/strategic-merge-patch+json" && !is_apply)
    return sendError(ctx, Status(Code::kUnsupportedMediaType,
                                 "the body of the request was in an unknown format - accepted media "
                                 "types include: application/json-patch+json, "
                                 "application/merge-patch+json, application/apply-patch+yaml, "
                                 "application/strategic-merge-patch+json"));
  json patch_body;
  if (is_apply) {
    auto r = schema::yamlToJson(req.body);
    if (!r.isOk()) return sendError(ctx, r.status(), ctx.info.name);
    patch_body = std::move(r).value();
  } else {
    auto r = schema::parseJsonStrict(req.body, nullptr);
    if (!r.isOk()) return sendError(ctx, r.status(), ctx.info.name);
    patch_body = std::move(r).value();
  }
  if (mt == "application/json-patch+json" ? !patch_body.is_array() : !patch_body.is_object())
    return sendError(ctx, badRequest(mt == "application/json-patch+json"
                                         ? "json patch must be an array of operations"
                                         : "patch body must be a JSON object"),
                     ctx.info.name);
  std::string manager = req.param("fieldManager");
  if (is_apply && manager.empty())
    return sendError(ctx, invalid("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
                              .withCause({"FieldValueRequired", "Required value: is required for apply patch", "fieldManager"}));
  bool force = req.param("force") == "true";
  if (!is_apply && req.hasParam("force"))
    return sendError(ctx, invalid("PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"));
  const schema::Type* type = typeOf(k);
  bool scale = sub == "scale";
  bool dry = dryRun(req);
  Status field_status;

  auto apply_patch = [&](const json& target, const schema::Type* t) -> Result<json> {
    if (mt == "application/json-patch+json") return patch::applyJsonPatch(target, patch_body);
    if (mt == "application/merge-patch+json") return patch::applyJsonMergePatch(target, patch_body);
    return patch::applyStrategicMergePatch(target, patch_body, t);
  };

  auto mutate = [&](const json* cur) -> Result<json> {
    if (is_apply) {
      json applied = patch_body;
      if (applied.value("apiVersion", "") != k.groupVersion() || applied.value("kind", "") != k.kind)
        return badRequest("the API version and kind in the applied configuration (" +
                          applied.value("apiVersion", "") + ", " + applied.value("kind", "") +
                          ") must match the resource (" + k.groupVersion() + ", " + k.kind + ")");
      Status st = checkFields(ctx, k, applied);
      if (!st.isOk()) return st;
      std::string applied_name =
          applied["metadata"].is_object() ? applied["metadata"].value("name", "") : "";
      if (!applied_name.empty() && applied_name != ctx.info.name)
        return badRequest("the name of the object (" + applied_name +
                          ") does not match the name on the URL (" + ctx.info.name + ")");
      if (sub == "status" && !cur) return notFoundError(k, ctx.info.name);
      auto r = patch::serverSideApply(cur, applied, manager, force, type, nowRfc3339(),
                                      k.groupVersion(), sub == "status" ? "status" : "");
      if (!r.isOk()) return r.status();
      json out = std::move(r).value();
      if (cur) {
        // The apply result is pinned to what we read; a concurrent write retries the apply.
        out["metadata"].erase("resourceVersion");
      }
      return out;
    }
    if (!cur) return notFoundError(k, ctx.info.name);
    if (scale) {
      json sc = scaleObject(k, *cur);
      auto patched = apply_patch(sc, nullptr);
      if (!patched.isOk()) return patched.status();
      json res = *cur;
      const json& p = *patched;
      std::string want_rv = p["metadata"].is_object() ? p["metadata"].value("resourceVersion", "") : "";
      if (!want_rv.empty() && want_rv != (*cur)["metadata"].value("resourceVersion", ""))
        return conflictError(k, ctx.info.name);
      res["metadata"].erase("resourceVersion");
      if (p.contains("spec") && p["spec"].contains("replicas")) {
        if (!p["spec"]["replicas"].is_number_integer())
          return invalidError(k, ctx.info.name, {{"FieldValueInvalid", "Invalid value: must be an integer", "spec.replicas"}});
        res[json::json_pointer(k.scale_spec_replicas)] = p["spec"]["replicas"];
      }
      return res;
    }
    auto patched = apply_patch(*cur, type);
    if (!patched.isOk()) return patched.status();
    json res = std::move(patched).value();
    if (!res.is_object()) return badRequest("the patch produced a non-object");
    Status st = checkFields(ctx, k, res);
    if (!st.isOk()) return st;
    // A patch that does not name a resourceVersion applies to whatever is current: retries
    // re-run it on the fresh object. One that names it is a precondition.
    std::string patched_rv = res["metadata"].is_object() ? res["metadata"].value("resourceVersion", "") : "";
    if (patched_rv == (*cur)["metadata"].value("resourceVersion", "") && !patchNamesRv(patch_body))
      res["metadata"].erase("resourceVersion");
    return res;
  };
  bool created = false;
  auto r = updateObject(ctx, k, ctx.info.namespace_, ctx.info.name, mutate, is_apply, dry, &created);
  if (!r.isOk()) return sendError(ctx, r.status(), ctx.info.name);
  if (scale) return sendJson(ctx, 200, scaleObject(k, *r));
  sendObject(ctx, created ? 201 : 200, *r);
}

Result<json> ApiServer::Impl::deleteObject(RequestCtx& ctx, const KindSpec& k, const std::string& ns,
                                           const std::string& name, const json& options,
                                           bool dry_run, bool* deleted_now) {
  *deleted_now = false;
  // NamespaceLifecycle: the namespaces the cluster itself lives in stay.
  if (k.group.empty() && k.resource == "namespaces" &&
      (name == "default" || name == "kube-system" || name == "kube-public"))
    return Status(Code::kForbidden,
                  "namespaces \"" + name + "\" is forbidden: this namespace may not be deleted");
  if (isPriorityClassKind(k) && kinds::findSystemPriorityClass(name))
    return Status(Code::kForbidden,
                  k.qualifiedResource() + " \"" + name +
                      "\" is forbidden: this is a system priority class and cannot be deleted");
  std::string policy = options.value("propagationPolicy", "");
  if (policy.empty() && options.contains("orphanDependents") && options["orphanDependents"].is_boolean())
    policy = options["orphanDependents"].get<bool>() ? "Orphan" : "Background";
  if (policy.empty()) policy = "Background";
  if (policy != "Background" && policy != "Foreground" && policy != "Orphan")
    return invalid("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"" +
                   policy + "\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    auto cur_r = readCurrent(k, ns, name);
    if (!cur_r.isOk()) return cur_r.status();
    ObjPtr cur = *cur_r;
    const json& old = cur->obj;
    const json& om = old["metadata"];
    if (options.contains("preconditions") && options["preconditions"].is_object()) {
      const json& pre = options["preconditions"];
      if (pre.contains("uid") && pre["uid"].is_string() && pre["uid"] != om.value("uid", ""))
        return Status(Code::kConflict, "Precondition failed: UID in precondition: " +
                                           pre["uid"].get<std::string>() + ", UID in object meta: " +
                                           om.value("uid", ""));
      if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string() &&
          pre["resourceVersion"] != om.value("resourceVersion", ""))
        return Status(Code::kConflict, "Precondition failed: ResourceVersion in precondition: " +
                                           pre["resourceVersion"].get<std::string>() +
                                           ", ResourceVersion in object meta: " +
                                           om.value("resourceVersion", ""));
    }
    json next = old;
    json& nm = next["metadata"];
    std::vector<std::string> finalizers;
    if (om.contains("finalizers") && om["finalizers"].is_array())
      for (const auto& f : om["finalizers"])
        if (f.is_string()) finalizers.push_back(f);
    auto add_finalizer = [&](const std::string& f) {
      if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end()) finalizers.push_back(f);
    };
    bool already_deleting = om.contains("deletionTimestamp");
    bool is_ns = k.group.empty() && k.resource == "namespaces";
    bool is_pod = k.group.empty() && k.resource == "pods";
    // Graceful pod deletion: a pod on a node is given its grace period to stop; its node's
    // agent deletes it for good.
    int64_t grace = -1;
    if (options.contains("gracePeriodSeconds") && options["gracePeriodSeconds"].is_number_integer())
      grace = options["gracePeriodSeconds"].get<int64_t>();
    bool graceful = false;
    if (is_pod && old["spec"].value("nodeName", "") != "") {
      std::string phase = old.contains("status") ? old["status"].value("phase", "") : "";
      if (grace < 0) grace = old["spec"].value("terminationGracePeriodSeconds", int64_t{30});
      graceful = grace > 0 && phase != "Succeeded" && phase != "Failed";
    }
    if (!already_deleting) {
      if (policy == "Foreground") add_finalizer("foregroundDeletion");
      if (policy == "Orphan") add_finalizer("orphan");
    }
    bool ns_pending = is_ns && old["spec"].contains("finalizers") && !old["spec"]["finalizers"].empty();
    bool must_wait = !finalizers.empty() || graceful || ns_pending;
    if (must_wait) {
      if (already_deleting) {
        // A second delete may shorten a pod's grace period; otherwise nothing changes.
        if (!(graceful && grace < om.value("deletionGracePeriodSeconds", int64_t{0}))) return old;
      }
      auto now = std::chrono::system_clock::now();
      nm["deletionTimestamp"] = formatRfc3339(graceful ? now + std::chrono::seconds(grace) : now);
      nm["deletionGracePeriodSeconds"] = graceful ? grace : 0;
      if (!finalizers.empty()) nm["finalizers"] = finalizers;
      if (is_ns) next["status"]["phase"] = "Terminating";
      if (dry_run) return next;
      auto rev = store->update(objectKey(k, ns, name), dumpWithoutResourceVersion(next), cur->mod_revision);
      if (!rev.isOk()) {
        if (rev.status().code() == Code::kConflict || rev.status().code() == Code::kNotFound) continue;
        return rev.status();
      }
      nm["resourceVersion"] = std::to_string(*rev);
      return next;
    }
    if (dry_run) {
      *deleted_now = true;
      return old;
    }
    int64_t del_from = cur->mod_revision;
    json last = old;
    if (is_pod && !(already_deleting && om.value("deletionGracePeriodSeconds", int64_t{-1}) == 0)) {
      // Pods are always deleted gracefully upstream: a pod that goes at once is first marked
      // (deletionTimestamp, grace 0: a MODIFIED watchers see as Terminating), then removed, and
      // its DELETED carries the mark.
      if (!already_deleting)
        nm["deletionTimestamp"] = formatRfc3339(std::chrono::system_clock::now());
      nm["deletionGracePeriodSeconds"] = 0;
      auto rev = store->update(objectKey(k, ns, name), dumpWithoutResourceVersion(next), del_from);
      if (!rev.isOk()) {
        if (rev.status().code() == Code::kConflict || rev.status().code() == Code::kNotFound)
          continue;
        return rev.status();
      }
      del_from = *rev;
      last = std::move(next);
    }
    auto del = store->remove(objectKey(k, ns, name), del_from);
    if (!del.isOk()) {
      if (del.status().code() == Code::kConflict) continue;
      if (del.status().code() == Code::kNotFound) return notFoundError(k, name);
      return del.status();
    }
    if (k.group.empty() && k.resource == "services") services->release(old);
    *deleted_now = true;
    last["metadata"]["resourceVersion"] = std::to_string(del->mod_revision);
    return last;
  }
  return conflictError(k, name);
}

static Result<json> deleteOptions(const http::Request& req) {
  json options = json::object();
  if (!trim(req.body).empty()) {
    auto r = schema::parseJsonStrict(req.body, nullptr);
    if (!r.isOk()) {
      // kubectl 1.32 may send DeleteOptions as protobuf.
      auto pb = schema::decodeKubernetesProtobuf(req.body);
      if (!pb.isOk()) return r.status();
      r = pb;
    }
    if (!r->is_object()) return badRequest("DeleteOptions must be a JSON object");
    options = std::move(r).value();
  }
  // Query parameters work as well as a body.
  if (req.hasParam("propagationPolicy")) options["propagationPolicy"] = req.param("propagationPolicy");
  if (req.hasParam("gracePeriodSeconds")) {
    try {
      options["gracePeriodSeconds"] = std::stoll(req.param("gracePeriodSeconds"));
    } catch (...) {
      return badRequest("gracePeriodSeconds: invalid value \"" + req.param("gracePeriodSeconds") + "\"");
    }
  }
  if (req.hasParam("orphanDependents")) options["orphanDependents"] = req.param("orphanDependents") == "true";
  return options;
}

void ApiServer::Impl::handleDelete(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  if (!ctx.info.subresource.empty())
    return sendError(ctx, Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  auto options = deleteOptions(ctx.req);
  if (!options.isOk()) return sendError(ctx, options.status());
  bool dry = dryRun(ctx.req);
  if (options->contains("dryRun") && (*options)["dryRun"].is_array())
    for (const auto& v : (*options)["dryRun"])
      if (v == "All") dry = true;
  bool deleted_now = false;
  auto r = deleteObject(ctx, k, ctx.info.namespace_, ctx.info.name, *options, dry, &deleted_now);
  if (!r.isOk()) return sendError(ctx, r.status(), ctx.info.name);
  sendObject(ctx, deleted_now ? 200 : 202, *r);
}

void ApiServer::Impl::handleDeleteCollection(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  auto filter = ObjectFilter::fromRequest(k, ctx.req);
  if (!filter.isOk()) return sendError(ctx, filter.status());
  auto options = deleteOptions(ctx.req);
  if (!options.isOk()) return sendError(ctx, options.status());
  Status st = cache->waitUntilFresh(std::chrono::seconds(3));
  if (!st.isOk()) return sendError(ctx, st);
  int64_t rv = 0;
  auto all = cache->resource(resourcePrefix(k))->list(listPrefix(k, ctx.info.namespace_), &rv);
  json items = json::array();
  bool dry = dryRun(ctx.req);
  for (const auto& o : all) {
    if (!filter->matches(*o)) continue;
    const json& m = o->obj["metadata"];
    bool deleted_now = false;
    auto r = deleteObject(ctx, k, m.value("namespace", ""), m.value("name", ""), *options, dry, &deleted_now);
    if (!r.isOk()) {
      if (r.status().code() == Code::kNotFound) continue;
      return sendError(ctx, r.status(), m.value("name", ""));
    }
    items.push_back(std::move(r).value());
  }
  json list = {{"kind", k.kind + "List"}, {"apiVersion", k.groupVersion()},
               {"metadata", {{"resourceVersion", std::to_string(cache->revision())}}},
               {"items", items}};
  sendJson(ctx, 200, list);
}

}  // namespace berth::apiserver
