#include "client/leader_election.h"

#include <unistd.h>

#include <fstream>
#include <random>

#include "common/log.h"
#include "common/strings.h"

namespace berth::client {
namespace {

const Resource& leases() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true, {}};
  return r;
}

// Lease spec times are MicroTime.
json leaseSpec(const LeaderElectionConfig& c, TimePoint now, TimePoint acquired, int64_t transitions) {
  return json{{"holderIdentity", c.identity},
              {"leaseDurationSeconds",
               std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(c.lease_duration).count())},
              {"acquireTime", formatRfc3339Micro(acquired)},
              {"renewTime", formatRfc3339Micro(now)},
              {"leaseTransitions", transitions}};
}

}  // namespace

LeaderElector::LeaderElector(Client* client, LeaderElectionConfig config, Callbacks callbacks)
    : client_(client), config_(std::move(config)), callbacks_(std::move(callbacks)) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  stop_.cancel();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::tryAcquireOrRenew() {
  TimePoint now = config_.clock->now();
  auto got = client_->get(leases(), config_.lease_namespace, config_.lease_name);
  if (!got.isOk()) {
    if (got.status().code() != Code::kNotFound) {
      BLOG(2, "leader election: reading the lease failed").kv("error", got.status().message());
      return false;
    }
    json lease{{"apiVersion", "coordination.k8s.io/v1"},
               {"kind", "Lease"},
               {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
               {"spec", leaseSpec(config_, now, now, 0)}};
    auto created = client_->create(leases(), config_.lease_namespace, lease);
    if (!created.isOk()) return false;
    observed_rv_ = (*created)["metadata"].value("resourceVersion", "");
    observed_at_ = now;
    return true;
  }
  json lease = std::move(got).value();
  const json& spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  std::string holder = spec.value("holderIdentity", "");
  std::string rv = lease["metadata"].value("resourceVersion", "");
  if (rv != observed_rv_) {
    observed_rv_ = rv;
    observed_at_ = now;
  }
  int64_t duration_s = spec.value("leaseDurationSeconds", int64_t{0});
  bool expired = now >= observed_at_ + std::chrono::seconds(duration_s);
  if (!holder.empty() && holder != config_.identity && !expired) return false;

  TimePoint acquired = now;
  int64_t transitions = spec.value("leaseTransitions", int64_t{0});
  if (holder == config_.identity) {
    TimePoint t;
    if (parseRfc3339(spec.value("acquireTime", ""), &t)) acquired = t;
  } else {
    ++transitions;
  }
  lease["spec"] = leaseSpec(config_, now, acquired, transitions);
  auto updated = client_->update(leases(), config_.lease_namespace, config_.lease_name, lease);
  if (!updated.isOk()) {
    BLOG(2, "leader election: writing the lease failed").kv("error", updated.status().message());
    return false;
  }
  observed_rv_ = (*updated)["metadata"].value("resourceVersion", "");
  observed_at_ = now;
  return true;
}

void LeaderElector::release() {
  auto got = client_->get(leases(), config_.lease_namespace, config_.lease_name);
  if (!got.isOk()) return;
  json lease = std::move(got).value();
  if (!lease.contains("spec") || lease["spec"].value("holderIdentity", "") != config_.identity) return;
  TimePoint now = config_.clock->now();
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = formatRfc3339Micro(now);
  auto s = client_->update(leases(), config_.lease_namespace, config_.lease_name, lease);
  if (!s.isOk()) BLOG(1, "leader election: releasing the lease failed").kv("error", s.status().message());
}

void LeaderElector::run() {
  std::mt19937 rng(std::random_device{}());
  auto jittered = [&](std::chrono::milliseconds d) {
    std::uniform_int_distribution<int64_t> dist(0, d.count() / 5);
    return d + std::chrono::milliseconds(dist(rng));
  };
  TimePoint last_renew{};
  while (!stop_.cancelled()) {
    bool held = tryAcquireOrRenew();
    TimePoint now = config_.clock->now();
    if (held) {
      last_renew = now;
      if (!leading_.exchange(true)) {
        BLOG(0, "leader election: started leading").kv("lease", config_.lease_namespace + "/" + config_.lease_name)
            .kv("identity", config_.identity);
        if (callbacks_.on_started_leading) callbacks_.on_started_leading();
      }
    } else if (leading_.load() && now - last_renew >= config_.renew_deadline) {
      leading_.store(false);
      BLOG_WARN("leader election: lost the lease").kv("lease", config_.lease_name);
      if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    }
    if (stop_.waitFor(leading_.load() ? config_.retry_period : jittered(config_.retry_period))) break;
  }
  if (leading_.exchange(false)) {
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    release();
  }
}

std::string leaderIdentity(const std::string& file) {
  {
    std::ifstream in(file);
    std::string id;
    if (in && std::getline(in, id) && !id.empty()) return id;
  }
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string id = std::string(host[0] ? host : "berth") + "_" + newUuid();
  std::ofstream out(file, std::ios::trunc);
  out << id << "\n";
  return id;
}

}  // namespace berth::client
