// LeaderElector: leader election on a coordination.k8s.io/v1 Lease, the way client-go's
// leaderelection package does it, so that several `berth server` processes sharing one store run
// one active set of controllers.
//
// A candidate reads the Lease; it takes it when the Lease is absent, released (no holder), held
// by its own identity (the same server restarted), or not renewed for leaseDurationSeconds as
// measured on the candidate's own clock from when it last saw the record change (so clock skew
// between servers does not matter). Writes are compare-and-swap on resourceVersion, so two
// candidates never both win. The leader renews every retry period; when it cannot renew for
// renew_deadline it stops leading (on_stopped) and goes back to being a candidate. stop() hands
// the Lease back (holder cleared) when leading, so a successor need not wait for expiry.
//
// Thread-safety: start()/stop() from one owner thread; isLeader() from any thread. The
// callbacks run on the elector's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "client/client.h"
#include "common/time_util.h"

namespace berth::client {

struct LeaderElectionConfig {
  std::string lease_namespace = "kube-system";
  std::string lease_name;
  std::string identity;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  const Clock* clock = &SystemClock::instance();
};

class LeaderElector {
 public:
  struct Callbacks {
    std::function<void()> on_started_leading;
    std::function<void()> on_stopped_leading;
  };
  LeaderElector(Client* client, LeaderElectionConfig config, Callbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void start();
  // Stops the loop; if leading, calls on_stopped_leading and releases the Lease.
  void stop();
  bool isLeader() const { return leading_.load(); }

  // One acquire-or-renew attempt; true when this candidate holds the Lease afterwards.
  // The loop calls it; tests call it directly with a fake clock.
  bool tryAcquireOrRenew();
  // Clears the holder if this candidate holds the Lease (best effort).
  void release();

 private:
  void run();

  Client* client_;
  LeaderElectionConfig config_;
  Callbacks callbacks_;
  std::atomic<bool> leading_{false};
  CancelToken stop_;
  std::thread thread_;
  // What this candidate last saw of the Lease, and when (its own clock).
  std::string observed_rv_;
  TimePoint observed_at_{};
};

// A stable identity for this process's candidacy: `host_` plus a random suffix, kept in `file`
// (created on first use) so that a restarted server re-takes its own Lease at once.
std::string leaderIdentity(const std::string& file);

}  // namespace berth::client
