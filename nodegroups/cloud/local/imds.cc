#include "nodegroups/cloud/local/imds.h"

#include <random>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace berth::cloud::local {

namespace {

constexpr char kTokenHeader[] = "x-aws-ec2-metadata-token";
constexpr char kTtlHeader[] = "x-aws-ec2-metadata-token-ttl-seconds";

ImdsResponse text(std::string body) {
  ImdsResponse r;
  r.body = std::move(body);
  return r;
}

ImdsResponse error(int status, std::string body) {
  ImdsResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string hostnameOf(const ImdsInstance& i) {
  std::string h = "ip-" + i.private_ip;
  for (char& c : h) {
    if (c == '.') c = '-';
  }
  return h + "." + i.region + ".compute.internal";
}

std::string newToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string raw;
  for (int i = 0; i < 4; ++i) {
    uint64_t v = rng();
    raw.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  return base64Encode(raw);
}

}  // namespace

Imds::Imds(ImdsInstance instance, std::function<std::optional<TimePoint>()> spot_notice,
           const Clock& clock)
    : inst_(std::move(instance)), spot_notice_(std::move(spot_notice)), clock_(clock) {}

ImdsResponse Imds::issueToken(const ImdsRequest& req) {
  // As EC2: a token request that went through a proxy is refused.
  if (req.headers.count("x-forwarded-for")) return error(403, "Forbidden");
  auto it = req.headers.find(kTtlHeader);
  if (it == req.headers.end()) return error(400, "Bad Request: missing " + std::string(kTtlHeader));
  char* end = nullptr;
  long ttl = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end || ttl < 1 || ttl > 21600) {
    return error(400, "Bad Request: TTL must be between 1 and 21600 seconds");
  }
  std::string token = newToken();
  TimePoint now = clock_.now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto t = tokens_.begin(); t != tokens_.end();) {
      t = t->second <= now ? tokens_.erase(t) : std::next(t);
    }
    tokens_[token] = now + std::chrono::seconds(ttl);
  }
  ImdsResponse r = text(token);
  r.headers[kTtlHeader] = std::to_string(ttl);
  return r;
}

std::optional<ImdsResponse> Imds::metadata(const std::string& path) {
  std::optional<TimePoint> notice = spot_notice_ ? spot_notice_() : std::nullopt;
  const bool spot = inst_.capacity_type == CapacityType::kSpot;
  if (path == "/latest" || path == "/latest/") return text("dynamic\nmeta-data\nuser-data");
  if (path == "/latest/meta-data" || path == "/latest/meta-data/") {
    std::string listing =
        "ami-id\nhostname\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\n"
        "local-ipv4\nplacement/";
    if (notice) listing += "\nspot/";
    return text(listing);
  }
  if (path == "/latest/meta-data/instance-id") return text(inst_.instance_id);
  if (path == "/latest/meta-data/instance-type") return text(inst_.instance_type);
  if (path == "/latest/meta-data/instance-life-cycle") return text(spot ? "spot" : "on-demand");
  if (path == "/latest/meta-data/ami-id") return text("ami-00000000000berth");
  if (path == "/latest/meta-data/local-ipv4") return text(inst_.private_ip);
  if (path == "/latest/meta-data/hostname" || path == "/latest/meta-data/local-hostname") {
    return text(hostnameOf(inst_));
  }
  if (path == "/latest/meta-data/placement" || path == "/latest/meta-data/placement/") {
    return text("availability-zone\nregion");
  }
  if (path == "/latest/meta-data/placement/availability-zone") return text(inst_.zone);
  if (path == "/latest/meta-data/placement/region") return text(inst_.region);
  if (path == "/latest/meta-data/spot" || path == "/latest/meta-data/spot/") {
    if (!notice) return std::nullopt;
    return text("instance-action\ntermination-time");
  }
  if (path == "/latest/meta-data/spot/instance-action") {
    if (!notice) return std::nullopt;
    ImdsResponse r = text(nlohmann::json{{"action", "terminate"}, {"time", formatRfc3339(*notice)}}.dump());
    r.content_type = "application/json";
    return r;
  }
  if (path == "/latest/meta-data/spot/termination-time") {
    if (!notice) return std::nullopt;
    return text(formatRfc3339(*notice));
  }
  if (path == "/latest/user-data") {
    if (inst_.user_data.empty()) return std::nullopt;
    return text(inst_.user_data);
  }
  if (path == "/latest/dynamic/instance-identity/document") {
    nlohmann::json doc = {{"instanceId", inst_.instance_id},
                          {"instanceType", inst_.instance_type},
                          {"availabilityZone", inst_.zone},
                          {"region", inst_.region},
                          {"privateIp", inst_.private_ip},
                          {"imageId", "ami-00000000000berth"},
                          {"architecture", "x86_64"},
                          {"pendingTime", formatRfc3339(inst_.launch_time)},
                          {"version", "2017-09-30"}};
    ImdsResponse r = text(doc.dump(2));
    r.content_type = "application/json";
    return r;
  }
  return std::nullopt;
}

ImdsResponse Imds::handle(const ImdsRequest& req) {
  if (req.method == "PUT") {
    if (req.path == "/latest/api/token") return issueToken(req);
    return error(405, "Method Not Allowed");
  }
  if (req.method != "GET" && req.method != "HEAD") return error(405, "Method Not Allowed");
  if (auto it = req.headers.find(kTokenHeader); it != req.headers.end()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto t = tokens_.find(it->second);
    if (t == tokens_.end() || t->second <= clock_.now()) return error(401, "Unauthorized");
  }
  std::optional<ImdsResponse> r = metadata(req.path);
  if (!r) return error(404, "Not Found");
  return *r;
}

}  // namespace berth::cloud::local
