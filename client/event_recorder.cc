#include "client/event_recorder.h"

#include <algorithm>
#include <cstdio>

#include "common/log.h"

namespace berth::client {

namespace {

const char kCombinedPrefix[] = "(combined from similar events): ";

std::string str(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
  return obj[key].get<std::string>();
}

// An ObjectReference for an object (or a copy of the reference it already is).
json referenceFor(const json& obj) {
  json ref = json::object();
  const json& m = obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"] : obj;
  for (const char* k : {"kind", "apiVersion"})
    if (!str(obj, k).empty()) ref[k] = str(obj, k);
  for (const char* k : {"namespace", "name", "uid", "resourceVersion"})
    if (!str(m, k).empty()) ref[k] = str(m, k);
  if (!str(obj, "fieldPath").empty()) ref["fieldPath"] = str(obj, "fieldPath");
  return ref;
}

std::string objectKeyOf(const json& ref) {
  return str(ref, "kind") + "\x1f" + str(ref, "namespace") + "\x1f" + str(ref, "name") + "\x1f" +
         str(ref, "uid") + "\x1f" + str(ref, "apiVersion") + "\x1f" + str(ref, "fieldPath");
}

std::string eventName(const std::string& object_name, TimePoint t) {
  char buf[32];
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(ns));
  return object_name + "." + buf;
}

}  // namespace

const Resource& eventsResource() {
  static const Resource r{"", "v1", "events", "Event", true,
                          {"create", "delete", "deletecollection", "get", "list", "patch", "update",
                           "watch"}};
  return r;
}

EventRecorder::EventRecorder(Client* client, std::string component, std::string host, Options opts)
    : client_(client),
      component_(std::move(component)),
      host_(std::move(host)),
      opts_(opts),
      clock_(opts.clock ? opts.clock : &SystemClock::instance()),
      written_(opts.cache_size),
      aggregates_(opts.cache_size),
      buckets_(opts.cache_size) {
  thread_ = std::thread([this] { run(); });
}

EventRecorder::~EventRecorder() { stop(); }

void EventRecorder::event(const json& involved_object, Type type, const std::string& reason,
                          const std::string& message) {
  json ref = referenceFor(involved_object);
  if (str(ref, "kind").empty() || str(ref, "name").empty()) {
    BLOG_WARN("event about an object without kind or name ignored").kv("reason", reason);
    return;
  }
  Pending p{std::move(ref), type == Type::kWarning ? "Warning" : "Normal", reason, message,
            clock_->now()};
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    if (queue_.size() >= opts_.queue_capacity) {
      if (dropped_++ % 1000 == 0)
        BLOG_WARN("event queue full, dropping events").kv("dropped", dropped_);
      return;
    }
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
}

void EventRecorder::flush() {
  std::unique_lock<std::mutex> l(mu_);
  idle_cv_.wait(l, [&] { return stopping_ || (queue_.empty() && !busy_); });
}

void EventRecorder::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t EventRecorder::dropped() const {
  std::lock_guard<std::mutex> l(mu_);
  return dropped_;
}

void EventRecorder::run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    l.unlock();
    process(p);
    l.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

bool EventRecorder::allow(const std::string& object_key, TimePoint now) {
  Bucket* b = buckets_.get(object_key);
  if (!b) b = &buckets_.put(object_key, Bucket{static_cast<double>(opts_.spam_burst), now});
  double refill = std::chrono::duration<double>(now - b->last).count() /
                  std::chrono::duration<double>(opts_.spam_refill).count();
  if (refill > 0) {
    b->tokens = std::min<double>(opts_.spam_burst, b->tokens + refill);
    b->last = now;
  }
  if (b->tokens < 1) return false;
  b->tokens -= 1;
  return true;
}

void EventRecorder::process(const Pending& p) {
  std::string object_key = objectKeyOf(p.ref);
  std::string source_key = component_ + "\x1f" + host_;
  std::string aggregate_key = source_key + "\x1f" + object_key + "\x1f" + p.type + "\x1f" + p.reason;

  // Aggregation: count distinct messages of this (object, type, reason, source) in the window.
  std::string message = p.message;
  std::string dedup_key = aggregate_key + "\x1f" + message;
  Aggregate* agg = aggregates_.get(aggregate_key);
  if (!agg || p.at - agg->last > opts_.aggregate_window) agg = &aggregates_.put(aggregate_key, {});
  agg->messages.insert(p.message);
  agg->last = p.at;
  if (agg->messages.size() >= opts_.aggregate_max_events) {
    message = kCombinedPrefix + p.message;
    dedup_key = aggregate_key;
    agg->messages.erase(p.message);  // keeps the set bounded, as upstream's PopAny
  }

  // Every occurrence counts, even those the spam filter keeps from being written, as upstream.
  std::string now = formatRfc3339(p.at);
  Written* prev = written_.get(dedup_key);
  bool existing = prev != nullptr;
  Written w = existing ? *prev : Written{eventName(str(p.ref, "name"), p.at), 0, now};
  ++w.count;
  written_.put(dedup_key, w);

  if (!allow(object_key, p.at)) {
    BLOG(4, "event dropped by the spam filter").kv("object", str(p.ref, "name"))
        .kv("reason", p.reason);
    return;
  }

  std::string ns = str(p.ref, "namespace");
  if (ns.empty()) ns = "default";
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", w.name}, {"namespace", ns}}},
             {"involvedObject", p.ref},
             {"reason", p.reason},
             {"message", message},
             {"source", {{"component", component_}}},
             {"firstTimestamp", w.first_timestamp},
             {"lastTimestamp", now},
             {"count", w.count},
             {"type", p.type},
             {"eventTime", nullptr},
             {"reportingComponent", component_},
             {"reportingInstance", host_}};
  if (!host_.empty()) ev["source"]["host"] = host_;
  Status s = write(ns, ev, existing);
  if (!s.isOk())
    BLOG_WARN("could not write event").kv("event", ns + "/" + w.name).kv("reason", p.reason)
        .kv("error", s.toString());
}

Status EventRecorder::write(const std::string& ns, const json& ev, bool patch_existing) {
  const std::string name = ev["metadata"]["name"].get<std::string>();
  Status last;
  for (int attempt = 0; attempt < opts_.max_write_attempts; ++attempt) {
    if (attempt > 0) {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, opts_.retry_delay, [&] { return stopping_; })) return last;
    }
    Status s;
    if (patch_existing) {
      json patch = {{"count", ev["count"]},
                    {"lastTimestamp", ev["lastTimestamp"]},
                    {"message", ev["message"]}};
      s = client_->patch(eventsResource(), ns, name, PatchType::kStrategicMerge, patch).status();
      if (s.code() == Code::kNotFound) {
        // Someone deleted it (TTL, kubectl delete): write it again, as upstream.
        patch_existing = false;
        s = client_->create(eventsResource(), ns, ev).status();
      }
    } else {
      s = client_->create(eventsResource(), ns, ev).status();
    }
    if (s.isOk() || s.code() == Code::kAlreadyExists) return Status::ok();
    last = s;
    // Invalid and forbidden events will not get better by retrying.
    if (last.code() == Code::kInvalid || last.code() == Code::kForbidden ||
        last.code() == Code::kBadRequest || last.code() == Code::kNotFound)
      return last;
  }
  return last;
}

}  // namespace berth::client
