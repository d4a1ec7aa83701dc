// TokenCleaner: kube-controller-manager's tokencleaner. Deletes kube-system Secrets of type
// bootstrap.kubernetes.io/token once their expiration has passed, and looks again at a live
// token when it is due to expire (a timer, no polling).
// Thread-safety: start/stop from one thread; reconcile runs on the runner's workers.
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"
#include "controllers/controller_manager.h"

namespace berth::nodegroups::bootstrap {

class TokenCleaner : public controllers::ManagedController {
 public:
  struct Config {
    int workers = 1;
    const Clock* clock = nullptr;  // default SystemClock
  };
  TokenCleaner(client::Client* client, client::InformerFactory* informers, Config config);
  ~TokenCleaner() override;

  void start() override;
  void stop() override;
  controllers::ReconcileResult reconcile(const std::string& key);

 private:
  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* secrets_;
  std::unique_ptr<controllers::Controller> controller_;
};

}  // namespace berth::nodegroups::bootstrap
