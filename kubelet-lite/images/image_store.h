// ImageStore: the node's images. Pulls through RegistryClient into a content-addressed
// BlobStore (every blob verified), unpacks each image's layers in order into one flattened
// root filesystem per image (<root>/images/<config hex>/rootfs, read-only by convention: the
// runtime gives each container its own copy-on-write view of it), and exposes the image config
// (Entrypoint, Cmd, Env, WorkingDir, User) to the runtime.
//
// - An image's id is its config digest; tags ("reg/repo:tag") and repo digests
//   ("reg/repo@sha256:...") point at it. The index is persisted in <root>/images/index.json
//   (written to a temp file and renamed), so a restarted agent finds its images.
// - Reference counts (acquire/release) say which images containers use; they live in memory:
//   the runtime re-acquires for the containers it adopts after a restart, before any GC.
// - garbageCollect() removes images with no users and every blob no remaining image needs.
// - Pulls are serialised, as the kubelet's default serializeImagePulls; a pull of an image whose
//   manifest resolves to a present config only records the tag.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kubelet-lite/images/blob_store.h"
#include "kubelet-lite/images/registry_client.h"

namespace berth::images {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir;
  std::string user;
};

struct Image {
  std::string id;               // config digest, "sha256:..."
  std::string manifest_digest;  // the platform manifest's digest
  std::string index_digest;     // the index's digest when the reference named an index
  std::vector<std::string> tags;          // "127.0.0.1:5000/berth/busybox:1"
  std::vector<std::string> repo_digests;  // "127.0.0.1:5000/berth/busybox@sha256:..."
  std::vector<std::string> layers;        // layer blob digests, bottom first
  int64_t size = 0;                       // sum of the compressed layer sizes
  ImageConfig config;
  std::string rootfs;  // the flattened root filesystem
};

enum class PullPolicy { kAlways, kIfNotPresent, kNever };

class ImageStore {
 public:
  struct Options {
    std::string root;                          // e.g. <agent root>/images lives under it
    std::string default_registry = "docker.io";
    std::vector<std::string> insecure_registries;  // HOST:PORT allowed over plain HTTP
    std::map<std::string, std::string> registry_mirrors;  // FROM -> TO (RegistryClient::mirrors)
    std::string os = "linux";
    std::string arch;  // OCI architecture; empty = this host's (amd64, arm64, ...)
  };
  explicit ImageStore(Options opts);

  // Creates the directories and loads the index.
  Status init();

  // The image `image` names, pulled when the policy says so. Errors: NotFound with
  // "ErrImageNeverPull"-style message for kNever and a missing image; the registry's message
  // otherwise (the caller reports ErrImagePull).
  Result<Image> ensure(const std::string& image, PullPolicy policy, const Keyring& keyring);
  // Always asks the registry.
  Result<Image> pull(const std::string& image, const Keyring& keyring);
  // By reference (tag or digest) or by id.
  std::optional<Image> find(const std::string& image) const;
  std::vector<Image> list() const;

  void acquire(const std::string& id);
  void release(const std::string& id);
  int users(const std::string& id) const;

  // Removes unused images (no users) and unreferenced blobs; returns the removed image ids.
  Result<std::vector<std::string>> garbageCollect();

  const std::string& defaultRegistry() const { return opts_.default_registry; }

 private:
  struct Resolved;
  Result<Resolved> resolveManifest(const ImageReference& ref, const std::optional<RegistryCredential>& cred);
  Status fetchBlob(const ImageReference& ref, const std::string& digest, int64_t size,
                   const std::optional<RegistryCredential>& cred);
  Status unpack(Image* img);
  std::optional<std::string> findIdLocked(const std::string& image) const;
  Status saveLocked() const;
  std::string imageDir(const std::string& id) const;

  Options opts_;
  BlobStore blobs_;
  RegistryClient registry_;
  std::mutex pull_mu_;  // one pull at a time
  mutable std::mutex mu_;
  std::map<std::string, Image> images_;  // by id
  std::map<std::string, int> users_;     // id -> containers using it
};

// The OCI architecture name of this host ("amd64", "arm64", ...).
std::string hostArchitecture();

}  // namespace berth::images
