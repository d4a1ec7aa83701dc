#include "kubelet-lite/images/layer_unpacker.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace berth::images {
namespace {

namespace fs = std::filesystem;

// Builds ustar archives in memory.
class TarBuilder {
 public:
  TarBuilder& file(const std::string& name, const std::string& data, int mode = 0644, int uid = 0,
                   int gid = 0) {
    header(name, '0', data.size(), mode, "", uid, gid);
    body(data);
    return *this;
  }
  TarBuilder& dir(const std::string& name, int mode = 0755) {
    header(name, '5', 0, mode, "");
    return *this;
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    header(name, '2', 0, 0777, target);
    return *this;
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    header(name, '1', 0, 0644, target);
    return *this;
  }
  // A GNU long-name record followed by the file.
  TarBuilder& longFile(const std::string& name, const std::string& data) {
    header("././@LongLink", 'L', name.size() + 1, 0644, "");
    body(name + '\0');
    header(name.substr(0, 99), '0', data.size(), 0644, "");
    body(data);
    return *this;
  }
  TarBuilder& paxFile(const std::string& name, const std::string& data) {
    std::string rec = "path=" + name + "\n";
    size_t len = rec.size() + 3;
    len = rec.size() + std::to_string(len).size() + 1;
    std::string pax = std::to_string(len) + " " + rec;
    header("PaxHeaders/x", 'x', pax.size(), 0644, "");
    body(pax);
    header("short", '0', data.size(), 0644, "");
    body(data);
    return *this;
  }
  std::string finish() {
    out_.append(1024, '\0');
    return out_;
  }
  TarBuilder& corruptLastChecksum() {
    out_[out_.size() - roundUp(last_size_) - 512 + 148] ^= 1;
    return *this;
  }

 private:
  static size_t roundUp(size_t n) { return (n + 511) / 512 * 512; }
  void header(const std::string& name, char type, size_t size, int mode, const std::string& link,
              int uid = 0, int gid = 0) {
    char h[512];
    std::memset(h, 0, sizeof h);
    std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
    std::snprintf(h + 100, 8, "%07o", mode);
    std::snprintf(h + 108, 8, "%07o", uid);
    std::snprintf(h + 116, 8, "%07o", gid);
    std::snprintf(h + 124, 12, "%011zo", size);
    std::snprintf(h + 136, 12, "%011o", 1700000000);
    h[156] = type;
    std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
    std::memcpy(h + 257, "ustar\0" "00", 8);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out_.append(h, 512);
    last_size_ = size;
  }
  void body(const std::string& data) {
    out_ += data;
    out_.append(roundUp(data.size()) - data.size(), '\0');
  }
  std::string out_;
  size_t last_size_ = 0;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string s) : s_(std::move(s)) {}
  Result<size_t> read(char* buf, size_t n) override {
    size_t k = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string s_;
  size_t pos_ = 0;
};

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LayerUnpackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-layer-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    rootfs_ = root_ / "rootfs";
    fs::create_directories(rootfs_);
  }
  void TearDown() override { fs::remove_all(root_); }
  Status apply(const std::string& tar) {
    StringSource src(tar);
    return applyTarLayer(&src, rootfs_);
  }
  fs::path root_, rootfs_;
};

