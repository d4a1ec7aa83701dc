#include "controllers/controller.h"

#include <exception>

#include "common/log.h"

namespace berth::controllers {

Controller::Controller(Options opts, ReconcileFn reconcile)
    : opts_(std::move(opts)), reconcile_(std::move(reconcile)), queue_([&] {
        auto q = opts_.queue;
        q.name = opts_.name;
        return q;
      }()) {}

Controller::~Controller() { stop(); }

client::EventHandlers Controller::keyHandlers(bool on_delete) {
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr& o) { enqueue(client::objectKey(*o)); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) {
    enqueue(client::objectKey(*o));
  };
  if (on_delete) h.on_delete = h.on_add;
  return h;
}

void Controller::start(std::vector<client::Informer*> wait_for) {
  starter_ = std::thread([this, wait_for] {
    for (auto* inf : wait_for) {
      while (!inf->waitForSync(std::chrono::milliseconds(200)))
        if (stop_.cancelled()) return;
      if (stop_.cancelled()) return;
    }
    BLOG(2, "controller caches synced, starting workers").kv("controller", opts_.name)
        .kv("workers", opts_.workers);
    for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { worker(); });
  });
}

void Controller::stop() {
  stop_.cancel();
  queue_.shutDown();
  if (starter_.joinable()) starter_.join();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
}

void Controller::processOne(const std::string& key) {
  ReconcileResult r;
  try {
    r = reconcile_(key);
  } catch (const std::exception& e) {
    r = ReconcileResult::fail(internalError(std::string("reconcile threw: ") + e.what()));
  } catch (...) {
    r = ReconcileResult::fail(internalError("reconcile threw a non-standard exception"));
  }
  if (!r.error.isOk()) {
    if (queue_.retry(key)) {
      BLOG(2, "reconcile failed, will retry").kv("controller", opts_.name).kv("key", key)
          .kv("err", r.error.toString());
    } else {
      BLOG_ERROR("reconcile failed, dropping key after retries").kv("controller", opts_.name)
          .kv("key", key).kv("err", r.error.toString());
    }
    return;
  }
  if (r.requeue_after.count() > 0) {
    queue_.forget(key);
    queue_.addAfter(key, r.requeue_after);
  } else if (r.requeue) {
    queue_.addRateLimited(key);
  } else {
    queue_.forget(key);
  }
}

void Controller::worker() {
  std::string key;
  while (queue_.get(&key)) {
    processOne(key);
    queue_.done(key);
  }
}

}  // namespace berth::controllers
