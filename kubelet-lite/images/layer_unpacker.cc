#include "kubelet-lite/images/layer_unpacker.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <set>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/strings.h"

namespace berth::images {

Result<size_t> FdSource::read(char* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd_, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return internalError(std::string("reading layer: ") + std::strerror(errno));
  }
}

struct GzipSource::State {
  z_stream zs{};
  std::vector<char> in = std::vector<char>(64 * 1024);
  bool eof_in = false;
  bool done = false;
};

GzipSource::GzipSource(ByteSource* in) : in_(in), st_(std::make_unique<State>()) {
  inflateInit2(&st_->zs, 16 + MAX_WBITS);
}
GzipSource::~GzipSource() { inflateEnd(&st_->zs); }

Result<size_t> GzipSource::read(char* buf, size_t n) {
  z_stream& zs = st_->zs;
  zs.next_out = reinterpret_cast<Bytef*>(buf);
  zs.avail_out = static_cast<uInt>(n);
  while (zs.avail_out == n && !st_->done) {
    if (zs.avail_in == 0 && !st_->eof_in) {
      BERTH_ASSIGN_OR_RETURN(size_t got, in_->read(st_->in.data(), st_->in.size()));
      if (got == 0) st_->eof_in = true;
      zs.next_in = reinterpret_cast<Bytef*>(st_->in.data());
      zs.avail_in = static_cast<uInt>(got);
    }
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 && st_->eof_in) st_->done = true;
      else inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (rc == Z_BUF_ERROR && st_->eof_in && zs.avail_in == 0)
      return badRequest("layer is not valid gzip: truncated stream");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return badRequest(std::string("layer is not valid gzip: ") + (zs.msg ? zs.msg : "inflate failed"));
  }
  return n - zs.avail_out;
}

namespace {

constexpr size_t kBlock = 512;

struct Entry {
  std::string path, link;
  char type = '0';
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t size = 0;
  int64_t mtime = 0;
  unsigned dev_major = 0, dev_minor = 0;
};

// Reads exactly n bytes unless the stream ends first.
Result<size_t> readFull(ByteSource* src, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    BERTH_ASSIGN_OR_RETURN(size_t r, src->read(buf + got, n - got));
    if (r == 0) break;
    got += r;
  }
  return got;
}

Status skip(ByteSource* src, int64_t n) {
  char buf[16 * 1024];
  while (n > 0) {
    size_t want = static_cast<size_t>(std::min<int64_t>(n, sizeof buf));
    BERTH_ASSIGN_OR_RETURN(size_t r, readFull(src, buf, want));
    if (r != want) return badRequest("layer tar is truncated");
    n -= static_cast<int64_t>(r);
  }
  return Status::ok();
}

int64_t padding(int64_t size) { return (kBlock - size % kBlock) % kBlock; }

Result<int64_t> parseNumber(const char* f, size_t len, const char* what) {
  if (static_cast<unsigned char>(f[0]) & 0x80) {  // base-256
    int64_t v = f[0] & 0x3f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(f[i]);
    return v;
  }
  int64_t v = 0;
  size_t i = 0;
  while (i < len && (f[i] == ' ' || f[i] == '\0')) ++i;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; ++i) v = v * 8 + (f[i] - '0');
  for (; i < len; ++i)
    if (f[i] != ' ' && f[i] != '\0') return badRequest(std::string("layer tar has a malformed ") + what);
  return v;
}

std::string field(const char* f, size_t len) { return std::string(f, strnlen(f, len)); }

bool checksumOk(const char* h) {
  auto want = parseNumber(h + 148, 8, "checksum");
  if (!want.isOk()) return false;
  int64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  return sum == *want;
}

