#include "kubelet-lite/images/image_store.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "kubelet-lite/images/layer_unpacker.h"

namespace berth::images {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string hostArchitecture() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m.starts_with("arm")) return "arm";
  if (m == "i686" || m == "i386") return "386";
  return m;
}

namespace {

std::vector<std::string> stringList(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const json& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

json toJson(const Image& i) {
  return json{{"id", i.id},
              {"manifestDigest", i.manifest_digest},
              {"indexDigest", i.index_digest},
              {"tags", i.tags},
              {"repoDigests", i.repo_digests},
              {"layers", i.layers},
              {"size", i.size},
              {"config",
               {{"Entrypoint", i.config.entrypoint},
                {"Cmd", i.config.cmd},
                {"Env", i.config.env},
                {"WorkingDir", i.config.working_dir},
                {"User", i.config.user}}}};
}

ImageConfig configFrom(const json& c) {
  ImageConfig cfg;
  if (!c.is_object()) return cfg;
  cfg.entrypoint = stringList(c, "Entrypoint");
  cfg.cmd = stringList(c, "Cmd");
  cfg.env = stringList(c, "Env");
  if (c.contains("WorkingDir") && c["WorkingDir"].is_string()) cfg.working_dir = c["WorkingDir"];
  if (c.contains("User") && c["User"].is_string()) cfg.user = c["User"];
  return cfg;
}

Image fromJson(const json& j) {
  Image i;
  i.id = j.value("id", "");
  i.manifest_digest = j.value("manifestDigest", "");
  i.index_digest = j.value("indexDigest", "");
  i.tags = stringList(j, "tags");
  i.repo_digests = stringList(j, "repoDigests");
  i.layers = stringList(j, "layers");
  i.size = j.value("size", int64_t{0});
  if (j.contains("config")) i.config = configFrom(j["config"]);
  return i;
}

void addUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

struct ImageStore::Resolved {
  std::string index_digest;
  RegistryClient::Manifest manifest;
  json parsed;
};

ImageStore::ImageStore(Options opts)
    : opts_(std::move(opts)), blobs_(opts_.root),
      registry_(RegistryClient::Options{opts_.insecure_registries, opts_.registry_mirrors}) {
  if (opts_.arch.empty()) opts_.arch = hostArchitecture();
}

std::string ImageStore::imageDir(const std::string& id) const {
  return opts_.root + "/images/" + id.substr(id.find(':') + 1);
}

Status ImageStore::init() {
  BERTH_RETURN_IF_ERROR(blobs_.init());
  std::error_code ec;
  fs::create_directories(opts_.root + "/images", ec);
  if (ec) return internalError("creating " + opts_.root + "/images: " + ec.message());
  std::ifstream in(opts_.root + "/images/index.json");
  if (!in) return Status::ok();
  try {
    json j = json::parse(in);
    std::lock_guard<std::mutex> l(mu_);
    for (const json& e : j.value("images", json::array())) {
      Image img = fromJson(e);
      img.rootfs = imageDir(img.id) + "/rootfs";
      if (!isValidDigest(img.id) || !fs::is_directory(img.rootfs)) continue;
      images_[img.id] = std::move(img);
    }
  } catch (const json::exception& e) {
    BLOG_WARN("image index unreadable, starting empty").kv("error", e.what());
  }
  return Status::ok();
}

Status ImageStore::saveLocked() const {
  json arr = json::array();
  for (const auto& [id, img] : images_) arr.push_back(toJson(img));
  std::string path = opts_.root + "/images/index.json";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"images", arr}}.dump(1);
    if (!out) return internalError("writing " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return internalError("renaming " + tmp + ": " + ec.message());
  return Status::ok();
}

std::optional<std::string> ImageStore::findIdLocked(const std::string& image) const {
  if (images_.count(image)) return image;
  auto ref = parseImageReference(image, opts_.default_registry);
  if (!ref.isOk()) return std::nullopt;
  std::string want = ref->digest.empty() ? ref->name() + ":" + ref->tag : ref->name() + "@" + ref->digest;
  for (const auto& [id, img] : images_) {
    const auto& list = ref->digest.empty() ? img.tags : img.repo_digests;
    if (std::find(list.begin(), list.end(), want) != list.end()) return id;
  }
  return std::nullopt;
}

std::optional<Image> ImageStore::find(const std::string& image) const {
  std::lock_guard<std::mutex> l(mu_);
  auto id = findIdLocked(image);
  if (!id) return std::nullopt;
  return images_.at(*id);
}

std::vector<Image> ImageStore::list() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Image> out;
  for (const auto& [id, img] : images_) out.push_back(img);
  return out;
}

