// Prometheus metrics of the API server: request counts and latencies by verb/resource/code,
// store write latency, open watches. Rendered as Prometheus text at /metrics.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace berth::apiserver {

class Metrics {
 public:
  void observeRequest(const std::string& verb, const std::string& resource, int code,
                      double seconds);
  void observeStore(const std::string& op, double seconds);
  void observeStoreSince(const std::string& op, std::chrono::steady_clock::time_point start) {
    observeStore(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  void watchStarted() { watches_.fetch_add(1); }
  void watchEnded() { watches_.fetch_sub(1); }
  long openWatches() const { return watches_.load(); }
  std::string render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   5};
  struct Histogram {
    std::array<uint64_t, 12> buckets{};
    uint64_t count = 0;
    double sum = 0;
    void observe(double v);
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> latency_;
  std::map<std::string, Histogram> store_;
  std::atomic<long> watches_{0};
};

}  // namespace berth::apiserver
