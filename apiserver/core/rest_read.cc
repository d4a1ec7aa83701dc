// Reads: get, list (from the watch cache, pages pinned to a revision) and watch.
#include <charconv>
#include <random>

#include "apiserver/core/api_context.h"
#include "apiserver/core/api_errors.h"
#include "apiserver/core/object_filter.h"
#include "apiserver/schema/protobuf.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver {

namespace {

// A resourceVersion query parameter: "" is 0 (most recent); anything but a non-negative integer
// is a 400.
Result<int64_t> parseResourceVersion(const std::string& rv) {
  if (rv.empty()) return int64_t{0};
  int64_t v = 0;
  auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), v);
  if (ec != std::errc() || end != rv.data() + rv.size() || v < 0)
    return badRequest("invalid resource version: \"" + rv + "\": must be a non-negative integer");
  return v;
}

// timeoutSeconds: absent is 0; otherwise a whole number of seconds, or a 400.
Result<int64_t> parseTimeoutSeconds(const http::Request& req) {
  if (!req.hasParam("timeoutSeconds")) return int64_t{0};
  std::string t = req.param("timeoutSeconds");
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    return badRequest("timeoutSeconds: Invalid value: \"" + t + "\": must be an integer");
  return v;
}

}  // namespace

namespace {
constexpr auto kFreshTimeout = std::chrono::seconds(3);
constexpr const char* kTableType = "application/json;as=Table;v=v1;g=meta.k8s.io";


json scaleOf(const KindSpec& k, const json& obj) {
  const json& meta = obj["metadata"];
  json scale = {{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata",
                 {{"name", meta.value("name", "")},
                  {"uid", meta.value("uid", "")},
                  {"resourceVersion", meta.value("resourceVersion", "")},
                  {"creationTimestamp", meta.value("creationTimestamp", "")}}},
                {"spec", json::object()},
                {"status", {{"replicas", 0}}}};
  if (meta.contains("namespace")) scale["metadata"]["namespace"] = meta["namespace"];
  json::json_pointer spec_ptr(k.scale_spec_replicas), status_ptr(k.scale_status_replicas);
  if (obj.contains(spec_ptr) && obj.at(spec_ptr).is_number_integer())
    scale["spec"]["replicas"] = obj.at(spec_ptr);
  if (obj.contains(status_ptr) && obj.at(status_ptr).is_number_integer())
    scale["status"]["replicas"] = obj.at(status_ptr);
  std::string selector = scaleSelector(k, obj);
  if (!selector.empty()) scale["status"]["selector"] = selector;
  return scale;
}
}  // namespace

json scaleObject(const KindSpec& k, const json& obj) { return scaleOf(k, obj); }

void ApiServer::Impl::sendObject(RequestCtx& ctx, int code, const json& obj) {
  if (ctx.out == OutFormat::kTable && ctx.kind && obj.value("kind", "") == ctx.kind->kind) {
    std::vector<const json*> one = {&obj};
    json table = buildTable(*ctx.kind, one, ctx.req.param("includeObject"), true);
    table["metadata"]["resourceVersion"] = obj["metadata"].value("resourceVersion", "");
    return respond(ctx, code, kTableType, table.dump());
  }
  if (ctx.out == OutFormat::kProtobuf) {
    auto pb = schema::encodeKubernetesProtobuf(obj);
    if (pb.isOk()) return respond(ctx, code, "application/vnd.kubernetes.protobuf", std::move(pb).value());
  }
  sendJson(ctx, code, obj);
}

Result<ObjPtr> ApiServer::Impl::readCurrent(const KindSpec& k, const std::string& ns,
                                            const std::string& name) {
  BERTH_RETURN_IF_ERROR(cache->waitUntilFresh(kFreshTimeout));
  ObjPtr o = cache->resource(resourcePrefix(k))->get(objectKey(k, ns, name));
  if (!o) return notFoundError(k, name);
  return o;
}

