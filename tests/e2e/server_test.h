// A GoogleTest fixture for end-to-end suites that share one `berth server` and give each test
// a namespace of its own ("<prefix>-<test name>", lower-cased), with kubectl helpers that run
// in it. Derived suites pass their prefix to the constructor.
// Thread-safety: the fixture is used from the test thread only.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace berth::e2e {

class ServerTest : public ::testing::Test {
 public:
  // Starts the suite's server; a failure fails every test of the suite.
  static void SetUpTestSuite();
  // Stops it and expects a clean exit (under ASan, no leaks or errors).
  static void TearDownTestSuite();

 protected:
  explicit ServerTest(std::string ns_prefix) : ns_prefix_(std::move(ns_prefix)) {}
  void SetUp() override;  // creates ns_

  // kubectl as given (cluster scope unless args name a namespace).
  CmdResult k(const std::vector<std::string>& args, const std::string& input = "") const;
  // kubectl in the test's namespace.
  CmdResult kn(std::vector<std::string> args, const std::string& input = "") const;
  // kubectl in the test's namespace; expects success and returns stdout.
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") const;
  // `get WHAT -o json` in the test's namespace: the object, or {} when it cannot be read.
  nlohmann::json get(const std::vector<std::string>& what) const;
  // The items of `get WHAT -o json`, or [] when it cannot be read.
  nlohmann::json list(const std::vector<std::string>& what) const;
  // Runs `done` again each time a watch (`kubectl get WATCH -w`, in the namespace) reports an
  // event, until it returns true (then true) or `timeout` passes (then false). The watch starts
  // before the first call, so no change between the calls is missed.
  bool watchUntil(const std::vector<std::string>& watch, const std::function<bool()>& done,
                  std::chrono::seconds timeout) const;
  // Reads `what` (get -o json) again on every event of a watch on `watched` until `pred` holds
  // on it; `*last` is what was read last.
  bool await(const std::string& watched, const std::vector<std::string>& what,
             const std::function<bool(const nlohmann::json&)>& pred, nlohmann::json* last,
             std::chrono::seconds timeout = std::chrono::seconds(30)) const;

  static Server* server_;
  std::string ns_;

 private:
  std::string ns_prefix_;
};

}  // namespace berth::e2e
