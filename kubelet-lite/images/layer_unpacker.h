// Layer unpacking: applies an image layer (a tar stream, gzip-compressed or not) onto a root
// filesystem directory, as OCI's image-layer spec describes changesets.
//
// - Regular files, directories, symlinks, hard links, FIFOs and device nodes, with their mode,
//   uid/gid and mtime. ustar, GNU long names (L/K) and PAX (path, linkpath, size, uid, gid,
//   mtime) headers are understood; base-256 numbers too.
// - Whiteouts: ".wh.NAME" deletes NAME from the layers below; ".wh..wh..opq" empties its
//   directory of what the layers below put there (entries of the same layer stay).
// - Every path is resolved inside the root (openat2 RESOLVE_IN_ROOT): "..", absolute names and
//   symlinks in the image cannot make a layer write outside it.
// - An entry replacing an existing path of another type removes it first; a directory over a
//   directory keeps its contents and takes the new metadata.
// Thread-safety: free functions; two calls must not unpack into the same directory at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

namespace berth::images {

// A stream of bytes; read() returns 0 at the end.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<size_t> read(char* buf, size_t n) = 0;
};

// Bytes of a file descriptor (not owned).
class FdSource : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<size_t> read(char* buf, size_t n) override;

 private:
  int fd_;
};

// gzip-decompresses another source (concatenated gzip members are read in turn).
class GzipSource : public ByteSource {
 public:
  explicit GzipSource(ByteSource* in);
  ~GzipSource() override;
  Result<size_t> read(char* buf, size_t n) override;

 private:
  struct State;
  ByteSource* in_;
  std::unique_ptr<State> st_;
};

// Applies the uncompressed tar stream `tar` onto `rootfs` (which must exist).
Status applyTarLayer(ByteSource* tar, const std::string& rootfs);

// Applies the layer stored in `path` (gzip detected from its magic bytes, else plain tar).
// zstd layers are refused with a clear error.
Status applyLayerFile(const std::string& path, const std::string& rootfs);

}  // namespace berth::images