void ApiServer::Impl::handleGet(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  // resourceVersion N: an answer no older than N (504 when the cache does not reach it).
  auto rv = parseResourceVersion(ctx.req.param("resourceVersion"));
  if (!rv.isOk()) return sendError(ctx, rv.status());
  if (*rv > 0 && !cache->waitForRevision(*rv, kFreshTimeout))
    return sendError(ctx, tooLargeResourceVersion(*rv, cache->revision()));
  auto cur = readCurrent(k, ctx.info.namespace_, ctx.info.name);
  if (!cur.isOk()) return sendError(ctx, cur.status(), ctx.info.name);
  if (ctx.info.subresource == "scale") {
    json scale = scaleOf(k, (*cur)->obj);
    ctx.out = ctx.out == OutFormat::kTable ? OutFormat::kJson : ctx.out;
    return sendJson(ctx, 200, scale);
  }
  if (ctx.out == OutFormat::kJson) {
    // The cached serialisation: no re-encoding on the hottest read.
    return respond(ctx, 200, "application/json", (*cur)->raw());
  }
  sendObject(ctx, 200, (*cur)->obj);
}

namespace {
struct ContinueToken {
  int64_t rv = 0;
  std::string start;  // last key returned
};

std::string encodeContinue(int64_t rv, const std::string& key) {
  json t = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", key}};
  return base64Encode(t.dump());
}

Result<ContinueToken> decodeContinue(const std::string& tok, const std::string& prefix) {
  std::string raw;
  if (!base64Decode(tok, &raw)) return badRequest("continue key is not valid: illegal base64");
  try {
    json t = json::parse(raw);
    ContinueToken c;
    c.rv = t.at("rv").get<int64_t>();
    c.start = t.at("start").get<std::string>();
    if (t.value("v", "") != "meta.k8s.io/v1" || c.rv <= 0 || !startsWith(c.start, prefix))
      return badRequest("continue key is not valid: incorrect encoded start resourceVersion");
    return c;
  } catch (const json::exception&) {
    return badRequest("continue key is not valid: malformed token");
  }
}

// List bodies join the items' cached serialisations (re-encoding 10k objects per list would
// dominate its cost). Up to kStreamListBytes a body is built whole and sent with a
// Content-Length; a larger one is streamed in pieces of about kListPiece bytes as the socket
// drains, so no copy of the whole list is ever held.
constexpr size_t kStreamListBytes = 256 * 1024;
constexpr size_t kListPiece = 256 * 1024;

struct ListBody {
  std::string head;  // the envelope up to and including "items":[
  std::vector<ObjPtr> items;
  size_t next = 0;

  // Appends the head (first call) and then items until `out` holds at least `piece` bytes;
  // false once the closing "]}" was appended.
  bool fill(std::string* out, size_t piece) {
    if (next == 0 && !head.empty()) {
      *out += head;
      head.clear();
    }
    while (next < items.size() && out->size() < piece) {
      if (next) *out += ',';
      items[next]->appendRaw(out);
      ++next;
    }
    if (next < items.size()) return true;
    *out += "]}";
    return false;
  }
};

ListBody listBody(const KindSpec& k, const json& metadata, std::vector<ObjPtr> items) {
  json env = {{"kind", k.kind + "List"}, {"apiVersion", k.groupVersion()}, {"metadata", metadata}};
  ListBody b;
  b.head = env.dump();
  b.head.pop_back();  // the closing brace
  b.head += ",\"items\":[";
  b.items = std::move(items);
  return b;
}
}  // namespace

