// BlobStore: content-addressed storage of registry blobs (manifests, configs, layers) under
// <root>/blobs/sha256/<hex>. A blob is written to a temporary file while its sha256 is
// computed; commit() checks the digest (and size, when known) and renames it into place, so a
// blob that exists is always complete and verified. A mismatch is refused with an error naming
// both digests and the partial file is deleted.
// Thread-safety: all methods may be called from any thread; two writers of the same digest
// each write their own temporary file and the last rename wins (same content).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth::images {

// Incremental sha256; digest() gives "sha256:<hex>".
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string digest();
  static std::string of(std::string_view data);

 private:
  EVP_MD_CTX* ctx_;
};

class BlobWriter {
 public:
  BlobWriter(std::string tmp_path, std::string final_path, int fd, std::string expected_digest,
             int64_t expected_size);
  ~BlobWriter();  // removes the temporary file unless committed
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  Status write(const void* data, size_t n);
  // Verifies size and digest; on success the blob is in the store, else it is deleted.
  Status commit();
  int64_t written() const { return written_; }

 private:
  void discard();
  std::string tmp_path_, final_path_;
  int fd_;
  std::string expected_digest_;
  int64_t expected_size_;
  int64_t written_ = 0;
  Sha256 hash_;
  bool done_ = false;
};

class BlobStore {
 public:
  explicit BlobStore(std::string root);
  // Creates the directories.
  Status init();
  bool has(std::string_view digest) const;
  std::string path(std::string_view digest) const;
  // `expected_size` < 0 means unknown. The digest must be a valid sha256 digest.
  Result<std::unique_ptr<BlobWriter>> create(const std::string& digest, int64_t expected_size);
  Status put(const std::string& digest, std::string_view data);
  Result<std::string> read(std::string_view digest) const;
  Status remove(std::string_view digest);
  // Digests of every stored blob.
  std::vector<std::string> list() const;

 private:
  std::string dir_;
};

}  // namespace berth::images
