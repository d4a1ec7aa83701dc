#include "client/leader_election.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>

namespace berth::client {
namespace {

using namespace std::chrono_literals;

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t_; }
  void advance(std::chrono::milliseconds d) { t_ += d; }

 private:
  TimePoint t_ = TimePoint(std::chrono::seconds(1700000000));
};

// One Lease kept like the API server keeps it: create fails if present, update is a
// compare-and-swap on metadata.resourceVersion. `down` makes every call fail with 503.
class LeaseStore : public Client {
 public:
  std::atomic<bool> down{false};
  json lease;  // null when absent
  int64_t rv = 0;

  Result<json> get(const Resource&, const std::string&, const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down) return Status(Code::kUnavailable, "down");
    if (lease.is_null()) return notFound("leases \"" + name + "\" not found");
    return lease;
  }
  Result<json> create(const Resource&, const std::string&, const json& obj) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down) return Status(Code::kUnavailable, "down");
    if (!lease.is_null()) return Status(Code::kAlreadyExists, "exists");
    lease = obj;
    lease["metadata"]["resourceVersion"] = std::to_string(++rv);
    return lease;
  }
  Result<json> update(const Resource&, const std::string&, const std::string&, const json& obj,
                      const std::string&) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down) return Status(Code::kUnavailable, "down");
    if (lease.is_null()) return notFound("gone");
    if (obj["metadata"].value("resourceVersion", "") != lease["metadata"].value("resourceVersion", ""))
      return Status(Code::kConflict, "the object has been modified");
    lease = obj;
    lease["metadata"]["resourceVersion"] = std::to_string(++rv);
    return lease;
  }
  Result<json> list(const Resource&, const std::string&, const ListOptions&) override { return json::object(); }
  Result<json> patch(const Resource&, const std::string&, const std::string&, PatchType, const json&) override {
    return Status(Code::kMethodNotAllowed, "no");
  }
  Result<json> remove(const Resource&, const std::string&, const std::string&, const json&) override {
    return Status(Code::kMethodNotAllowed, "no");
  }
  Result<json> removeCollection(const Resource&, const std::string&, const json&) override {
    return Status(Code::kMethodNotAllowed, "no");
  }
  Result<json> request(const std::string&, const std::string&, const std::string&, const std::string&) override {
    return Status(Code::kMethodNotAllowed, "no");
  }
  Status watch(const Resource&, const std::string&, const WatchOptions&, const WatchHandler&,
               CancelToken*) override {
    return Status(Code::kMethodNotAllowed, "no");
  }

  std::string holder() {
    std::lock_guard<std::mutex> l(mu_);
    return lease.is_null() ? "" : lease["spec"].value("holderIdentity", "");
  }

 private:
  std::mutex mu_;
};

LeaderElectionConfig config(const std::string& id, const FakeClock* clock) {
  LeaderElectionConfig c;
  c.lease_name = "berth-controller-manager";
  c.identity = id;
  c.lease_duration = 15s;
  c.clock = clock;
  return c;
}

TEST(LeaderElection, FirstCandidateCreatesTheLeaseAndTheSecondWaits) {
  LeaseStore store;
  FakeClock clock;
  LeaderElector a(&store, config("a", &clock), {});
  LeaderElector b(&store, config("b", &clock), {});
  EXPECT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());
  EXPECT_EQ(store.holder(), "a");
  EXPECT_EQ(store.lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(store.lease["spec"]["leaseTransitions"], 0);
  // Renewing keeps the holder; the follower still may not take it while renewals continue.
  clock.advance(10s);
  EXPECT_TRUE(a.tryAcquireOrRenew());
  clock.advance(10s);
  EXPECT_FALSE(b.tryAcquireOrRenew());
}

TEST(LeaderElection, ALeaseNotRenewedForItsDurationIsTakenOver) {
  LeaseStore store;
  FakeClock clock;
  LeaderElector a(&store, config("a", &clock), {});
  LeaderElector b(&store, config("b", &clock), {});
  ASSERT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());  // b first sees the record now
  clock.advance(14s);
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(1s);
  EXPECT_TRUE(b.tryAcquireOrRenew());
  EXPECT_EQ(store.holder(), "b");
  EXPECT_EQ(store.lease["spec"]["leaseTransitions"], 1);
  // The old leader notices on its next attempt.
  EXPECT_FALSE(a.tryAcquireOrRenew());
}