// PAX extended header records: "LEN key=value\n".
void applyPax(std::string_view data, Entry* e, bool* has_size) {
  while (!data.empty()) {
    size_t sp = data.find(' ');
    if (sp == std::string_view::npos) return;
    size_t len = std::strtoul(std::string(data.substr(0, sp)).c_str(), nullptr, 10);
    if (len <= sp || len > data.size()) return;
    std::string_view rec = data.substr(sp + 1, len - sp - 2);
    data.remove_prefix(len);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = rec.substr(0, eq);
    std::string v(rec.substr(eq + 1));
    if (k == "path") e->path = v;
    else if (k == "linkpath") e->link = v;
    else if (k == "size") { e->size = std::stoll(v); *has_size = true; }
    else if (k == "uid") e->uid = static_cast<uid_t>(std::stoul(v));
    else if (k == "gid") e->gid = static_cast<gid_t>(std::stoul(v));
    else if (k == "mtime") e->mtime = std::stoll(v);
  }
}

// Normalises a tar path to components inside the root; "" is the root itself.
std::string cleanPath(std::string_view p) {
  std::vector<std::string> out;
  for (const std::string& c : split(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  return join(out, "/");
}

class Applier {
 public:
  explicit Applier(int root_fd) : root_(root_fd) {}

  Status apply(const Entry& e, ByteSource* src) {
    std::string path = cleanPath(e.path);
    if (path.empty()) return skip(src, e.size + padding(e.size));  // the root itself
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    BERTH_ASSIGN_OR_RETURN(int dir, openDir(parent, true));
    Status st = applyIn(dir, parent, base, e, src);
    ::close(dir);
    if (st.isOk()) created_.insert(path);
    return st.isOk() ? st : st.withContext(e.path);
  }

 private:
  Status applyIn(int dir, const std::string& parent, const std::string& base, const Entry& e,
                 ByteSource* src) {
    if (base == ".wh..wh..opq") {
      BERTH_RETURN_IF_ERROR(emptyDir(dir, parent, true));
      return skip(src, e.size + padding(e.size));
    }
    if (base.starts_with(".wh.")) {
      std::string victim = base.substr(4);
      BERTH_RETURN_IF_ERROR(removeAt(dir, victim));
      return skip(src, e.size + padding(e.size));
    }
    struct stat old;
    bool exists = ::fstatat(dir, base.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(e.type == '5' && S_ISDIR(old.st_mode))) BERTH_RETURN_IF_ERROR(removeAt(dir, base));
    switch (e.type) {
      case '5':
        if (!exists || !S_ISDIR(old.st_mode)) {
          if (::mkdirat(dir, base.c_str(), 0700) != 0) return errnoStatus("mkdir");
        }
        BERTH_RETURN_IF_ERROR(skip(src, e.size + padding(e.size)));
        return setMeta(dir, base, e, false);
      case '2':
        if (::symlinkat(e.link.c_str(), dir, base.c_str()) != 0) return errnoStatus("symlink");
        BERTH_RETURN_IF_ERROR(skip(src, e.size + padding(e.size)));
        return setMeta(dir, base, e, true);
      case '1': {
        std::string target = cleanPath(e.link);
        size_t s = target.rfind('/');
        BERTH_ASSIGN_OR_RETURN(int tdir, openDir(s == std::string::npos ? "" : target.substr(0, s), false));
        std::string tbase = s == std::string::npos ? target : target.substr(s + 1);
        int rc = ::linkat(tdir, tbase.c_str(), dir, base.c_str(), 0);
        ::close(tdir);
        if (rc != 0) return errnoStatus("hard link to " + e.link);
        return skip(src, e.size + padding(e.size));
      }
      case '3': case '4': case '6': {
        mode_t kind = e.type == '3' ? S_IFCHR : e.type == '4' ? S_IFBLK : S_IFIFO;
        if (::mknodat(dir, base.c_str(), kind | 0600, makedev(e.dev_major, e.dev_minor)) != 0) {
          BLOG_WARN("layer: cannot create special file, skipped").kv("path", e.path).kv("error", std::strerror(errno));
          return skip(src, e.size + padding(e.size));
        }
        BERTH_RETURN_IF_ERROR(skip(src, e.size + padding(e.size)));
        return setMeta(dir, base, e, false);
      }
      case '0': case '\0': case '7':
        return writeFile(dir, base, e, src);
      default:
        BLOG(2, "layer: unsupported tar entry type skipped").kv("path", e.path).kv("type", int(e.type));
        return skip(src, e.size + padding(e.size));
    }
  }

  Status writeFile(int dir, const std::string& base, const Entry& e, ByteSource* src) {
    int fd = ::openat(dir, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errnoStatus("create");
    char buf[64 * 1024];
    int64_t left = e.size;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<int64_t>(left, sizeof buf));
      auto r = readFull(src, buf, want);
      if (!r.isOk() || *r != want) {
        ::close(fd);
        return r.isOk() ? badRequest("layer tar is truncated") : r.status();
      }
      for (size_t off = 0; off < want;) {
        ssize_t w = ::write(fd, buf + off, want - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          Status st = errnoStatus("write");
          ::close(fd);
          return st;
        }
        off += static_cast<size_t>(w);
      }
      left -= static_cast<int64_t>(want);
    }
    ::close(fd);
    BERTH_RETURN_IF_ERROR(skip(src, padding(e.size)));
    return setMeta(dir, base, e, false);
  }

  // chown before chmod: chown clears set-id bits.
  Status setMeta(int dir, const std::string& base, const Entry& e, bool symlink) {
    // Without root (tests, rootless use) files keep the caller's owner.
    if (::fchownat(dir, base.c_str(), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0 &&
        !(errno == EPERM && ::geteuid() != 0))
      return errnoStatus("chown");
    if (!symlink && ::fchmodat(dir, base.c_str(), e.mode & 07777, 0) != 0) return errnoStatus("chmod");
    struct timespec ts[2] = {{e.mtime, 0}, {e.mtime, 0}};
    ::utimensat(dir, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    return Status::ok();
  }

  // Opens a directory below the root with every symlink resolved inside the root; with
  // `create`, missing directories are made (0755, as Docker does).
  Result<int> openDir(const std::string& rel, bool create) {
    struct open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT;
    std::string p = rel.empty() ? "." : rel;
    long fd = ::syscall(SYS_openat2, root_, p.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOENT || !create) return errnoStatus("open directory /" + rel);
    size_t s = rel.rfind('/');
    std::string up = s == std::string::npos ? "" : rel.substr(0, s);
    std::string name = s == std::string::npos ? rel : rel.substr(s + 1);
    BERTH_ASSIGN_OR_RETURN(int parent, openDir(up, true));
    int rc = ::mkdirat(parent, name.c_str(), 0755);
    ::close(parent);
    if (rc != 0 && errno != EEXIST) return errnoStatus("mkdir /" + rel);
    return openDir(rel, false);
  }

  Status removeAt(int dir, const std::string& name) {
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::ok();
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) return errnoStatus("open " + name);
      Status s = emptyDir(sub, "", false);
      ::close(sub);
      BERTH_RETURN_IF_ERROR(s);
      if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) return errnoStatus("remove " + name);
      return Status::ok();
    }
    if (::unlinkat(dir, name.c_str(), 0) != 0) return errnoStatus("remove " + name);
    return Status::ok();
  }

  // Removes the children of `dir`; with `keep_this_layer`, those this layer created stay.
  Status emptyDir(int dir, const std::string& rel, bool keep_this_layer) {
    int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errnoStatus("open directory");
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      return errnoStatus("read directory");
    }
    std::vector<std::string> names;
    while (dirent* de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      if (keep_this_layer && created_.count(rel.empty() ? n : rel + "/" + n)) continue;
      names.push_back(n);
    }
    ::closedir(d);
    for (const std::string& n : names) BERTH_RETURN_IF_ERROR(removeAt(dir, n));
    return Status::ok();
  }

  static Status errnoStatus(const std::string& what) {
    return internalError(what + ": " + std::strerror(errno));
  }

  int root_;
  std::set<std::string> created_;  // paths this layer wrote, kept by an opaque whiteout
};

}  // namespace

