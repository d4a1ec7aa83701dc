// Golden strategic-merge cases: each testdata/smp/*.json holds {description, original, patch,
// result}; the patch applied to the original over the test schema must give the result exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "apiserver/patch/patch.h"
#include "tests/unit/patch/test_types.h"

namespace berth::apiserver::patch {
namespace {

using nlohmann::json;

TEST(SmpGoldenTest, AllCases) {
  auto type = testing::deployment();
  std::filesystem::path dir = std::filesystem::path(PATCH_TESTDATA) / "smp";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    json c = json::parse(in);
    auto r = applyStrategicMergePatch(c["original"], c["patch"], type.get());
    ASSERT_TRUE(r.isOk()) << entry.path() << ": " << r.status().toString();
    EXPECT_EQ(*r, c["result"]) << entry.path() << " (" << c["description"] << ")\n got: "
                               << r->dump();
    ++cases;
  }
  EXPECT_GE(cases, 4);
}

}  // namespace
}  // namespace berth::apiserver::patch
