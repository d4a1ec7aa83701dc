#include "nodegroups/bootstrap/token_cleaner.h"

#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/token.h"

namespace berth::nodegroups::bootstrap {

using controllers::ReconcileResult;

namespace {

const client::Resource& secretsResource() {
  static const client::Resource r{"", "v1", "secrets", "Secret", true, {}};
  return r;
}

bool isBootstrapTokenKey(const std::string& key) {
  return startsWith(key, std::string("kube-system/") + kBootstrapTokenSecretPrefix);
}

}  // namespace

TokenCleaner::TokenCleaner(client::Client* client, client::InformerFactory* informers, Config config)
    : client_(client), config_(std::move(config)), clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controllers::Controller::Options co;
  co.name = "tokencleaner";
  co.workers = config_.workers;
  controller_ = std::make_unique<controllers::Controller>(
      co, [this](const std::string& k) { return reconcile(k); });
  secrets_ = informers->informerFor(secretsResource());
  client::EventHandlers h;
  auto enqueue = [this](const client::ObjectPtr& o) {
    std::string key = client::objectKey(*o);
    if (isBootstrapTokenKey(key)) controller_->enqueue(key);
  };
  h.on_add = enqueue;
  h.on_update = [enqueue](const client::ObjectPtr&, const client::ObjectPtr& o) { enqueue(o); };
  secrets_->addEventHandlers(std::move(h));
}

TokenCleaner::~TokenCleaner() { stop(); }

void TokenCleaner::start() { controller_->start({secrets_}); }
void TokenCleaner::stop() { controller_->stop(); }

ReconcileResult TokenCleaner::reconcile(const std::string& key) {
  client::ObjectPtr obj = secrets_->get(key);
  if (!obj || obj->value("type", "") != kBootstrapTokenSecretType) return ReconcileResult::ok();
  TimePoint now = clock_->now();
  if (!bootstrapTokenExpired(*obj, now)) {
    // Look again when it expires (the data's expiration, read once more then).
    std::string exp;
    auto data = obj->find("data");
    if (data != obj->end() && data->is_object() && data->contains("expiration"))
      base64Decode((*data)["expiration"].get<std::string>(), &exp);
    TimePoint t;
    if (exp.empty() || !parseRfc3339(exp, &t)) return ReconcileResult::ok();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(t - now) + std::chrono::seconds(1);
    return ReconcileResult::after(wait);
  }
  std::string ns, name;
  client::splitKey(key, &ns, &name);
  json opts = {{"preconditions", {{"uid", (*obj)["metadata"].value("uid", "")}}}};
  auto r = client_->remove(secretsResource(), ns, name, opts);
  if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
    return ReconcileResult::fail(r.status().withContext("deleting expired bootstrap token " + key));
  BLOG(2, "deleted expired bootstrap token").kv("secret", key);
  return ReconcileResult::ok();
}

}  // namespace berth::nodegroups::bootstrap