void ApiServer::Impl::handleList(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  const auto& req = ctx.req;
  auto filter = ObjectFilter::fromRequest(k, req);
  if (!filter.isOk()) return sendError(ctx, filter.status());
  int64_t limit = 0;
  if (req.hasParam("limit")) {
    try {
      limit = std::stoll(req.param("limit"));
    } catch (...) {
      return sendError(ctx, badRequest("limit: invalid value \"" + req.param("limit") + "\""));
    }
    if (limit < 0) limit = 0;
  }
  std::string prefix = listPrefix(k, ctx.info.namespace_);
  std::string rv = req.param("resourceVersion");
  std::string rv_match = req.param("resourceVersionMatch");
  std::string cont = req.param("continue");
  // ValidateListOptions, as upstream words it.
  std::vector<Cause> option_errors;
  if (!rv_match.empty() && rv_match != "NotOlderThan" && rv_match != "Exact") {
    option_errors.push_back({"FieldValueNotSupported",
                             "Unsupported value: \"" + rv_match +
                                 "\": supported values: \"Exact\", \"NotOlderThan\", \"\"",
                             "resourceVersionMatch"});
  } else if (!rv_match.empty()) {
    if (rv.empty())
      option_errors.push_back(
          {"FieldValueForbidden",
           "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
           "is provided",
           "resourceVersionMatch"});
    if (!cont.empty())
      option_errors.push_back({"FieldValueForbidden",
                               "Forbidden: resourceVersionMatch is forbidden when continue is "
                               "provided",
                               "resourceVersionMatch"});
    if (rv_match == "Exact" && rv == "0")
      option_errors.push_back({"FieldValueForbidden",
                               "Forbidden: resourceVersionMatch \"exact\" is forbidden for "
                               "resourceVersion \"0\"",
                               "resourceVersionMatch"});
  }
  if (!option_errors.empty()) return sendError(ctx, invalidOptions("ListOptions", option_errors));
  if (!cont.empty() && !rv.empty() && rv != "0")
    return sendError(ctx, badRequest("specifying resource version is not allowed when using continue"));
  auto rv_parsed = parseResourceVersion(rv);
  if (!rv_parsed.isOk()) return sendError(ctx, rv_parsed.status());
  int64_t rv_num = *rv_parsed;
  if (auto t = parseTimeoutSeconds(req); !t.isOk()) return sendError(ctx, t.status());

  std::vector<ObjPtr> holders;  // the selected objects, in key order
  std::string next_token;
  int64_t list_rv = 0;
  int64_t remaining = -1;

  auto from_store = [&](int64_t at_rev, const std::string& start_after) -> Status {
    std::string after = start_after;
    while (true) {
      int64_t want = limit > 0 ? limit - static_cast<int64_t>(holders.size()) : 0;
      auto page = store->list(prefix, after, want > 0 ? std::max<int64_t>(want, 100) : 0, at_rev);
      if (!page.isOk()) {
        if (page.status().code() == Code::kExpired)
          return Status(Code::kExpired,
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter.");
        return page.status();
      }
      list_rv = page->revision;
      for (const auto& kv : page->kvs) {
        after = kv.key;
        auto o = decodeStored(kv);
        if (!o.isOk()) continue;
        // Without selectors the object is never parsed: a JSON list sends its bytes.
        if (!filter->empty() && !filter->matches(**o)) continue;
        holders.push_back(*o);
        if (limit > 0 && static_cast<int64_t>(holders.size()) >= limit) {
          // More may follow: hand out a token unless this was the last key.
          next_token = encodeContinue(at_rev, after);
          return Status::ok();
        }
      }
      if (!page->more) return Status::ok();
    }
  };

  if (!cont.empty()) {
    auto tok = decodeContinue(cont, prefix);
    if (!tok.isOk()) return sendError(ctx, tok.status());
    Status st = from_store(tok->rv, tok->start);
    if (!st.isOk()) return sendError(ctx, st);
    list_rv = tok->rv;
  } else if (rv_match == "Exact") {
    Status st = from_store(rv_num, "");
    if (!st.isOk()) {
      if (st.code() == Code::kExpired)
        st = Status(Code::kExpired, "too old resource version: " + rv + " (" +
                                        std::to_string(store->compactedRevision()) + ")");
      return sendError(ctx, st);
    }
    list_rv = rv_num;
  } else {
    if (rv.empty()) {
      Status st = cache->waitUntilFresh(kFreshTimeout);
      if (!st.isOk()) return sendError(ctx, st);
    } else if (rv_num > 0) {
      if (!cache->waitForRevision(rv_num, kFreshTimeout))
        return sendError(ctx, tooLargeResourceVersion(rv_num, cache->revision()));
    }
    auto all = cache->resource(resourcePrefix(k))->list(prefix, &list_rv);
    size_t matched_total = 0;
    for (auto& o : all) {
      if (!filter->empty() && !filter->matches(*o)) continue;
      ++matched_total;
      if (limit > 0 && static_cast<int64_t>(holders.size()) >= limit) continue;
      holders.push_back(o);
    }
    if (limit > 0 && matched_total > holders.size()) {
      next_token = encodeContinue(list_rv, holders.back()->key);
      remaining = static_cast<int64_t>(matched_total - holders.size());
    }
  }

  json meta = {{"resourceVersion", std::to_string(list_rv)}};
  if (!next_token.empty()) meta["continue"] = next_token;
  if (remaining >= 0) meta["remainingItemCount"] = remaining;

  if (ctx.out == OutFormat::kTable)
    return respond(ctx, 200, kTableType, tableListBody(k, holders, req.param("includeObject"), meta));
  size_t total = 0;
  for (const auto& h : holders) total += h->rawSize() + 1;
  ListBody body = listBody(k, meta, std::move(holders));
  if (total <= kStreamListBytes) {
    std::string out;
    out.reserve(total + body.head.size() + 2);
    body.fill(&out, SIZE_MAX);
    return respond(ctx, 200, "application/json", std::move(out));
  }
  auto state = std::make_shared<ListBody>(std::move(body));
  respondStreamed(ctx, 200, "application/json", [state](std::string* out) {
    out->reserve(kListPiece + 64 * 1024);
    return state->fill(out, kListPiece);
  });
}

// ---- watch ----

namespace {

class StreamSink : public WatchSink, public std::enable_shared_from_this<StreamSink> {
 public:
  // `share_key` names the filter and format: sinks with equal keys encode events alike.
  // Table streams are never shared (each sends its column definitions once).
  StreamSink(const KindSpec& k, ObjectFilter filter, std::shared_ptr<http::ResponseWriter> w,
             bool table, std::string include_object, std::string share_key)
      : k_(k), filter_(std::move(filter)), w_(std::move(w)), table_(table),
        include_object_(std::move(include_object)),
        share_key_(table ? std::string() : std::move(share_key)) {}

  bool onEvents(const std::vector<CacheEvent>& events) override {
    if (!table_) {
      auto bytes = encode(events);
      if (!bytes) return alive();
      return deliver(bytes);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || w_->closed()) return false;
    std::string out;
    forEachSelected(events, [&](const char* type, const CachedObject& obj) {
      appendTableEvent(out, type, obj);
    });
    if (out.empty()) return true;
    return w_->writeChunk(out);
  }

  const std::string& shareKey() const override { return share_key_; }

  std::shared_ptr<const std::string> encode(const std::vector<CacheEvent>& events) const override {
    std::string out;
    forEachSelected(events, [&](const char* type, const CachedObject& obj) {
      // {"type":"X","object":<cached serialisation>}
      out += "{\"type\":\"";
      out += type;
      out += "\",\"object\":";
      obj.appendRaw(&out);
      out += "}\n";
    });
    if (out.empty()) return nullptr;
    // Framed once here, so that every watcher's connection sends these very bytes.
    return std::make_shared<const std::string>(http::frameChunk(out));
  }

  bool deliver(const std::shared_ptr<const std::string>& bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || w_->closed()) return false;
    return w_->writeSharedChunk(bytes);
  }

  bool bookmark(int64_t rv) { return writeBookmark(rv, false); }

  // With sendInitialEvents=true: the bookmark that ends the initial events.
  void markInitialEventsEnd() { initial_events_end_ = true; }
  bool onReplayed(int64_t revision) override {
    return !initial_events_end_ || writeBookmark(revision, true);
  }

  void finish(const Status* err) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    if (err && !w_->closed()) {
      w_->writeChunk(json{{"type", "ERROR"}, {"object", statusObject(*err)}}.dump() + "\n");
    }
    w_->endStream();
  }

 private:
  bool alive() {
    std::lock_guard<std::mutex> lock(mu_);
    return !done_ && !w_->closed();
  }

  bool writeBookmark(int64_t rv, bool initial_events_end) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || w_->closed()) return false;
    json meta = {{"resourceVersion", std::to_string(rv)}};
    if (initial_events_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    json obj = {{"kind", k_.kind}, {"apiVersion", k_.groupVersion()}, {"metadata", meta}};
    return w_->writeChunk(json{{"type", "BOOKMARK"}, {"object", obj}}.dump() + "\n");
  }

  // Calls fn(type, object) for each event this watch selects. With a selector, a MODIFIED
  // that moves an object into or out of the selection becomes ADDED or DELETED, as upstream;
  // the DELETED carries the last state that matched, at the event's resourceVersion.
  template <typename Fn>
  void forEachSelected(const std::vector<CacheEvent>& events, Fn&& fn) const {
    for (const auto& ev : events) {
      EventType type = ev.type;
      bool now_match = filter_.empty() || filter_.matches(*ev.obj);
      if (type == EventType::kModified && !filter_.empty()) {
        bool was = ev.prev && filter_.matches(*ev.prev);
        if (was && !now_match) {
          std::string text = replaceResourceVersion(ev.prev->raw(), ev.revision);
          if (!text.empty()) {
            CachedObject last(ev.prev->key, ev.revision, std::move(text));
            fn(eventTypeName(EventType::kDeleted), last);
            continue;
          }
          type = EventType::kDeleted;
        } else if (!was && now_match) {
          type = EventType::kAdded;
        } else if (!was && !now_match) {
          continue;
        }
      } else if (!now_match) {
        continue;
      }
      fn(eventTypeName(type), *ev.obj);
    }
  }

  void appendTableEvent(std::string& out, const char* type, const CachedObject& obj) {
    std::vector<const json*> one = {&obj.obj.get()};
    json t = buildTable(k_, one, include_object_, !sent_columns_);
    if (sent_columns_) t["columnDefinitions"] = nullptr;
    sent_columns_ = true;
    t["metadata"] = {{"resourceVersion", std::to_string(obj.mod_revision)}};
    out += json{{"type", type}, {"object", t}}.dump();
    out += '\n';
  }

  const KindSpec& k_;
  ObjectFilter filter_;
  std::shared_ptr<http::ResponseWriter> w_;
  bool table_;
  std::string include_object_;
  std::string share_key_;
  std::mutex mu_;
  bool done_ = false;
  bool sent_columns_ = false;
  bool initial_events_end_ = false;
};

