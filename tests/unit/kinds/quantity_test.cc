#include "apiserver/kinds/quantity.h"

#include <gtest/gtest.h>

namespace berth::apiserver {
namespace {

TEST(Quantity, ParsesSuffixesAndExponents) {
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("100m")), 0.1);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1")), 1.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("0.5")), 0.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1Gi")), 1073741824.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("128Mi")), 134217728.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("2k")), 2000.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1e3")), 1000.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1E-3")), 0.001);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("-1")), -1.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("+.5")), 0.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("500n")), 5e-7);
}

TEST(Quantity, RejectsMalformed) {
  for (const char* bad : {"", "abc", "1Gb", "m", "1e", "1.2.3", "1 Gi", "Gi", "1ki", "e3"}) {
    EXPECT_FALSE(parseQuantity(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace berth::apiserver
