// Pulls the test images from a real local registry (Debian's docker-registry, started by
// scripts/test-registry.sh) into an ImageStore.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kubelet-lite/images/image_store.h"
#include "tests/testing/test_registry.h"

namespace berth::images {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ImagePullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = new testing::TestRegistry(); }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(registry_->ok()) << "test registry: " << registry_->error();
    char tmpl[] = "/tmp/berth-images-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    store_ = newStore();
  }
  void TearDown() override { fs::remove_all(root_); }
  std::unique_ptr<ImageStore> newStore() {
    ImageStore::Options o;
    o.root = root_;
    o.default_registry = registry_->address();
    auto s = std::make_unique<ImageStore>(o);
    EXPECT_TRUE(s->init().isOk());
    return s;
  }
  size_t blobCount() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root_ + "/blobs/sha256")) ++n;
    return n;
  }

  static testing::TestRegistry* registry_;
  std::string root_;
  std::unique_ptr<ImageStore> store_;
};
testing::TestRegistry* ImagePullTest::registry_ = nullptr;

TEST_F(ImagePullTest, MirrorServesImagesUnderTheirOwnName) {
  // "mirrored.invalid" does not resolve: the pull can only succeed through the mirror.
  ImageStore::Options o;
  o.root = root_;
  o.registry_mirrors = {{"mirrored.invalid:5000", registry_->address()}};
  ImageStore store(o);
  ASSERT_TRUE(store.init().isOk());
  auto img = store.pull("mirrored.invalid:5000/berth/busybox:1", Keyring());
  ASSERT_TRUE(img.isOk()) << img.status().toString();
  EXPECT_EQ(img->tags, std::vector<std::string>{"mirrored.invalid:5000/berth/busybox:1"});
  EXPECT_TRUE(store.find("mirrored.invalid:5000/berth/busybox:1"));
  auto unmirrored = store.pull("other.invalid:5000/berth/busybox:1", Keyring());
  EXPECT_FALSE(unmirrored.isOk());
}

