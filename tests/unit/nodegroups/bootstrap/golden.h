// Golden-file helpers for the bootstrap tests: files live in ../testdata (BOOTSTRAP_TESTDATA);
// BERTH_UPDATE_GOLDEN=1 rewrites them instead of comparing (then review the diff).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace berth::nodegroups::bootstrap {

inline constexpr const char* kTestCa =
    "-----BEGIN CERTIFICATE-----\nMIIBtestcertificate\n-----END CERTIFICATE-----\n";

inline std::string readTestdata(const std::string& name) {
  std::ifstream f(std::string(BOOTSTRAP_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void expectGolden(const std::string& name, const std::string& got) {
  std::string path = std::string(BOOTSTRAP_TESTDATA) + "/" + name;
  if (std::getenv("BERTH_UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    return;
  }
  EXPECT_EQ(readTestdata(name), got) << "golden file " << path;
}

}  // namespace berth::nodegroups::bootstrap
