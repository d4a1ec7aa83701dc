// SpotWatcher: the agent's side of spot interruptions (what aws-node-termination-handler does
// in IMDS mode). With --cloud-metadata it polls the instance metadata endpoint's
// /latest/meta-data/spot/instance-action every `period`; once a notice is served it records it
// on the Node: condition SpotInterruption=True (message and reason carry the time; kept in
// every later status patch through NodeIdentity::extra_conditions) and annotation
// berth.dev/interruption-time. Node-group controllers react to those.
// Thread-safety: conditions() may be called from any thread; start/stop from one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "client/client.h"
#include "common/time_util.h"

namespace berth::kubelet {

class SpotWatcher {
 public:
  struct Options {
    std::string endpoint = "http://169.254.169.254";
    std::chrono::milliseconds period{1500};
    std::string node_name;
  };
  SpotWatcher(client::Client* client, Options opts);
  ~SpotWatcher();

  void start();
  void stop();

  // [] before a notice; [the SpotInterruption condition] after.
  nlohmann::json conditions(TimePoint now) const;

  // The notice's time from an instance-action response (404: none). Exposed for tests.
  static std::optional<std::string> parseInstanceAction(long http_status, const std::string& body);

 private:
  void run();
  std::optional<std::string> poll();  // the notice time, if one is served
  void record(const std::string& time);

  client::Client* client_;
  Options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string notice_time_;   // guarded by mu_
  TimePoint noticed_at_{};    // guarded by mu_
  std::thread thread_;
};

}  // namespace berth::kubelet