Result<Image> ImageStore::ensure(const std::string& image, PullPolicy policy, const Keyring& keyring) {
  if (policy != PullPolicy::kAlways) {
    if (auto img = find(image)) return *img;
    if (policy == PullPolicy::kNever)
      return notFound("Container image \"" + image + "\" is not present with pull policy of Never");
  }
  return pull(image, keyring);
}

Result<ImageStore::Resolved> ImageStore::resolveManifest(const ImageReference& ref,
                                                         const std::optional<RegistryCredential>& cred) {
  Resolved r;
  BERTH_ASSIGN_OR_RETURN(r.manifest, registry_.fetchManifest(ref, ref.manifestReference(), cred));
  for (int depth = 0; depth < 2; ++depth) {
    try {
      r.parsed = json::parse(r.manifest.body);
    } catch (const json::exception& e) {
      return badRequest("manifest of " + ref.toString() + " is not JSON: " + e.what());
    }
    std::string type = r.manifest.media_type;
    if (type.empty() || type == "application/json") type = r.parsed.value("mediaType", "");
    if (type != kOciIndex && type != kDockerList) {
      if (!r.parsed.contains("layers") || !r.parsed.contains("config"))
        return badRequest("manifest of " + ref.toString() + " has unsupported media type \"" + type + "\"");
      return r;
    }
    BERTH_RETURN_IF_ERROR(blobs_.put(r.manifest.digest, r.manifest.body));
    r.index_digest = r.manifest.digest;
    std::string chosen;
    for (const json& m : r.parsed.value("manifests", json::array())) {
      const json p = m.value("platform", json::object());
      if (p.value("os", "") == opts_.os && p.value("architecture", "") == opts_.arch) {
        chosen = m.value("digest", "");
        break;
      }
    }
    if (chosen.empty())
      return notFound("no matching manifest for " + opts_.os + "/" + opts_.arch + " in the manifest list of " + ref.toString());
    BERTH_ASSIGN_OR_RETURN(r.manifest, registry_.fetchManifest(ref, chosen, cred));
  }
  return badRequest("manifest of " + ref.toString() + " nests indexes");
}

Status ImageStore::fetchBlob(const ImageReference& ref, const std::string& digest, int64_t size,
                             const std::optional<RegistryCredential>& cred) {
  if (blobs_.has(digest)) return Status::ok();
  BERTH_ASSIGN_OR_RETURN(auto w, blobs_.create(digest, size));
  BERTH_RETURN_IF_ERROR(registry_.fetchBlob(ref, digest, cred,
                                            [&](const char* d, size_t n) { return w->write(d, n); }));
  return w->commit();
}

Status ImageStore::unpack(Image* img) {
  std::string dir = imageDir(img->id);
  std::string tmp = dir + "/rootfs.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return internalError("creating " + tmp + ": " + ec.message());
  for (const std::string& layer : img->layers) {
    Status st = applyLayerFile(blobs_.path(layer), tmp);
    if (!st.isOk()) {
      fs::remove_all(tmp, ec);
      return st.withContext("unpacking layer " + layer);
    }
  }
  fs::permissions(tmp, fs::perms(0755), ec);
  fs::remove_all(dir + "/rootfs", ec);
  fs::rename(tmp, dir + "/rootfs", ec);
  if (ec) return internalError("renaming " + tmp + ": " + ec.message());
  img->rootfs = dir + "/rootfs";
  return Status::ok();
}

