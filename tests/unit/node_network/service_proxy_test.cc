// The Service proxy's sync loop with a fake nftables applier (no root): an EndpointSlice update
// that takes an endpoint out reaches the applier as a new table without it, on_sync reports the
// sync, and a failed apply is retried until it succeeds. And the in-process libnftables applier
// against the kernel (root): a table appears, a bad script is refused with nft's message and
// changes nothing; the command applier gives the same table.
#include "kubelet-lite/network/service_proxy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "kubelet-lite/network/nft_applier.h"
#include "kubelet-lite/network/proxy_rules.h"
#include "common/subprocess.h"

namespace berth::kubelet::net {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Lists what it was given; watch() delivers events queued with push() until cancelled.
class EventClient : public client::Client {
 public:
  void seed(const std::string& resource, json obj) { items_[resource].push_back(std::move(obj)); }
  void push(const std::string& resource, const std::string& type, json obj) {
    std::lock_guard<std::mutex> l(mu_);
    events_[resource].push_back({{"type", type}, {"object", std::move(obj)}});
  }
  Result<json> list(const client::Resource& r, const std::string&, const client::ListOptions&) override {
    std::lock_guard<std::mutex> l(mu_);
    return json{{"metadata", {{"resourceVersion", "1"}}}, {"items", items_[r.resource]}};
  }
  Status watch(const client::Resource& r, const std::string&, const client::WatchOptions&,
               const client::WatchHandler& handler, client::CancelToken* cancel) override {
    while (!cancel->cancelled()) {
      json ev;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto& q = events_[r.resource];
        if (!q.empty()) {
          ev = q.front();
          q.pop_front();
        }
      }
      if (ev.is_null()) cancel->waitFor(5ms);
      else if (!handler(ev)) return Status::ok();
    }
    return Status::ok();
  }
  Result<json> get(const client::Resource&, const std::string&, const std::string&) override { return none(); }
  Result<json> create(const client::Resource&, const std::string&, const json&) override { return none(); }
  Result<json> update(const client::Resource&, const std::string&, const std::string&, const json&,
                      const std::string&) override { return none(); }
  Result<json> patch(const client::Resource&, const std::string&, const std::string&, client::PatchType,
                     const json&) override { return none(); }
  Result<json> remove(const client::Resource&, const std::string&, const std::string&, const json&) override {
    return none();
  }
  Result<json> removeCollection(const client::Resource&, const std::string&, const json&) override {
    return none();
  }
  Result<json> request(const std::string&, const std::string&, const std::string&, const std::string&) override {
    return none();
  }

 private:
  static Status none() { return internalError("not used by the proxy"); }
  std::mutex mu_;
  std::map<std::string, std::vector<json>> items_;
  std::map<std::string, std::deque<json>> events_;
};

bool isReplace(const std::string& script) { return script.rfind("table ip berth-proxy-n1 {}\n", 0) == 0; }

