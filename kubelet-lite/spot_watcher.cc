#include "kubelet-lite/spot_watcher.h"

#include <curl/curl.h>

#include "client/rest_client.h"
#include "common/log.h"
#include "kubelet-lite/api_resources.h"

namespace berth::kubelet {

using json = nlohmann::json;

namespace {

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

json spotCondition(const std::string& time, TimePoint since, TimePoint now) {
  return {{"type", "SpotInterruption"},
          {"status", "True"},
          {"reason", "SpotInterruptionNotice"},
          {"message", "the cloud reclaims this spot instance at " + time},
          {"lastHeartbeatTime", formatRfc3339(now)},
          {"lastTransitionTime", formatRfc3339(since)}};
}

}  // namespace

SpotWatcher::SpotWatcher(client::Client* client, Options opts)
    : client_(client), opts_(std::move(opts)) {}

SpotWatcher::~SpotWatcher() { stop(); }

void SpotWatcher::start() { thread_ = std::thread([this] { run(); }); }

void SpotWatcher::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

json SpotWatcher::conditions(TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  if (notice_time_.empty()) return json::array();
  return json::array({spotCondition(notice_time_, noticed_at_, now)});
}

std::optional<std::string> SpotWatcher::parseInstanceAction(long http_status, const std::string& body) {
  if (http_status != 200) return std::nullopt;
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("time") || !j["time"].is_string()) return std::nullopt;
  return j["time"].get<std::string>();
}

std::optional<std::string> SpotWatcher::poll() {
  CURL* c = curl_easy_init();
  if (!c) return std::nullopt;
  std::string body;
  std::string url = opts_.endpoint + "/latest/meta-data/spot/instance-action";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  return parseInstanceAction(code, body);
}

void SpotWatcher::record(const std::string& time) {
  TimePoint now = std::chrono::system_clock::now();
  {
    std::lock_guard<std::mutex> l(mu_);
    notice_time_ = time;
    noticed_at_ = now;
  }
  BLOG(0, "spot interruption notice").kv("node", opts_.node_name).kv("time", time);
  json meta = {{"metadata", {{"annotations", {{"berth.dev/interruption-time", time}}}}}};
  auto p = client_->patch(nodesResource(), "", opts_.node_name, client::PatchType::kMerge, meta);
  if (!p.isOk()) BLOG(0, "cannot annotate node").kv("node", opts_.node_name).kv("err", p.status().toString());
  // Conditions merge by type in a strategic merge patch: the kubelet's own stay as they are.
  json status = {{"status", {{"conditions", conditions(now)}}}};
  auto r = client_->request("PATCH", nodesResource().path("", opts_.node_name, "status"),
                            status.dump(), client::contentType(client::PatchType::kStrategicMerge));
  if (!r.isOk()) BLOG(0, "cannot post spot condition").kv("node", opts_.node_name).kv("err", r.status().toString());
}

void SpotWatcher::run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_ && notice_time_.empty()) {
    l.unlock();
    std::optional<std::string> t = poll();
    if (t) record(*t);
    l.lock();
    if (t) break;
    cv_.wait_for(l, opts_.period, [this] { return stop_; });
  }
}

}  // namespace berth::kubelet