TEST(LeaderElection, ExpiryIsMeasuredFromWhenTheCandidateSawTheRecordNotFromItsTimestamps) {
  LeaseStore store;
  FakeClock clock;
  LeaderElector a(&store, config("a", &clock), {});
  ASSERT_TRUE(a.tryAcquireOrRenew());
  // A candidate whose clock runs an hour ahead must still wait a full lease duration.
  FakeClock skewed;
  skewed.advance(3600s);
  LeaderElector b(&store, config("b", &skewed), {});
  EXPECT_FALSE(b.tryAcquireOrRenew());
  skewed.advance(5s);
  EXPECT_FALSE(b.tryAcquireOrRenew());
}

TEST(LeaderElection, TheSameIdentityRetakesItsLeaseAtOnceAfterARestart) {
  LeaseStore store;
  FakeClock clock;
  {
    LeaderElector a(&store, config("a", &clock), {});
    ASSERT_TRUE(a.tryAcquireOrRenew());
  }
  LeaderElector restarted(&store, config("a", &clock), {});
  EXPECT_TRUE(restarted.tryAcquireOrRenew());
  EXPECT_EQ(store.lease["spec"]["leaseTransitions"], 0);
}

TEST(LeaderElection, ReleaseClearsTheHolderSoAnotherCandidateTakesItWithoutWaiting) {
  LeaseStore store;
  FakeClock clock;
  LeaderElector a(&store, config("a", &clock), {});
  LeaderElector b(&store, config("b", &clock), {});
  ASSERT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());
  a.release();
  EXPECT_EQ(store.holder(), "");
  EXPECT_TRUE(b.tryAcquireOrRenew());
  // Releasing a lease someone else holds changes nothing.
  a.release();
  EXPECT_EQ(store.holder(), "b");
}

TEST(LeaderElection, ConcurrentWritersCannotBothWin) {
  LeaseStore store;
  FakeClock clock;
  LeaderElector a(&store, config("a", &clock), {});
  LeaderElector b(&store, config("b", &clock), {});
  ASSERT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(16s);
  // b read the lease; a renews before b writes: b's write is a stale CAS and loses.
  json stale = store.lease;
  ASSERT_TRUE(a.tryAcquireOrRenew());
  stale["spec"]["holderIdentity"] = "b";
  EXPECT_FALSE(store.update({}, "kube-system", "berth-controller-manager", stale, "").isOk());
  EXPECT_EQ(store.holder(), "a");
}

TEST(LeaderElection, TheLoopStartsLeadingStopsWhenRenewalsFailAndReleasesOnStop) {
  LeaseStore store;
  LeaderElectionConfig c;
  c.lease_name = "berth-controller-manager";
  c.identity = "a";
  c.retry_period = 20ms;
  c.renew_deadline = 100ms;
  std::mutex mu;
  std::condition_variable cv;
  int started = 0, stopped = 0;
  LeaderElector a(&store, c,
                  {[&] {
                     std::lock_guard<std::mutex> l(mu);
                     ++started;
                     cv.notify_all();
                   },
                   [&] {
                     std::lock_guard<std::mutex> l(mu);
                     ++stopped;
                     cv.notify_all();
                   }});
  a.start();
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return started == 1; }));
  }
  EXPECT_TRUE(a.isLeader());
  store.down = true;
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return stopped == 1; }));
  }
  EXPECT_FALSE(a.isLeader());
  store.down = false;
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return started == 2; }));
  }
  a.stop();
  EXPECT_EQ(stopped, 2);
  EXPECT_EQ(store.holder(), "");
}

TEST(LeaderElection, IdentityIsKeptInItsFile) {
  char tmpl[] = "/tmp/berth-identity-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::remove(tmpl);
  std::string first = leaderIdentity(tmpl);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(leaderIdentity(tmpl), first);
  std::remove(tmpl);
}

}  // namespace
}  // namespace berth::client
