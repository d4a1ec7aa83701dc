// ImageReference: a container image name as Docker and the kubelet read it.
//
//   busybox                          -> <default registry>/library/busybox:latest
//   berth/busybox:1                  -> <default registry>/berth/busybox:1
//   127.0.0.1:5000/berth/busybox:1   -> registry 127.0.0.1:5000, repository berth/busybox, tag 1
//   repo@sha256:<64 hex>             -> pinned by digest (a tag given beside a digest is kept
//                                       for display only; the digest decides what is pulled)
//
// The first path component is a registry when it contains '.' or ':' or is "localhost", as in
// Docker's reference grammar; otherwise the configurable default registry is used and a
// single-component repository gets the "library/" prefix (Docker Hub's official images).
// Thread-safety: values and pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace berth::images {

struct ImageReference {
  std::string registry;    // host or host:port, e.g. "docker.io", "127.0.0.1:5000"
  std::string repository;  // e.g. "library/busybox"
  std::string tag;         // e.g. "latest"; empty when only a digest was given
  std::string digest;      // "sha256:<hex>" or empty

  // What the registry's manifest endpoint is asked for: the digest when pinned, else the tag.
  const std::string& manifestReference() const { return digest.empty() ? tag : digest; }
  // Canonical form: registry/repository[:tag][@digest].
  std::string toString() const;
  // registry/repository (no tag or digest), the key for repo digests ("name@sha256:...").
  std::string name() const { return registry + "/" + repository; }
};

// The default registry when none is named, as Docker does.
inline constexpr std::string_view kDockerHub = "docker.io";

// Parses `image` (a pod's spec.containers[].image). Errors name what is wrong with it.
Result<ImageReference> parseImageReference(std::string_view image,
                                           std::string_view default_registry = kDockerHub);

// True when `digest` is "sha256:" followed by 64 lowercase hex characters.
bool isValidDigest(std::string_view digest);

}  // namespace berth::images
