#include "common/status.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

Result<int> half(int x) {
  if (x % 2) return badRequest("odd");
  return x / 2;
}

Status quarter(int x, int* out) {
  BERTH_ASSIGN_OR_RETURN(int h, half(x));
  BERTH_ASSIGN_OR_RETURN(int q, half(h));
  *out = q;
  return Status::ok();
}

TEST(StatusTest, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, CausesAndContextAccumulate) {
  Status s = invalid("bad").withCause({"FieldValueInvalid", "must be >= 0", "spec.replicas"});
  s = s.withContext("Deployment \"web\"");
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(s.message(), "Deployment \"web\": bad");
  ASSERT_EQ(s.causes().size(), 1u);
  EXPECT_EQ(s.causes()[0].field, "spec.replicas");
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(quarter(8, &out).isOk());
  EXPECT_EQ(out, 2);
  Status s = quarter(6, &out);
  EXPECT_EQ(s.code(), Code::kBadRequest);
  EXPECT_EQ(s.message(), "odd");
}

}  // namespace
}  // namespace berth
