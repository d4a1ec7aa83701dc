// Kinds served at a second version of what is stored (KindSpec::storage_version, e.g.
// autoscaling/v1 HorizontalPodAutoscaler over v2): the request is rewritten into one for the
// stored version (bodies converted, non-apply patches applied to the converted current object
// and sent on as an update) and handled as such; the answer is converted back on its way out,
// including every event of a watch.
#include <mutex>

#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/patch/patch.h"
#include "apiserver/schema/schema.h"
#include "apiserver/schema/validate.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace {

// Converts the stored kind's objects, lists and watch events in what `inner` sends.
// Thread-safety: like any ResponseWriter; stream writes are serialised by a mutex.
class ConvertingWriter : public http::ResponseWriter {
 public:
  ConvertingWriter(std::shared_ptr<http::ResponseWriter> inner, const KindSpec& view, const KindSpec& stored)
      : inner_(std::move(inner)), view_(view), stored_(stored) {}

  void respond(int status, const http::Headers& headers, std::string body) override {
    inner_->respond(status, headers, isJson(headers) ? convertDocument(std::move(body)) : std::move(body));
  }
  void respondStreamed(int status, const http::Headers& headers, BodySource next) override {
    std::string body;
    while (next(&body)) {
    }
    respond(status, headers, std::move(body));
  }
  void startStream(int status, const http::Headers& headers) override { inner_->startStream(status, headers); }
  bool writeChunk(std::string_view data) override { return forwardLines(data); }
  bool writeSharedChunk(std::shared_ptr<const std::string> framed) override {
    return forwardLines(http::chunkData(*framed));
  }
  void endStream() override { inner_->endStream(); }
  std::shared_ptr<http::UpgradedConnection> upgrade(const http::Headers& headers) override {
    return inner_->upgrade(headers);
  }
  bool closed() const override { return inner_->closed(); }
  void setOnClose(std::function<void()> on_close) override { inner_->setOnClose(std::move(on_close)); }

 private:
  static bool isJson(const http::Headers& headers) {
    for (const auto& [name, value] : headers)
      if (toLower(name) == "content-type") return startsWith(value, "application/json");
    return false;
  }

  // True when `j` was one of the stored kind's objects or lists (now converted).
  bool convertObject(json& j) const {
    if (!j.is_object()) return false;
    std::string kind = j.value("kind", "");
    if (kind == stored_.kind) {
      view_.from_storage(j);
      return true;
    }
    if (kind != stored_.kind + "List") return false;
    j["apiVersion"] = view_.groupVersion();
    if (auto items = j.find("items"); items != j.end() && items->is_array())
      for (json& item : *items) view_.from_storage(item);
    return true;
  }

  std::string convertDocument(std::string body) const {
    json j = json::parse(body, nullptr, false);
    if (convertObject(j)) return j.dump();
    if (view_.group != stored_.group && j.is_object() && j.value("kind", "") == "Status") {
      // Errors name this version's resource: events.events.k8s.io "x" not found.
      std::string stored_name = stored_.qualifiedResource() + " \"";
      std::string view_name = view_.qualifiedResource() + " \"";
      if (auto m = j.find("message"); m != j.end() && m->is_string()) {
        std::string msg = m->get<std::string>();
        if (startsWith(msg, stored_name)) *m = view_name + msg.substr(stored_name.size());
      }
      if (auto d = j.find("details"); d != j.end() && d->is_object() && d->contains("group"))
        (*d)["group"] = view_.group;
      return j.dump();
    }
    return body;
  }

  // Watch streams: newline-delimited events, possibly several per chunk or split across chunks.
  bool forwardLines(std::string_view data) {
    std::string out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.append(data);
      size_t start = 0;
      for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string line = pending_.substr(start, nl - start);
        json event = json::parse(line, nullptr, false);
        if (event.is_object() && event.contains("object") && convertObject(event["object"]))
          line = event.dump();
        out += line;
        out += '\n';
      }
      pending_.erase(0, start);
    }
    if (out.empty()) return !inner_->closed();
    return inner_->writeChunk(out);
  }

  std::shared_ptr<http::ResponseWriter> inner_;
  const KindSpec& view_;
  const KindSpec& stored_;
  std::mutex mu_;
  std::string pending_;
};

std::string mediaTypeOf(const http::Request& req) {
  std::string ct = req.header("content-type");
  return toLower(trim(ct.substr(0, ct.find(';'))));
}

// Rewrites the keys of fieldSelector terms ("regarding.name=x,type!=Normal") by `renames`.
void renameSelectorFields(http::Request& req,
                          const std::vector<std::pair<std::string, std::string>>& renames) {
  for (auto it = req.query.lower_bound("fieldSelector");
       it != req.query.end() && it->first == "fieldSelector"; ++it) {
    std::string out;
    for (const std::string& term : split(it->second, ',')) {
      std::string t = term;
      size_t key_len = t.find_first_of("!=");
      std::string key(trim(t.substr(0, key_len)));
      for (const auto& [mine, stored] : renames)
        if (key == mine) t = stored + t.substr(key_len == std::string::npos ? t.size() : key_len);
      out += (out.empty() ? "" : ",") + t;
    }
    it->second = out;
  }
}

