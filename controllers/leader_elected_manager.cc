#include "controllers/leader_elected_manager.h"

#include <thread>

#include "client/rest_client.h"
#include "common/log.h"

namespace berth::controllers {

Result<std::unique_ptr<LeaderElectedManager>> LeaderElectedManager::start(
    const ControllerManagerOptions& opts, client::LeaderElectionConfig election) {
  BERTH_RETURN_IF_ERROR(ControllerManager::validate(opts));
  if (election.identity.empty()) return invalid("leader election needs an identity");
  if (election.lease_name.empty()) election.lease_name = "berth-controller-manager";
  if (election.renew_deadline >= election.lease_duration)
    return invalid("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration");
  if (election.retry_period >= election.renew_deadline)
    return invalid("--leader-elect-retry-period must be shorter than --leader-elect-renew-deadline");
  std::unique_ptr<LeaderElectedManager> m(new LeaderElectedManager());
  m->opts_ = opts;
  auto client = client::RestClient::fromKubeconfig(opts.kubeconfig);
  if (!client.isOk()) return client.status().withContext("leader election");
  m->client_ = std::move(client).value();
  LeaderElectedManager* self = m.get();
  m->elector_ = std::make_unique<client::LeaderElector>(
      m->client_.get(), std::move(election),
      client::LeaderElector::Callbacks{[self] { self->startLeading(); }, [self] { self->stopLeading(); }});
  m->elector_->start();
  return m;
}

LeaderElectedManager::~LeaderElectedManager() { stop(); }

void LeaderElectedManager::stop() {
  if (elector_) elector_->stop();  // stops leading first, then hands the lease back
  stopLeading();
}

bool LeaderElectedManager::isLeader() const { return elector_ && elector_->isLeader(); }

void LeaderElectedManager::startLeading() {
  // Discovery can fail for a moment (the server is still settling); try a few times.
  for (int attempt = 1;; ++attempt) {
    auto m = ControllerManager::start(opts_);
    if (m.isOk()) {
      std::lock_guard<std::mutex> l(mu_);
      manager_ = std::move(m).value();
      return;
    }
    BLOG_ERROR("starting controllers after winning the lease failed").kv("attempt", attempt)
        .kv("error", m.status().message());
    if (attempt == 5) return;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void LeaderElectedManager::stopLeading() {
  std::unique_ptr<ControllerManager> m;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = std::move(manager_);
  }
  if (m) m->stop();
}

}  // namespace berth::controllers
