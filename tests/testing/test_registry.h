// TestRegistry: runs scripts/test-registry.sh for a test: Debian's docker-registry on a free
// 127.0.0.1 port with berth/busybox:1 and :2 pushed (see the script for their contents), in a
// temp directory removed at the end. The script's path comes from BERTH_TEST_REGISTRY_SCRIPT.
// Thread-safety: construct and destroy on one thread.
#pragma once

#include <string>

namespace berth::testing {

class TestRegistry {
 public:
  TestRegistry();
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  bool ok() const { return !address_.empty(); }
  // Why it failed to start (the script's stderr).
  const std::string& error() const { return error_; }
  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  // "127.0.0.1:PORT/berth/busybox:TAG".
  std::string image(const std::string& tag) const { return address_ + "/berth/busybox:" + tag; }
  // The registry's stored file of a blob (to corrupt it in tests).
  std::string blobDataPath(const std::string& digest) const;

 private:
  std::string dir_, address_, error_;
};

}  // namespace berth::testing