TEST_F(LayerUnpackerTest, FilesDirsLinksModesAndOwners) {
  std::string tar = TarBuilder()
                        .dir("bin/", 0755)
                        .file("bin/busybox", "ELF", 0755)
                        .symlink("bin/sh", "busybox")
                        .hardlink("bin/hard", "bin/busybox")
                        .file("etc/passwd", "root:x:0:0\n", 0600, 1000, 2000)
                        .file("tmp/setuid", "x", 04755, 1, 1)
                        .finish();
  ASSERT_TRUE(apply(tar).isOk());
  EXPECT_EQ(slurp(rootfs_ / "bin/busybox"), "ELF");
  EXPECT_EQ(fs::read_symlink(rootfs_ / "bin/sh"), "busybox");
  struct stat a, b;
  ASSERT_EQ(::stat((rootfs_ / "bin/busybox").c_str(), &a), 0);
  ASSERT_EQ(::stat((rootfs_ / "bin/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mode & 07777, 0755u);
  EXPECT_EQ(a.st_mtime, 1700000000);
  struct stat p;
  ASSERT_EQ(::stat((rootfs_ / "etc/passwd").c_str(), &p), 0);
  EXPECT_EQ(p.st_mode & 07777, 0600u);
  if (::geteuid() == 0) {
    EXPECT_EQ(p.st_uid, 1000u);
    EXPECT_EQ(p.st_gid, 2000u);
    struct stat s;
    ASSERT_EQ(::stat((rootfs_ / "tmp/setuid").c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 07777, 04755u) << "chmod after chown keeps the set-uid bit";
  }
  // etc/ had no entry of its own: made as Docker does.
  EXPECT_TRUE(fs::is_directory(rootfs_ / "etc"));
}

TEST_F(LayerUnpackerTest, WhiteoutDeletesFromLowerLayer) {
  ASSERT_TRUE(apply(TarBuilder().file("a/keep", "1").file("a/gone", "2").dir("d/").file("d/x", "3").finish()).isOk());
  ASSERT_TRUE(apply(TarBuilder().file("a/.wh.gone", "").file("d/.wh.x", "").file(".wh.d", "").finish()).isOk());
  EXPECT_TRUE(fs::exists(rootfs_ / "a/keep"));
  EXPECT_FALSE(fs::exists(rootfs_ / "a/gone"));
  EXPECT_FALSE(fs::exists(rootfs_ / "a/.wh.gone"));
  EXPECT_FALSE(fs::exists(rootfs_ / "d"));
}

TEST_F(LayerUnpackerTest, OpaqueWhiteoutKeepsOnlyThisLayersEntries) {
  ASSERT_TRUE(apply(TarBuilder().file("etc/old1", "1").file("etc/old2", "2").finish()).isOk());
  // The new file comes before the opaque marker in the same layer: it must survive.
  ASSERT_TRUE(apply(TarBuilder().dir("etc/").file("etc/new", "n").file("etc/.wh..wh..opq", "").finish()).isOk());
  EXPECT_TRUE(fs::exists(rootfs_ / "etc/new"));
  EXPECT_FALSE(fs::exists(rootfs_ / "etc/old1"));
  EXPECT_FALSE(fs::exists(rootfs_ / "etc/old2"));
  EXPECT_FALSE(fs::exists(rootfs_ / "etc/.wh..wh..opq"));
}

TEST_F(LayerUnpackerTest, UpperLayerReplacesTypes) {
  ASSERT_TRUE(apply(TarBuilder().dir("x/").file("x/inner", "i").file("f", "file").finish()).isOk());
  ASSERT_TRUE(apply(TarBuilder().file("x", "now a file").symlink("f", "x").finish()).isOk());
  EXPECT_EQ(slurp(rootfs_ / "x"), "now a file");
  EXPECT_TRUE(fs::is_symlink(rootfs_ / "f"));
}

TEST_F(LayerUnpackerTest, PathsCannotEscapeTheRoot) {
  // A symlink pointing out of the root, then a file written through it, and ".." names.
  std::string tar = TarBuilder()
                        .symlink("escape", "/")
                        .file("escape/tmp-berth-escaped", "x")
                        .file("../../outside", "y")
                        .symlink("up", "../../..")
                        .file("up/evil", "z")
                        .finish();
  ASSERT_TRUE(apply(tar).isOk());
  EXPECT_FALSE(fs::exists("/tmp-berth-escaped"));
  EXPECT_FALSE(fs::exists(root_ / "outside"));
  EXPECT_TRUE(fs::exists(rootfs_ / "tmp-berth-escaped"));
  EXPECT_TRUE(fs::exists(rootfs_ / "outside"));
  EXPECT_TRUE(fs::exists(rootfs_ / "evil"));
}

TEST_F(LayerUnpackerTest, LongNamesAndPax) {
  std::string longname = "deep/" + std::string(120, 'n');
  ASSERT_TRUE(apply(TarBuilder().longFile(longname, "long").paxFile("pax/named/file", "pax").finish()).isOk());
  EXPECT_EQ(slurp(rootfs_ / longname), "long");
  EXPECT_EQ(slurp(rootfs_ / "pax/named/file"), "pax");
  EXPECT_FALSE(fs::exists(rootfs_ / "short"));
}

TEST_F(LayerUnpackerTest, GzipLayerFile) {
  std::string tar = TarBuilder().file("hello", "world").finish();
  fs::path blob = root_ / "layer.tar.gz";
  std::ofstream(blob, std::ios::binary) << gzip(tar);
  ASSERT_TRUE(applyLayerFile(blob, rootfs_).isOk());
  EXPECT_EQ(slurp(rootfs_ / "hello"), "world");
}

TEST_F(LayerUnpackerTest, CorruptInputIsAnError) {
  Status bad = apply(TarBuilder().file("a", "b").corruptLastChecksum().finish());
  EXPECT_FALSE(bad.isOk());
  EXPECT_NE(bad.message().find("checksum"), std::string::npos) << bad.message();
  std::string tar = TarBuilder().file("big", std::string(4000, 'x')).finish();
  Status trunc = apply(tar.substr(0, 1024));
  EXPECT_FALSE(trunc.isOk());
  EXPECT_NE(trunc.message().find("truncated"), std::string::npos) << trunc.message();
  fs::path blob = root_ / "bad.gz";
  std::string gz = gzip(tar);
  std::ofstream(blob, std::ios::binary) << gz.substr(0, gz.size() / 2);
  Status g = applyLayerFile(blob, rootfs_);
  EXPECT_FALSE(g.isOk());
}

}  // namespace
}  // namespace berth::images
