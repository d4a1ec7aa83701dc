#include "kubelet-lite/images/image_reference.h"

#include "common/strings.h"

namespace berth::images {
namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A repository path component: lowercase alphanumerics separated by '.', '_', '__' or '-'s.
bool validComponent(std::string_view c) {
  if (c.empty() || !isLowerAlnum(c.front()) || !isLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (isLowerAlnum(ch)) continue;
    if (ch == '.' || ch == '-') {
      if (ch == '.' && !isLowerAlnum(c[i + 1])) return false;
      continue;
    }
    if (ch == '_') {
      if (c[i + 1] == '_') ++i;
      if (!isLowerAlnum(c[i + 1])) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(t.front())) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool validRegistry(std::string_view r) {
  if (r.empty()) return false;
  for (char c : r) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

bool looksLikeRegistry(std::string_view first) {
  return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost";
}

}  // namespace

bool isValidDigest(std::string_view d) {
  if (!startsWith(d, "sha256:") || d.size() != 7 + 64) return false;
  for (char c : d.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ImageReference::toString() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<ImageReference> parseImageReference(std::string_view image,
                                           std::string_view default_registry) {
  const std::string quoted = "invalid image reference \"" + std::string(image) + "\": ";
  if (image.empty()) return badRequest("invalid image reference \"\": the image name is empty");
  if (image != trim(image)) return badRequest(quoted + "leading or trailing whitespace");
  ImageReference ref;
  std::string_view rest = image;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!isValidDigest(ref.digest))
      return badRequest(quoted + "digest must be sha256: followed by 64 lowercase hex digits");
  }
  // A tag follows the last ':' after the last '/' (a ':' before it is the registry's port).
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(ref.tag))
      return badRequest(quoted + "tag \"" + ref.tag +
                        "\" must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
  }
  std::vector<std::string> parts = split(rest, '/');
  if (parts.size() > 1 && looksLikeRegistry(parts.front())) {
    ref.registry = parts.front();
    parts.erase(parts.begin());
    if (!validRegistry(ref.registry))
      return badRequest(quoted + "registry \"" + ref.registry + "\" is not a host[:port]");
  } else {
    ref.registry = std::string(default_registry);
    if (parts.size() == 1) parts.insert(parts.begin(), "library");
  }
  for (const std::string& p : parts) {
    if (!validComponent(p))
      return badRequest(quoted + "repository component \"" + p +
                        "\" must be lowercase letters and digits separated by '.', '_' or '-'");
  }
  ref.repository = join(parts, "/");
  if (ref.repository.size() > 255) return badRequest(quoted + "repository name is over 255 characters");
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace berth::images