Status applyTarLayer(ByteSource* src, const std::string& rootfs) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return internalError("opening " + rootfs + ": " + std::strerror(errno));
  Applier applier(root);
  Status result;
  std::string long_name, long_link;
  Entry pax;
  bool have_pax = false, pax_size = false;
  char h[kBlock];
  for (;;) {
    auto r = readFull(src, h, kBlock);
    if (!r.isOk()) { result = r.status(); break; }
    if (*r == 0) break;  // end without the two zero blocks: accept, as tar does
    if (*r != kBlock) { result = badRequest("layer tar is truncated inside a header"); break; }
    if (std::all_of(h, h + kBlock, [](char c) { return c == 0; })) break;
    if (!checksumOk(h)) { result = badRequest("layer tar has a header with a bad checksum"); break; }
    Entry e;
    e.type = h[156];
    std::string prefix = std::string_view(h + 257, 5) == "ustar" ? field(h + 345, 155) : "";
    e.path = prefix.empty() ? field(h, 100) : prefix + "/" + field(h, 100);
    e.link = field(h + 157, 100);
    auto mode = parseNumber(h + 100, 8, "mode");
    auto uid = parseNumber(h + 108, 8, "uid");
    auto gid = parseNumber(h + 116, 8, "gid");
    auto size = parseNumber(h + 124, 12, "size");
    auto mtime = parseNumber(h + 136, 12, "mtime");
    auto dmaj = parseNumber(h + 329, 8, "device major");
    auto dmin = parseNumber(h + 337, 8, "device minor");
    for (auto* n : {&mode, &uid, &gid, &size, &mtime, &dmaj, &dmin})
      if (!n->isOk()) { result = n->status(); break; }
    if (!result.isOk()) break;
    e.mode = static_cast<mode_t>(*mode);
    e.uid = static_cast<uid_t>(*uid);
    e.gid = static_cast<gid_t>(*gid);
    e.size = *size;
    e.mtime = *mtime;
    e.dev_major = static_cast<unsigned>(*dmaj);
    e.dev_minor = static_cast<unsigned>(*dmin);
    if (e.size < 0) { result = badRequest("layer tar has a negative size"); break; }
    if (e.type == 'L' || e.type == 'K' || e.type == 'x' || e.type == 'g') {
      if (e.size > (1 << 20)) { result = badRequest("layer tar has an oversized extended header"); break; }
      std::string data(static_cast<size_t>(e.size), '\0');
      auto got = readFull(src, data.data(), data.size());
      if (!got.isOk() || *got != data.size()) { result = badRequest("layer tar is truncated"); break; }
      if (Status s = skip(src, padding(e.size)); !s.isOk()) { result = s; break; }
      if (e.type == 'L') long_name = field(data.data(), data.size());
      else if (e.type == 'K') long_link = field(data.data(), data.size());
      else if (e.type == 'x') { applyPax(data, &pax, &pax_size); have_pax = true; }
      continue;
    }
    if (!long_name.empty()) e.path = std::move(long_name);
    if (!long_link.empty()) e.link = std::move(long_link);
    if (have_pax) {
      if (!pax.path.empty()) e.path = pax.path;
      if (!pax.link.empty()) e.link = pax.link;
      if (pax_size) e.size = pax.size;
      if (pax.uid) e.uid = pax.uid;
      if (pax.gid) e.gid = pax.gid;
      if (pax.mtime) e.mtime = pax.mtime;
    }
    long_name.clear();
    long_link.clear();
    pax = Entry();
    have_pax = pax_size = false;
    if (e.type == '5' || e.type == '1' || e.type == '2') {
      // Directories, links and symlinks carry no data even if a size is written.
      if (e.type != '5' && e.size != 0) e.size = 0;
    }
    if (Status s = applier.apply(e, src); !s.isOk()) { result = s; break; }
  }
  ::close(root);
  return result;
}

Status applyLayerFile(const std::string& path, const std::string& rootfs) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return internalError("opening layer " + path + ": " + std::strerror(errno));
  unsigned char magic[4] = {0, 0, 0, 0};
  ssize_t n = ::pread(fd, magic, sizeof magic, 0);
  FdSource raw(fd);
  Status st;
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    GzipSource gz(&raw);
    st = applyTarLayer(&gz, rootfs);
  } else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    st = badRequest("zstd-compressed layers are not supported");
  } else {
    st = applyTarLayer(&raw, rootfs);
  }
  ::close(fd);
  return st;
}

}  // namespace berth::images
