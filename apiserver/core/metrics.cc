#include "apiserver/core/metrics.h"

#include <sstream>

namespace berth::apiserver {

void Metrics::Histogram::observe(double v) {
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (v <= kBuckets[i]) ++buckets[i];
  ++count;
  sum += v;
}

void Metrics::observeRequest(const std::string& verb, const std::string& resource, int code,
                             double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{verb, resource, code}];
  latency_[{verb, resource}].observe(seconds);
}

void Metrics::observeStore(const std::string& op, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  store_[op].observe(seconds);
}

namespace {
void writeHistogram(std::ostringstream& out, const std::string& name, const std::string& labels,
                    const std::array<uint64_t, 12>& buckets, const std::array<double, 12>& bounds,
                    uint64_t count, double sum) {
  for (size_t i = 0; i < bounds.size(); ++i)
    out << name << "_bucket{" << labels << ",le=\"" << bounds[i] << "\"} " << buckets[i] << "\n";
  out << name << "_bucket{" << labels << ",le=\"+Inf\"} " << count << "\n";
  out << name << "_sum{" << labels << "} " << sum << "\n";
  out << name << "_count{" << labels << "} " << count << "\n";
}
}  // namespace

std::string Metrics::render() const {
  std::ostringstream out;
  std::lock_guard<std::mutex> lock(mu_);
  out << "# HELP apiserver_request_total Counter of API requests by verb, resource and code.\n";
  out << "# TYPE apiserver_request_total counter\n";
  for (const auto& [k, v] : requests_)
    out << "apiserver_request_total{verb=\"" << std::get<0>(k) << "\",resource=\""
        << std::get<1>(k) << "\",code=\"" << std::get<2>(k) << "\"} " << v << "\n";
  out << "# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n";
  out << "# TYPE apiserver_request_duration_seconds histogram\n";
  for (const auto& [k, h] : latency_)
    writeHistogram(out, "apiserver_request_duration_seconds",
                   "verb=\"" + k.first + "\",resource=\"" + k.second + "\"", h.buckets, kBuckets,
                   h.count, h.sum);
  out << "# HELP berth_store_operation_duration_seconds Store operation latency.\n";
  out << "# TYPE berth_store_operation_duration_seconds histogram\n";
  for (const auto& [op, h] : store_)
    writeHistogram(out, "berth_store_operation_duration_seconds", "operation=\"" + op + "\"",
                   h.buckets, kBuckets, h.count, h.sum);
  out << "# HELP apiserver_registered_watchers Open watch streams.\n";
  out << "# TYPE apiserver_registered_watchers gauge\n";
  out << "apiserver_registered_watchers " << watches_.load() << "\n";
  return out.str();
}

}  // namespace berth::apiserver
