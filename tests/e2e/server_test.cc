#include "tests/e2e/server_test.h"

#include <signal.h>

#include <cctype>

namespace berth::e2e {

using json = nlohmann::json;

Server* ServerTest::server_ = nullptr;

void ServerTest::SetUpTestSuite() {
  server_ = new Server();
  ASSERT_TRUE(server_->ok()) << "berth server did not start";
}

void ServerTest::TearDownTestSuite() {
  if (server_ == nullptr) return;
  EXPECT_EQ(server_->stop(), 0) << "berth server did not shut down cleanly";
  delete server_;
  server_ = nullptr;
}

void ServerTest::SetUp() {
  ASSERT_NE(server_, nullptr);
  ASSERT_TRUE(server_->ok()) << "berth server did not start";
  ns_ = ns_prefix_ + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : ns_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto r = k({"create", "namespace", ns_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

CmdResult ServerTest::k(const std::vector<std::string>& args, const std::string& input) const {
  return server_->kubectl(args, input);
}

CmdResult ServerTest::kn(std::vector<std::string> args, const std::string& input) const {
  args.insert(args.begin(), {"-n", ns_});
  return k(args, input);
}

std::string ServerTest::ok(const std::vector<std::string>& args, const std::string& input) const {
  auto r = kn(args, input);
  std::string cmd;
  for (const std::string& a : args) cmd += " " + a;
  EXPECT_EQ(r.exit_code, 0) << "kubectl" << cmd << " failed: " << r.err;
  return r.out;
}

json ServerTest::get(const std::vector<std::string>& what) const {
  std::vector<std::string> args = {"get"};
  args.insert(args.end(), what.begin(), what.end());
  args.insert(args.end(), {"-o", "json"});
  json j = json::parse(ok(args), nullptr, false);
  return j.is_object() ? j : json::object();
}

json ServerTest::list(const std::vector<std::string>& what) const {
  json j = get(what);
  return j.contains("items") ? j["items"] : json::array();
}

bool ServerTest::watchUntil(const std::vector<std::string>& watch, const std::function<bool()>& done,
                            std::chrono::seconds timeout) const {
  std::vector<std::string> args = {"-n", ns_, "get"};
  args.insert(args.end(), watch.begin(), watch.end());
  args.insert(args.end(), {"-w", "--output-watch-events", "-o", "name"});
  Child watcher(server_->kubectlArgv(args), server_->kubectlEnv());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool result = true;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::string line;
    if (left.count() <= 0 || !watcher.readLine(&line, left)) {
      result = false;
      break;
    }
  }
  watcher.kill(SIGTERM);
  return result;
}

bool ServerTest::await(const std::string& watched, const std::vector<std::string>& what,
                       const std::function<bool(const json&)>& pred, json* last,
                       std::chrono::seconds timeout) const {
  return watchUntil({watched}, [&] {
    *last = get(what);
    return pred(*last);
  }, timeout);
}

}  // namespace berth::e2e
