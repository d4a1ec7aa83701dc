// Container probes as upstream's kubelet runs them: a ProbeSpec parsed from a container's
// livenessProbe / readinessProbe / startupProbe (with the API's defaults for fields left out,
// named ports resolved against the container's ports), and runProbe() which performs one attempt
// (exec through the runtime; httpGet and tcpSocket dialled through the runtime into the pod's
// network namespace, or to httpGet.host from the agent's own network when a host is named).
// Outcomes and messages follow upstream: exec succeeds on exit code 0 and a failure reports the
// command's output; httpGet succeeds on a status in [200, 400) ("HTTP probe failed with
// statuscode: 503"); tcpSocket succeeds when the connection opens. A probe that could not be run
// at all (gRPC, which this agent does not speak) is kUnknown, which counts neither way.
// Thread-safety: parseProbe is pure; runProbe may be called concurrently (it blocks up to the
// probe's timeout).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

using json = nlohmann::json;

enum class ProbeKind { kLiveness, kReadiness, kStartup };
// "Liveness", "Readiness", "Startup" (event messages: "Liveness probe failed: ...").
const char* probeKindName(ProbeKind k);
// "livenessProbe", ... (the container field).
const char* probeField(ProbeKind k);

enum class ProbeResult { kSuccess, kFailure, kUnknown };

struct ProbeSpec {
  enum class Handler { kExec, kHttpGet, kTcpSocket, kGrpc };
  Handler handler = Handler::kExec;
  std::vector<std::string> command;  // exec
  std::string host;                  // httpGet/tcpSocket; empty: the pod
  int port = 0;                      // httpGet/tcpSocket/grpc, resolved to a number
  std::string path = "/";            // httpGet
  std::string scheme = "HTTP";       // httpGet: HTTP or HTTPS
  std::vector<std::pair<std::string, std::string>> headers;  // httpGet.httpHeaders
  std::chrono::seconds initial_delay{0};
  std::chrono::seconds period{10};
  std::chrono::seconds timeout{1};
  int success_threshold = 1;
  int failure_threshold = 3;
  // probe.terminationGracePeriodSeconds (liveness/startup): overrides the pod's when killing.
  std::optional<std::chrono::seconds> termination_grace;
};

// Parses container[probeField(kind)]; kNotFound when the container has no such probe, kInvalid
// (naming the field) when it is malformed: no or several handlers, a port that is neither a
// number in 1..65535 nor one of the container's port names, negative durations, a
// successThreshold other than 1 on a liveness or startup probe.
Result<ProbeSpec> parseProbe(const json& container, ProbeKind kind);

struct ProbeTarget {
  std::string container_id;
  std::string sandbox_id;
  std::string pod_ip;  // Host header and messages when httpGet.host is empty
};

struct ProbeOutcome {
  ProbeResult result = ProbeResult::kUnknown;
  std::string message;  // failure output / error text; empty on success
};

// One attempt, bounded by spec.timeout.
ProbeOutcome runProbe(ContainerRuntime* runtime, const ProbeTarget& target, const ProbeSpec& spec);

// Helpers exposed for tests: the HTTP status of a response's first line (-1 when malformed),
// and the request runProbe sends.
int parseHttpStatus(const std::string& response_head);
std::string buildHttpRequest(const ProbeSpec& spec, const std::string& host_header);

}  // namespace berth::kubelet