Result<Image> ImageStore::pull(const std::string& image, const Keyring& keyring) {
  BERTH_ASSIGN_OR_RETURN(ImageReference ref, parseImageReference(image, opts_.default_registry));
  std::lock_guard<std::mutex> pl(pull_mu_);
  auto cred = keyring.lookup(ref.registry);
  BERTH_ASSIGN_OR_RETURN(Resolved r, resolveManifest(ref, cred));
  const json& m = r.parsed;
  const json cfg = m.value("config", json::object());
  Image img;
  img.id = cfg.value("digest", "");
  if (!isValidDigest(img.id)) return badRequest("manifest of " + ref.toString() + " has no valid config digest");
  img.manifest_digest = r.manifest.digest;
  img.index_digest = r.index_digest;
  std::vector<std::pair<std::string, int64_t>> layers;
  for (const json& l : m.value("layers", json::array())) {
    std::string d = l.value("digest", "");
    if (!isValidDigest(d)) return badRequest("manifest of " + ref.toString() + " has a layer without a valid digest");
    layers.emplace_back(d, l.value("size", int64_t{-1}));
    img.layers.push_back(d);
    img.size += std::max<int64_t>(0, l.value("size", int64_t{0}));
  }
  std::string tag = ref.tag.empty() ? "" : ref.name() + ":" + ref.tag;
  std::string repo_digest = ref.name() + "@" + (r.index_digest.empty() ? r.manifest.digest : r.index_digest);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = images_.find(img.id);
    if (it != images_.end()) {
      // Already here: the tag may have moved onto it.
      for (auto& [id, other] : images_) std::erase(other.tags, tag);
      if (!tag.empty()) addUnique(&it->second.tags, tag);
      addUnique(&it->second.repo_digests, repo_digest);
      BERTH_RETURN_IF_ERROR(saveLocked());
      return it->second;
    }
  }
  BERTH_RETURN_IF_ERROR(blobs_.put(r.manifest.digest, r.manifest.body));
  BERTH_RETURN_IF_ERROR(fetchBlob(ref, img.id, cfg.value("size", int64_t{-1}), cred));
  BERTH_ASSIGN_OR_RETURN(std::string config_text, blobs_.read(img.id));
  try {
    json c = json::parse(config_text);
    img.config = configFrom(c.value("config", json::object()));
  } catch (const json::exception& e) {
    return badRequest("image config " + img.id + " is not JSON: " + e.what());
  }
  for (const auto& [d, size] : layers) BERTH_RETURN_IF_ERROR(fetchBlob(ref, d, size, cred));
  BERTH_RETURN_IF_ERROR(unpack(&img));
  if (!tag.empty()) img.tags.push_back(tag);
  img.repo_digests.push_back(repo_digest);
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, other] : images_) std::erase(other.tags, tag);
  images_[img.id] = img;
  BERTH_RETURN_IF_ERROR(saveLocked());
  BLOG(2, "image pulled").kv("image", ref.toString()).kv("id", img.id).kv("layers", img.layers.size());
  return img;
}

void ImageStore::acquire(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  ++users_[id];
}

void ImageStore::release(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(id);
  if (it != users_.end() && --it->second <= 0) users_.erase(it);
}

int ImageStore::users(const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(id);
  return it == users_.end() ? 0 : it->second;
}

Result<std::vector<std::string>> ImageStore::garbageCollect() {
  std::lock_guard<std::mutex> pl(pull_mu_);  // a pull in flight owns blobs not yet indexed
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> removed;
  for (auto it = images_.begin(); it != images_.end();) {
    if (users_.count(it->first)) {
      ++it;
      continue;
    }
    std::error_code ec;
    fs::remove_all(imageDir(it->first), ec);
    if (ec) return internalError("removing image " + it->first + ": " + ec.message());
    removed.push_back(it->first);
    it = images_.erase(it);
  }
  std::set<std::string> needed;
  for (const auto& [id, img] : images_) {
    needed.insert(id);
    needed.insert(img.manifest_digest);
    if (!img.index_digest.empty()) needed.insert(img.index_digest);
    needed.insert(img.layers.begin(), img.layers.end());
  }
  for (const std::string& d : blobs_.list())
    if (!needed.count(d)) BERTH_RETURN_IF_ERROR(blobs_.remove(d));
  BERTH_RETURN_IF_ERROR(saveLocked());
  if (!removed.empty()) BLOG(2, "images garbage-collected").kv("count", removed.size());
  return removed;
}

}  // namespace berth::images