TEST_F(ImagePullTest, PullsUnpacksAndExposesTheConfig) {
  auto img = store_->pull(registry_->image("1"), Keyring());
  ASSERT_TRUE(img.isOk()) << img.status().toString();
  EXPECT_TRUE(img->id.starts_with("sha256:"));
  EXPECT_EQ(img->layers.size(), 1u);
  EXPECT_EQ(img->tags, std::vector<std::string>{registry_->image("1")});
  ASSERT_EQ(img->repo_digests.size(), 1u);
  EXPECT_TRUE(img->repo_digests[0].starts_with(registry_->address() + "/berth/busybox@sha256:"));
  EXPECT_EQ(img->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_EQ(img->config.working_dir, "/");
  ASSERT_FALSE(img->config.env.empty());
  EXPECT_TRUE(img->config.env[0].starts_with("PATH="));
  EXPECT_TRUE(fs::is_regular_file(fs::path(img->rootfs) / "bin/busybox"));
  EXPECT_EQ(fs::read_symlink(fs::path(img->rootfs) / "bin/echo"), "busybox");
  EXPECT_EQ(slurp(fs::path(img->rootfs) / "etc/berth-version"), "1\n");
  EXPECT_EQ(fs::status(fs::path(img->rootfs) / "bin/busybox").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  // Found again by tag, by repo digest and by id.
  EXPECT_TRUE(store_->find(registry_->image("1")));
  EXPECT_TRUE(store_->find(img->repo_digests[0]));
  EXPECT_TRUE(store_->find(img->id));
  // A restarted agent finds it in the persisted index.
  auto again = newStore();
  auto found = again->find(registry_->image("1"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->rootfs, img->rootfs);
  EXPECT_EQ(found->config.cmd, img->config.cmd);
}

TEST_F(ImagePullTest, DefaultRegistryShortNameAndDigestReference) {
  auto img = store_->pull("berth/busybox:1", Keyring());
  ASSERT_TRUE(img.isOk()) << img.status().toString();
  auto byDigest = store_->pull(img->repo_digests[0], Keyring());
  ASSERT_TRUE(byDigest.isOk()) << byDigest.status().toString();
  EXPECT_EQ(byDigest->id, img->id);
}

TEST_F(ImagePullTest, SecondLayerAppliesOverTheFirstWithWhiteouts) {
  auto one = store_->pull(registry_->image("1"), Keyring());
  auto two = store_->pull(registry_->image("2"), Keyring());
  ASSERT_TRUE(one.isOk() && two.isOk());
  ASSERT_EQ(two->layers.size(), 2u);
  EXPECT_EQ(two->layers[0], one->layers[0]) << "the base layer is shared";
  fs::path r = two->rootfs;
  EXPECT_EQ(slurp(r / "etc/berth-version"), "2\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(r / "bin/echo"))) << "whiteout removed /bin/echo";
  EXPECT_FALSE(fs::exists(fs::symlink_status(r / "bin/.wh.echo")));
  EXPECT_EQ(slurp(r / "data/file"), "layer two\n");
  EXPECT_TRUE(fs::exists(fs::symlink_status(fs::path(one->rootfs) / "bin/echo")))
      << "image 1 keeps its own rootfs";
}

TEST_F(ImagePullTest, MissingImageCarriesTheRegistryMessage) {
  auto r = store_->pull(registry_->image("does-not-exist"), Keyring());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("manifest unknown"), std::string::npos) << r.status().message();
  auto never = store_->ensure(registry_->image("1"), PullPolicy::kNever, Keyring());
  ASSERT_FALSE(never.isOk());
  EXPECT_NE(never.status().message().find("not present with pull policy of Never"), std::string::npos);
  auto unreachable = store_->pull("127.0.0.1:1/x/y:1", Keyring());
  ASSERT_FALSE(unreachable.isOk());
  EXPECT_EQ(unreachable.status().code(), Code::kUnavailable);
}

TEST_F(ImagePullTest, CorruptLayerIsRefused) {
  // Learn the digest of tag 2's top layer from a pull into a scratch store, then corrupt it
  // in the registry's storage (the registry serves it as it is).
  std::string layer;
  {
    auto two = store_->pull(registry_->image("2"), Keyring());
    ASSERT_TRUE(two.isOk());
    layer = two->layers[1];
  }
  fs::remove_all(root_);
  store_ = newStore();
  std::string path = registry_->blobDataPath(layer);
  std::string original = slurp(path);
  ASSERT_FALSE(original.empty());
  std::string bad = original;
  bad[bad.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
  auto r = store_->pull(registry_->image("2"), Keyring());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << original;
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos) << r.status().message();
  EXPECT_FALSE(store_->find(registry_->image("2")));
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256"))
    EXPECT_NE("sha256:" + e.path().filename().string(), layer) << "the corrupt blob is not kept";
}

TEST_F(ImagePullTest, GarbageCollectionKeepsImagesInUse) {
  auto one = store_->pull(registry_->image("1"), Keyring());
  auto two = store_->pull(registry_->image("2"), Keyring());
  ASSERT_TRUE(one.isOk() && two.isOk());
  size_t before = blobCount();
  store_->acquire(one->id);
  auto removed = store_->garbageCollect();
  ASSERT_TRUE(removed.isOk());
  EXPECT_EQ(*removed, std::vector<std::string>{two->id});
  EXPECT_FALSE(fs::exists(two->rootfs));
  EXPECT_TRUE(fs::exists(one->rootfs));
  EXPECT_EQ(blobCount(), before - 3) << "tag 2's manifest, config and top layer go";
  store_->release(one->id);
  ASSERT_TRUE(store_->garbageCollect().isOk());
  EXPECT_TRUE(store_->list().empty());
  EXPECT_EQ(blobCount(), 0u);
}

}  // namespace
}  // namespace berth::images
