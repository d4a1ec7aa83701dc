// The instance metadata service of a local instance, as EC2 serves it at 169.254.169.254 (paths
// and behaviour after amazon-ec2-metadata-mock): IMDSv1 (plain GET) and IMDSv2 (a session token
// from PUT /latest/api/token, then sent as X-aws-ec2-metadata-token; a wrong or expired token is
// 401). Serves instance-id, instance-type, instance-life-cycle, placement/availability-zone and
// region, local-ipv4, hostname, the identity document, /latest/user-data, and the spot paths:
// spot/instance-action and spot/termination-time are 404 until a notice is issued, then
// {"action":"terminate","time":"<RFC 3339>"}.
//
// Imds::handle is a pure request -> response function (tests call it directly); the supervisor
// serves it over HTTP. Thread-safety: handle() may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/time_util.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::cloud::local {

struct ImdsRequest {
  std::string method;  // GET, PUT, ...
  std::string path;    // without the query
  std::map<std::string, std::string> headers;  // names lower-cased
};

struct ImdsResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
  std::map<std::string, std::string> headers;
};

struct ImdsInstance {
  std::string instance_id;
  std::string instance_type;
  std::string zone;
  std::string region;
  std::string private_ip;
  CapacityType capacity_type = CapacityType::kOnDemand;
  std::string user_data;
  TimePoint launch_time{};
};

class Imds {
 public:
  // `spot_notice` returns the interruption time once one is issued (read on every request).
  Imds(ImdsInstance instance, std::function<std::optional<TimePoint>()> spot_notice,
       const Clock& clock);

  ImdsResponse handle(const ImdsRequest& req);

 private:
  ImdsResponse issueToken(const ImdsRequest& req);
  // The body of a GET path, or nullopt for 404.
  std::optional<ImdsResponse> metadata(const std::string& path);

  ImdsInstance inst_;
  std::function<std::optional<TimePoint>()> spot_notice_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, TimePoint> tokens_;  // token -> expiry, guarded by mu_
};

}  // namespace berth::cloud::local