// A bookmark a minute keeps informers' resourceVersions fresh across quiet periods, and one
// 2 s before the watch's deadline lets the client resume from there (upstream's
// nextBookmarkTime); none once that time has passed.
void scheduleBookmark(TimerQueue* tq, std::shared_ptr<StreamSink> sink,
                      std::shared_ptr<std::atomic<bool>> ended, WatchCache* wc,
                      std::chrono::steady_clock::time_point deadline) {
  auto now = std::chrono::steady_clock::now();
  auto last = deadline - std::chrono::seconds(2);
  if (last <= now) return;
  bool final = now + std::chrono::seconds(60) >= last;
  auto next = final ? last : now + std::chrono::seconds(60);
  tq->scheduleAfter(std::chrono::duration_cast<std::chrono::milliseconds>(next - now),
                    [tq, sink, ended, wc, deadline, final] {
                      if (ended->load() || !sink->bookmark(wc->revision())) return;
                      if (!final) scheduleBookmark(tq, sink, ended, wc, deadline);
                    });
}

}  // namespace

void ApiServer::Impl::handleWatch(RequestCtx& ctx) {
  const KindSpec& k = *ctx.kind;
  const auto& req = ctx.req;
  auto filter = ObjectFilter::fromRequest(k, req);
  if (!filter.isOk()) return sendError(ctx, filter.status());
  // A watch of one object (GET .../pods/x?watch=true) is a watch filtered by name.
  if (!ctx.info.name.empty()) filter->addNameRequirement(ctx.info.name);
  std::string rv = req.param("resourceVersion");
  auto rv_parsed = parseResourceVersion(rv);
  if (!rv_parsed.isOk()) return sendError(ctx, rv_parsed.status());
  int64_t rv_num = *rv_parsed;
  // validateWatchOptions, as upstream words it (the WatchList feature is on).
  const bool has_send_initial = req.hasParam("sendInitialEvents");
  const bool send_initial = has_send_initial && queryFlag(req.param("sendInitialEvents"));
  const bool bookmarks =
      req.hasParam("allowWatchBookmarks") && queryFlag(req.param("allowWatchBookmarks"));
  const std::string rv_match = req.param("resourceVersionMatch");
  std::vector<Cause> option_errors;
  if (has_send_initial && rv_match != "NotOlderThan")
    option_errors.push_back({"FieldValueForbidden",
                             "Forbidden: sendInitialEvents requires setting resourceVersionMatch "
                             "to NotOlderThan",
                             "resourceVersionMatch"});
  if (!rv_match.empty()) {
    if (!has_send_initial)
      option_errors.push_back({"FieldValueForbidden",
                               "Forbidden: resourceVersionMatch is forbidden for watch unless "
                               "sendInitialEvents is provided",
                               "resourceVersionMatch"});
    if (rv_match != "NotOlderThan")
      option_errors.push_back(
          {"FieldValueNotSupported",
           "Unsupported value: \"" + rv_match + "\": supported values: \"NotOlderThan\"",
           "resourceVersionMatch"});
    if (!bookmarks)
      option_errors.push_back({"FieldValueInvalid",
                               "Invalid value: false: allowWatchBookmarks must be set to true "
                               "when sendInitialEvents is provided",
                               "allowWatchBookmarks"});
  }
  if (!option_errors.empty()) return sendError(ctx, invalidOptions("ListOptions", option_errors));
  // Without sendInitialEvents, resourceVersion 0 / unset replays the current state; with it,
  // the parameter decides (false: only what happens from now on).
  bool initial = has_send_initial ? send_initial : rv.empty() || rv == "0";
  if (has_send_initial && !send_initial && (rv.empty() || rv == "0")) rv_num = cache->revision();
  auto timeout_parsed = parseTimeoutSeconds(req);
  if (!timeout_parsed.isOk()) return sendError(ctx, timeout_parsed.status());
  int64_t timeout = *timeout_parsed;
  if (timeout <= 0) {
    static thread_local std::mt19937 gen{std::random_device{}()};
    timeout = 1800 + static_cast<int>(gen() % 1800);
  }
  if (initial && rv.empty()) {
    Status st = cache->waitUntilFresh(kFreshTimeout);
    if (!st.isOk()) return sendError(ctx, st);
  } else if ((!initial || send_initial) && !cache->waitForRevision(rv_num, kFreshTimeout)) {
    // (The initial events of sendInitialEvents are not older than resourceVersion.)
    return sendError(ctx, tooLargeResourceVersion(rv_num, cache->revision()));
  }

  bool table = ctx.out == OutFormat::kTable;
  std::string content_type = table ? kTableType : "application/json";
  // Watches with the same selectors share one encoding of each event.
  std::string share_key = "json\n" + req.param("labelSelector") + "\n" + req.param("fieldSelector") +
                          "\n" + ctx.info.name;
  auto sink = std::make_shared<StreamSink>(k, std::move(filter).value(), ctx.w, table,
                                           req.param("includeObject"), std::move(share_key));
  if (send_initial) sink->markInitialEventsEnd();
  ResourceCache* rc = cache->resource(resourcePrefix(k));
  ctx.w->startStream(200, {{"Content-Type", content_type}, {"Cache-Control", "no-cache, private"}});
  ctx.code = 200;
  auto id = rc->addWatcher(rv_num, initial, listPrefix(k, ctx.info.namespace_), sink);
  if (!id.isOk()) {
    // 200 then one ERROR event, as upstream does for an expired resourceVersion.
    sink->finish(&id.status());
    return;
  }
  metrics.watchStarted();
  metrics.observeRequest("watch", ctx.metric_resource, 200, 0);
  uint64_t watcher = *id;
  TimerQueue* tq = timers.get();
  auto state = std::make_shared<std::atomic<bool>>(false);
  auto end = [this, rc, watcher, sink, state]() {
    if (state->exchange(true)) return;
    rc->removeWatcher(watcher);
    sink->finish(nullptr);
    metrics.watchEnded();
  };
  uint64_t timeout_timer = tq->scheduleAfter(std::chrono::seconds(timeout), end);
  // The client going away: clean up on the timer thread, not the connection's event loop.
  ctx.w->setOnClose([tq, end, timeout_timer]() {
    tq->cancel(timeout_timer);
    tq->scheduleAfter(std::chrono::milliseconds(0), end);
  });
  if (bookmarks)
    scheduleBookmark(tq, sink, state, cache.get(),
                     std::chrono::steady_clock::now() + std::chrono::seconds(timeout));
}

}  // namespace berth::apiserver
