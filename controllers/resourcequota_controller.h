// ResourceQuotaController: keeps every ResourceQuota's status as upstream's resource quota
// controller does: status.hard is spec.hard, status.used what the namespace's objects selected
// by the quota use now (kinds/quota.h), summed from a list of each kind the quota tracks.
// The API server's quota admission raises status.used as it admits objects; this controller
// brings it back down when objects go (a pod or service deleted, a pod finished) and corrects
// it on every resync, as upstream's full recalculation does.
// reconcile("ns/name") recomputes one quota; a quota is looked at when it is created, when its
// spec.hard changes, when a pod or service of its namespace goes or a pod finishes, and every
// `resync`.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"

namespace berth::controllers {

class ResourceQuotaController {
 public:
  struct Config {
    std::vector<client::Resource> resources;  // the served kinds (discovery), for count/ quotas
    std::chrono::milliseconds resync{std::chrono::seconds(10)};
    int workers = 1;
    client::WorkQueue::Options queue;
  };
  ResourceQuotaController(client::Client* client, client::InformerFactory* informers,
                          Config config);
  ~ResourceQuotaController();
  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);

 private:
  void enqueueNamespace(const std::string& ns);

  client::Client* client_;
  Config config_;
  client::Resource quotas_, pods_, services_;
  client::Informer* quota_informer_ = nullptr;
  client::Informer* pod_informer_ = nullptr;
  client::Informer* service_informer_ = nullptr;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
