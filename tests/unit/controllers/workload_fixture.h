// Shared pieces of the workload controller tests: a settable clock, a fixture that fills a
// FakeClient, builds a controller on an informer factory over it, starts the informers and
// waits for their sync, then lets the test call reconcile and read back the recorded actions.
// `Fake` is the client the controller talks to: FakeClient or a subclass that answers more.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/informer.h"
#include "common/time_util.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::testing {

template <typename C, typename Fake = FakeClient>
class WorkloadFixture : public ::testing::Test {
 protected:
  // Builds the controller with `make` (which registers its informers), starts and syncs them.
  void start(const std::function<std::unique_ptr<C>(client::Client*, client::InformerFactory*)>& make) {
    factory_ = std::make_unique<client::InformerFactory>(&fake_);
    ctl_ = make(&fake_, factory_.get());
    factory_->start();
    for (auto* i : factory_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
  }
  void TearDown() override {
    ctl_.reset();
    factory_.reset();
  }
  // Recorded writes with `verb` (gets are reads, left out of `writes()`).
  // The recorded actions with this verb (and on this resource id, e.g. "v1/pods", when given).
  std::vector<Action> actions(const std::string& verb, const std::string& resource = "") {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb == verb && (resource.empty() || a.resource == resource)) out.push_back(a);
    return out;
  }
  std::vector<Action> writes() {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb != "get") out.push_back(a);
    return out;
  }
  SettableClock clock_;
  Fake fake_;
  std::unique_ptr<client::InformerFactory> factory_;
  std::unique_ptr<C> ctl_;
};

}  // namespace berth::testing
