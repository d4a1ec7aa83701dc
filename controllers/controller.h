// Controller: the runner every controller shares. It owns a WorkQueue, waits until the
// informers it was given have synced, then runs N workers that take a key, call
// reconcile(key), and act on the result: OK forgets the key's backoff; requeue_after > 0 adds
// it back after that delay; requeue adds it back rate-limited (no retry cap: the controller
// is waiting for the world, not failing); an error (or an exception escaping reconcile)
// retries it with backoff until the queue's retry cap, then drops it (a resync brings it back).
// Handlers only enqueue keys; reconcile is level-based: the key is its only input.
// Thread-safety: enqueue() from any thread; start()/stop() from one owner thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/workqueue.h"
#include "common/status.h"

namespace berth::controllers {

using client::json;

struct ReconcileResult {
  Status error;                              // non-OK: retried with backoff, capped
  std::chrono::milliseconds requeue_after{0};  // > 0: look again after this long
  bool requeue = false;                      // look again, rate-limited, no cap

  static ReconcileResult ok() { return {}; }
  static ReconcileResult fail(Status s) { return {std::move(s), {}, false}; }
  static ReconcileResult after(std::chrono::milliseconds d) { return {Status(), d, false}; }
  static ReconcileResult backoff() { return {Status(), {}, true}; }
};

class Controller {
 public:
  using ReconcileFn = std::function<ReconcileResult(const std::string& key)>;
  struct Options {
    std::string name;
    int workers = 2;
    client::WorkQueue::Options queue;
  };
  Controller(Options opts, ReconcileFn reconcile);
  // The runner of a controller named `name` whose config has `workers` and `queue`.
  template <class Config>
  static std::unique_ptr<Controller> forConfig(std::string name, const Config& config, ReconcileFn reconcile) {
    return std::make_unique<Controller>(Options{std::move(name), config.workers, config.queue}, std::move(reconcile));
  }
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  client::WorkQueue& queue() { return queue_; }
  void enqueue(const std::string& key) { queue_.add(key); }
  // Informer handlers that enqueue the object's key on add and update, and on delete when
  // `on_delete` (callers that must also forget state on delete set their own).
  client::EventHandlers keyHandlers(bool on_delete);

  // Starts a thread that waits for every `synced` check, then the workers.
  void start(std::vector<client::Informer*> wait_for);
  void stop();
  // Runs reconcile for one key as a worker would (tests).
  void processOne(const std::string& key);
  const std::string& name() const { return opts_.name; }

 private:
  void worker();

  Options opts_;
  ReconcileFn reconcile_;
  client::WorkQueue queue_;
  client::CancelToken stop_;
  std::thread starter_;
  std::vector<std::thread> workers_;
};

}  // namespace berth::controllers
