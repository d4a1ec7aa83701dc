#include "kubelet-lite/images/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kubelet-lite/images/image_reference.h"

namespace berth::images {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
std::string Sha256::digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}
std::string Sha256::of(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.digest();
}

BlobWriter::BlobWriter(std::string tmp_path, std::string final_path, int fd,
                       std::string expected_digest, int64_t expected_size)
    : tmp_path_(std::move(tmp_path)), final_path_(std::move(final_path)), fd_(fd),
      expected_digest_(std::move(expected_digest)), expected_size_(expected_size) {}

BlobWriter::~BlobWriter() {
  if (!done_) discard();
}

void BlobWriter::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_path_.c_str());
  done_ = true;
}

Status BlobWriter::write(const void* data, size_t n) {
  if (done_) return internalError("blob writer for " + expected_digest_ + " is closed");
  if (expected_size_ >= 0 && written_ + static_cast<int64_t>(n) > expected_size_) {
    discard();
    return badRequest("blob " + expected_digest_ + " is larger than the " +
                      std::to_string(expected_size_) + " bytes its descriptor states");
  }
  hash_.update(data, n);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      std::string err = std::strerror(errno);
      discard();
      return internalError("writing blob " + expected_digest_ + ": " + err);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += w;
  }
  return Status::ok();
}

Status BlobWriter::commit() {
  if (done_) return internalError("blob writer for " + expected_digest_ + " is closed");
  if (expected_size_ >= 0 && written_ != expected_size_) {
    discard();
    return badRequest("blob " + expected_digest_ + " has " + std::to_string(written_) +
                      " bytes, its descriptor states " + std::to_string(expected_size_));
  }
  std::string got = hash_.digest();
  if (got != expected_digest_) {
    discard();
    return badRequest("digest mismatch: blob expected " + expected_digest_ + " but its content is " +
                      got + "; the download is refused");
  }
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    fd_ = -1;
    discard();
    return internalError("flushing blob " + expected_digest_ + ": " + std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
    discard();
    return internalError("storing blob " + expected_digest_ + ": " + std::strerror(errno));
  }
  done_ = true;
  return Status::ok();
}

BlobStore::BlobStore(std::string root) : dir_(std::move(root) + "/blobs/sha256") {}

Status BlobStore::init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return internalError("creating " + dir_ + ": " + ec.message());
  // Temporary files of a previous run that died mid-download.
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.path().filename().string().starts_with(".tmp-")) std::filesystem::remove(e.path(), ec);
  return Status::ok();
}

std::string BlobStore::path(std::string_view digest) const {
  return dir_ + "/" + std::string(digest.substr(digest.find(':') + 1));
}

bool BlobStore::has(std::string_view digest) const {
  struct stat st;
  return isValidDigest(digest) && ::stat(path(digest).c_str(), &st) == 0;
}

Result<std::unique_ptr<BlobWriter>> BlobStore::create(const std::string& digest,
                                                      int64_t expected_size) {
  if (!isValidDigest(digest)) return badRequest("unsupported or malformed digest \"" + digest + "\"");
  static std::atomic<uint64_t> seq{0};
  std::string tmp = dir_ + "/.tmp-" + digest.substr(7, 16) + "-" + std::to_string(::getpid()) +
                    "-" + std::to_string(seq++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return internalError("creating " + tmp + ": " + std::strerror(errno));
  return std::make_unique<BlobWriter>(tmp, path(digest), fd, digest, expected_size);
}

Status BlobStore::put(const std::string& digest, std::string_view data) {
  BERTH_ASSIGN_OR_RETURN(auto w, create(digest, static_cast<int64_t>(data.size())));
  BERTH_RETURN_IF_ERROR(w->write(data.data(), data.size()));
  return w->commit();
}

Result<std::string> BlobStore::read(std::string_view digest) const {
  if (!isValidDigest(digest)) return badRequest("malformed digest \"" + std::string(digest) + "\"");
  std::ifstream in(path(digest), std::ios::binary);
  if (!in) return notFound("blob " + std::string(digest) + " is not in the store");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status BlobStore::remove(std::string_view digest) {
  if (!isValidDigest(digest)) return badRequest("malformed digest \"" + std::string(digest) + "\"");
  if (::unlink(path(digest).c_str()) != 0 && errno != ENOENT)
    return internalError("removing blob " + std::string(digest) + ": " + std::strerror(errno));
  return Status::ok();
}

std::vector<std::string> BlobStore::list() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string d = "sha256:" + e.path().filename().string();
    if (isValidDigest(d)) out.push_back(d);
  }
  return out;
}

}  // namespace berth::images