void setJsonBody(RequestCtx& ctx, const json& obj) {
  ctx.req.body = obj.dump();
  ctx.req.headers["content-type"] = "application/json";
}

}  // namespace

Status ApiServer::Impl::convertRequestToStored(RequestCtx& ctx, const KindSpec& view, const KindSpec& stored) {
  const std::string& verb = ctx.info.verb;
  const std::string& sub = ctx.info.subresource;
  if (sub != "" && sub != "status") return Status::ok();
  if (!view.field_renames.empty()) renameSelectorFields(ctx.req, view.field_renames);
  // Validation this version adds to the stored kind's (given the object itself as the old one
  // on an update: only its create-time rules depend on that).
  auto validate = [&](const json& obj, bool update) -> Status {
    if (!view.validate) return Status::ok();
    auto causes = view.validate(obj, update ? &obj : nullptr);
    if (causes.empty()) return Status::ok();
    std::string name;
    if (auto m = obj.find("metadata"); m != obj.end() && m->is_object())
      name = m->value("name", "");
    return invalidError(view, name.empty() ? ctx.info.name : name, causes);
  };
  if (verb == "create" || verb == "update") {
    BERTH_ASSIGN_OR_RETURN(json obj, decodeBody(ctx, view, /*check_kind=*/true));
    BERTH_RETURN_IF_ERROR(validate(obj, verb == "update"));
    BERTH_RETURN_IF_ERROR(view.to_storage(obj));
    setJsonBody(ctx, obj);
    return Status::ok();
  }
  if (verb != "patch") return Status::ok();
  std::string mt = mediaTypeOf(ctx.req);
  if (mt == "application/apply-patch+yaml") {
    // The applied configuration, converted like any body; the apply itself runs on the stored
    // version, so field ownership is recorded there.
    BERTH_ASSIGN_OR_RETURN(json applied, schema::yamlToJson(ctx.req.body));
    if (applied.is_object() && applied.value("apiVersion", "") == view.groupVersion())
      BERTH_RETURN_IF_ERROR(view.to_storage(applied));
    ctx.req.body = applied.dump();  // JSON is YAML
    return Status::ok();
  }
  // Other patches are written against this version's shape: apply them to the converted
  // current object and send the result on as an update pinned to what was read.
  BERTH_ASSIGN_OR_RETURN(json patch_body, schema::parseJsonStrict(ctx.req.body, nullptr));
  BERTH_ASSIGN_OR_RETURN(ObjPtr current, readCurrent(stored, ctx.info.namespace_, ctx.info.name));
  json target = current->obj.get();
  view.from_storage(target);
  Result<json> patched = [&]() -> Result<json> {
    if (mt == "application/json-patch+json") return patch::applyJsonPatch(target, patch_body);
    if (mt == "application/merge-patch+json") return patch::applyJsonMergePatch(target, patch_body);
    if (mt == "application/strategic-merge-patch+json") {
      auto type = schema::Registry::get().forKind({view.group, view.version, view.kind});
      return patch::applyStrategicMergePatch(target, patch_body, type.get());
    }
    return Status(Code::kUnsupportedMediaType, "the body of the request was in an unknown format: " + mt);
  }();
  if (!patched.isOk()) return patched.status();
  json obj = std::move(patched).value();
  BERTH_RETURN_IF_ERROR(validate(obj, true));
  BERTH_RETURN_IF_ERROR(view.to_storage(obj));
  setJsonBody(ctx, obj);
  ctx.req.method = "PUT";
  ctx.info.verb = "update";
  return Status::ok();
}

void ApiServer::Impl::handleStoredAs(RequestCtx& ctx, const KindSpec& view) {
  ctx.kind = &view;
  const KindSpec* stored = kinds->byResource(view.storage_group.value_or(view.group),
                                             view.storage_version, view.resource);
  if (!stored) return sendError(ctx, internalError("no stored version " + view.storage_version + " of " + view.qualifiedResource()));
  // Protobuf answers would need this version's encoder; JSON serves every client.
  if (ctx.out == OutFormat::kProtobuf) ctx.out = OutFormat::kJson;
  Status st = convertRequestToStored(ctx, view, *stored);
  if (!st.isOk()) return sendError(ctx, st, ctx.info.name);
  ctx.w = std::make_shared<ConvertingWriter>(ctx.w, view, *stored);
  ctx.info.group = stored->group;
  ctx.info.version = stored->version;
  handleResource(ctx);
}

}  // namespace berth::apiserver