// Records every script; fails the first `fail_first` applies, and every update (not a replace)
// when `refuse_updates`.
class FakeNft : public NftApplier {
 public:
  explicit FakeNft(int fail_first = 0, bool refuse_updates = false) : fail_(fail_first), refuse_updates_(refuse_updates) {}
  Status apply(const std::string& script) override {
    std::lock_guard<std::mutex> l(mu_);
    scripts_.push_back(script);
    cv_.notify_all();
    if (fail_ > 0) {
      --fail_;
      return internalError("nft: injected failure");
    }
    if (refuse_updates_ && !isReplace(script)) return internalError("nft: update refused");
    return Status::ok();
  }
  const char* mode() const override { return "fake"; }
  // Waits for a script for which pred is true; returns it ("" at the timeout).
  template <typename P>
  std::string waitFor(P pred) {
    std::unique_lock<std::mutex> l(mu_);
    std::string found;
    cv_.wait_for(l, 10s, [&] {
      for (const auto& s : scripts_)
        if (pred(s)) found = s;
      return !found.empty();
    });
    return found;
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return scripts_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> scripts_;
  int fail_;
  bool refuse_updates_;
};

json webService() {
  return {{"metadata", {{"namespace", "default"}, {"name", "web"}, {"resourceVersion", "1"}}},
          {"spec", {{"clusterIP", "10.96.0.20"}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

json webSlice(bool second_ready, const std::string& rv) {
  return {{"metadata", {{"namespace", "default"}, {"name", "web-1"}, {"resourceVersion", rv},
                        {"labels", {{"kubernetes.io/service-name", "web"}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", 8080}}}},
          {"endpoints", {{{"addresses", {"10.244.1.5"}}, {"conditions", {{"ready", true}}}},
                         {{"addresses", {"10.244.2.6"}}, {"conditions", {{"ready", second_ready}}}}}}};
}

// A web Service with a two-endpoint slice, and a proxy for node n1 over it that applies
// through `nft`.
struct Fixture {
  EventClient client;
  ServiceInformers informers;
  std::unique_ptr<ServiceProxy> proxy;
  void start(std::shared_ptr<FakeNft> nft, std::function<void(const ProxySync&)> on_sync = {}) {
    client.seed("services", webService());
    client.seed("endpointslices", webSlice(true, "1"));
    informers = serviceInformers(&client);
    ServiceProxy::Options o;
    o.node_name = "n1";
    o.nft = std::move(nft);
    o.on_sync = std::move(on_sync);
    proxy = std::make_unique<ServiceProxy>(informers.services.get(), informers.slices.get(), o);
    informers.services->start();
    informers.slices->start();
    proxy->start();
  }
  void stop() {
    proxy->stop();
    informers.services->stop();
    informers.slices->stop();
  }
};

TEST(ServiceProxy, AnEndpointTurningUnreadyLeavesTheAppliedTable) {
  auto nft = std::make_shared<FakeNft>();
  std::mutex mu;
  std::vector<ProxySync> syncs;
  Fixture f;
  f.start(nft, [&](const ProxySync& s) {
    std::lock_guard<std::mutex> l(mu);
    syncs.push_back(s);
  });
  ServiceProxy& proxy = *f.proxy;
  std::string first = nft->waitFor([](const std::string& s) { return s.find("dnat to 10.244.2.6:8080") != std::string::npos; });
  ASSERT_FALSE(first.empty());
  EXPECT_NE(first.find("dnat to 10.244.1.5:8080"), std::string::npos);

  EXPECT_TRUE(isReplace(first)) << "the first sync replaces the table:\n" << first;

  f.client.push("endpointslices", "MODIFIED", webSlice(false, "2"));
  // The change is an update that deletes the endpoint's chain and leaves the other's alone.
  std::string after = nft->waitFor([](const std::string& s) {
    return !isReplace(s) && s.find("delete chain ip berth-proxy-n1 ep_") != std::string::npos;
  });
  ASSERT_FALSE(after.empty()) << "the unready endpoint never left the table";
  EXPECT_EQ(after.find("10.244.1.5"), std::string::npos) << after;
  EXPECT_NE(after.find("numgen random mod 1 vmap"), std::string::npos) << after;
  // The applier sees the script before the proxy records the sync: wait for the record.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto recorded = [&] {
    std::lock_guard<std::mutex> l(mu);
    return proxy.lastScript() == after && syncs.size() >= 2;
  };
  while (!recorded() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(proxy.lastScript(), after);
  // The table as a whole now sends traffic to the ready endpoint only.
  std::string table = proxy.lastRuleset();
  EXPECT_NE(table.find("dnat to 10.244.1.5:8080"), std::string::npos) << table;
  EXPECT_EQ(table.find("10.244.2.6"), std::string::npos) << table;
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_GE(syncs.size(), 2u);
    EXPECT_EQ(syncs.back().service_ports, 1u);
    EXPECT_FALSE(syncs.back().replaced);
    EXPECT_TRUE(syncs.front().replaced);
  }
  f.stop();
  // stop() removes the table through the same applier.
  std::string removal = "table ip berth-proxy-n1 {}\ndelete table ip berth-proxy-n1\n";
  EXPECT_EQ(nft->waitFor([&](const std::string& s) { return s == removal; }), removal);
}

TEST(ServiceProxy, AFailedApplyIsRetried) {
  auto nft = std::make_shared<FakeNft>(/*fail_first=*/2);
  Fixture f;
  f.start(nft);
  ServiceProxy& proxy = *f.proxy;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (proxy.lastRuleset().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_NE(proxy.lastRuleset().find("dnat to 10.244.2.6:8080"), std::string::npos);
  EXPECT_GE(nft->count(), 3u);
  f.stop();
}

TEST(ServiceProxy, ARefusedUpdateFallsBackToTheReplace) {
  auto nft = std::make_shared<FakeNft>(0, /*refuse_updates=*/true);
  Fixture f;
  f.start(nft);
  ServiceProxy& proxy = *f.proxy;
  ASSERT_FALSE(nft->waitFor([](const std::string& s) { return s.find("dnat to 10.244.2.6:8080") != std::string::npos; }).empty());
  f.client.push("endpointslices", "MODIFIED", webSlice(false, "2"));
  // The update is tried, refused, and the same change is written as a replace.
  std::string replaced = nft->waitFor([](const std::string& s) {
    return isReplace(s) && s.find("dnat to 10.244.1.5:8080") != std::string::npos &&
           s.find("10.244.2.6") == std::string::npos;
  });
  ASSERT_FALSE(replaced.empty());
  EXPECT_FALSE(nft->waitFor([](const std::string& s) { return !isReplace(s); }).empty());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (proxy.lastScript() != replaced && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(proxy.lastScript(), replaced);
  f.stop();
}

// Root: the real kernel, in this process's network namespace, with a table of its own.
class NftApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "nftables needs root";
    table_ = "berth-nftapply-" + std::to_string(getpid());
  }
  void TearDown() override {
    if (!table_.empty()) (void)runCommand({"nft", "delete", "table", "ip", table_});
  }
  std::string listed() {
    auto r = runCommand({"nft", "list", "table", "ip", table_});
    return r.isOk() && r->exit_code == 0 ? r->out : "";
  }
  std::string script(const std::string& target) {
    return "table ip " + table_ + " {}\ndelete table ip " + table_ + "\ntable ip " + table_ +
           " {\n  chain out {\n    type nat hook output priority -100; policy accept;\n"
           "    ip daddr 10.96.0.99 meta l4proto tcp dnat to " + target + "\n  }\n}\n";
  }
  std::string table_;
};

TEST_F(NftApplierTest, LibnftablesAppliesAndRefusesLikeTheCommand) {
  auto lib = makeLibNftablesApplier();
  if (!lib.isOk()) GTEST_SKIP() << lib.status().message();
  EXPECT_STREQ((*lib)->mode(), "libnftables");
  ASSERT_TRUE((*lib)->apply(script("10.244.1.5:8080")).isOk());
  EXPECT_NE(listed().find("dnat to 10.244.1.5:8080"), std::string::npos) << listed();
  // A whole-table rewrite replaces the rule.
  ASSERT_TRUE((*lib)->apply(script("10.244.2.6:8080")).isOk());
  EXPECT_EQ(listed().find("10.244.1.5"), std::string::npos) << listed();
  // A bad script is refused with nft's message and leaves the table as it was.
  Status bad = (*lib)->apply(script("10.244.3.7:notaport"));
  EXPECT_FALSE(bad.isOk());
  EXPECT_NE(bad.message().find("Error: Could not resolve service"), std::string::npos) << bad.message();
  EXPECT_NE(listed().find("dnat to 10.244.2.6:8080"), std::string::npos) << listed();
  // The command applier writes the same table.
  std::string via_lib = listed();
  ASSERT_TRUE(makeNftCommandApplier()->apply(script("10.244.2.6:8080")).isOk());
  EXPECT_EQ(listed(), via_lib);
}

}  // namespace
}  // namespace berth::kubelet::net
