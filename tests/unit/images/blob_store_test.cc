#include "kubelet-lite/images/blob_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace berth::images {
namespace {

namespace fs = std::filesystem;

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-blobs-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    store_ = std::make_unique<BlobStore>(root_);
    ASSERT_TRUE(store_->init().isOk());
  }
  void TearDown() override { fs::remove_all(root_); }
  size_t filesInStore() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root_ + "/blobs/sha256")) ++n;
    return n;
  }
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST(Sha256, KnownVector) {
  EXPECT_EQ(Sha256::of("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(BlobStoreTest, VerifiedBlobIsStored) {
  std::string data = "layer bytes";
  std::string d = Sha256::of(data);
  auto w = store_->create(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE((*w)->write(data.data(), 5).isOk());
  ASSERT_TRUE((*w)->write(data.data() + 5, data.size() - 5).isOk());
  ASSERT_TRUE((*w)->commit().isOk());
  EXPECT_TRUE(store_->has(d));
  EXPECT_EQ(*store_->read(d), data);
  EXPECT_EQ(store_->list(), std::vector<std::string>{d});
}

TEST_F(BlobStoreTest, CorruptBlobIsRefusedAndDeleted) {
  std::string expected = Sha256::of("the real content");
  auto w = store_->create(expected, -1);
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE((*w)->write("tampered", 8).isOk());
  Status st = (*w)->commit();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("digest mismatch"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(expected), std::string::npos);
  EXPECT_NE(st.message().find(Sha256::of("tampered")), std::string::npos);
  EXPECT_FALSE(store_->has(expected));
  EXPECT_EQ(filesInStore(), 0u) << "the partial blob is deleted";
}

TEST_F(BlobStoreTest, SizeBeyondTheDescriptorIsRefused) {
  std::string data = "0123456789";
  auto w = store_->create(Sha256::of(data), 4);
  ASSERT_TRUE(w.isOk());
  EXPECT_FALSE((*w)->write(data.data(), data.size()).isOk());
  EXPECT_EQ(filesInStore(), 0u);
}

TEST_F(BlobStoreTest, AbandonedWriterLeavesNothing) {
  {
    auto w = store_->create(Sha256::of("x"), -1);
    ASSERT_TRUE(w.isOk());
    ASSERT_TRUE((*w)->write("x", 1).isOk());
  }
  EXPECT_EQ(filesInStore(), 0u);
  EXPECT_FALSE(store_->create("sha256:short", -1).isOk());
}

TEST_F(BlobStoreTest, PutAndRemove) {
  std::string d = Sha256::of("m");
  ASSERT_TRUE(store_->put(d, "m").isOk());
  EXPECT_FALSE(store_->put(d, "n").isOk());
  ASSERT_TRUE(store_->remove(d).isOk());
  EXPECT_FALSE(store_->has(d));
}

}  // namespace
}  // namespace berth::images
