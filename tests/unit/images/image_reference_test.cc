#include "kubelet-lite/images/image_reference.h"

#include <gtest/gtest.h>

namespace berth::images {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ImageReference, BareNameGetsDefaultRegistryLibraryAndLatest) {
  auto r = parseImageReference("busybox");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "library/busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->toString(), "docker.io/library/busybox:latest");
}

TEST(ImageReference, DefaultRegistryIsConfigurable) {
  auto r = parseImageReference("busybox:1.36", "mirror.local:5000");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->toString(), "mirror.local:5000/library/busybox:1.36");
  auto two = parseImageReference("berth/busybox", "mirror.local:5000");
  ASSERT_TRUE(two.isOk());
  EXPECT_EQ(two->toString(), "mirror.local:5000/berth/busybox:latest");
}

TEST(ImageReference, HostPortRegistryAndTag) {
  auto r = parseImageReference("127.0.0.1:5000/berth/busybox:1");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "berth/busybox");
  EXPECT_EQ(r->tag, "1");
  EXPECT_EQ(r->manifestReference(), "1");
}

TEST(ImageReference, PortWithoutTagIsNotATag) {
  auto r = parseImageReference("localhost:5000/app");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->registry, "localhost:5000");
  EXPECT_EQ(r->repository, "app");
  EXPECT_EQ(r->tag, "latest");
  auto l = parseImageReference("localhost/app");
  ASSERT_TRUE(l.isOk());
  EXPECT_EQ(l->registry, "localhost");
}

TEST(ImageReference, FirstComponentWithoutDotOrPortIsARepositoryPath) {
  auto r = parseImageReference("myorg/sub/app:v2");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "myorg/sub/app");
}

TEST(ImageReference, DigestPinsTheManifest) {
  auto r = parseImageReference("quay.io/x/y@" + kDigest);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->digest, kDigest);
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->manifestReference(), kDigest);
  auto both = parseImageReference("quay.io/x/y:1@" + kDigest);
  ASSERT_TRUE(both.isOk());
  EXPECT_EQ(both->manifestReference(), kDigest);
  EXPECT_EQ(both->toString(), "quay.io/x/y:1@" + kDigest);
}

TEST(ImageReference, RejectsMalformedNamesWithTheReason) {
  struct Case {
    std::string image, needle;
  };
  for (const Case& c : std::vector<Case>{{"", "empty"},
                                         {"Busybox", "lowercase"},
                                         {"busybox:", "tag"},
                                         {"busybox:-x", "tag"},
                                         {"busybox@sha256:abc", "digest"},
                                         {"busybox@md5:" + std::string(32, 'a'), "digest"},
                                         {"a//b", "component"},
                                         {" busybox", "whitespace"},
                                         {"bad_-name", "component"}}) {
    auto r = parseImageReference(c.image);
    ASSERT_FALSE(r.isOk()) << c.image;
    EXPECT_EQ(r.status().code(), Code::kBadRequest);
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos) << r.status().message();
  }
}

TEST(ImageReference, ValidDigest) {
  EXPECT_TRUE(isValidDigest(kDigest));
  EXPECT_FALSE(isValidDigest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(isValidDigest("sha256:" + std::string(63, 'a')));
}

}  // namespace
}  // namespace berth::images
