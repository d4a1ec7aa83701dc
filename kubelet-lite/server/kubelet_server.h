// KubeletServer: the node agent's HTTPS endpoint (upstream kubelet's port 10250) through which
// the API server reaches containers:
//   GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&timestamps&previous&sinceSeconds
//       &sinceTime&limitBytes                        CRI log files, streamed
//   GET|POST /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty
//       WebSocket v5/v4.channel.k8s.io, or SPDY/3.1 with v4.channel.k8s.io streams
//   GET|POST /attach/{ns}/{pod}/{container}?stdout&stderr   the same protocols: the running
//       container's output from now until it stops (stdin is refused: not supported yet)
//   GET|POST /portForward/{ns}/{pod}                 SPDY/3.1, inside a WebSocket
//       (SPDY/3.1+portforward.k8s.io) or as a plain `Upgrade: SPDY/3.1`
//   GET /healthz
// Only clients whose TLS certificate chains to the cluster CA and carries the group
// system:masters (the API server's kubelet-client certificate) are served: no certificate is
// 401, another identity 403. The serving certificate is issued once under <state_dir>/pki by a
// CA local to the node (the API server does not verify kubelet certificates, as upstream's
// default).
//
// Containers and sandboxes are found through the runtime by their kLabelPod* labels (the running
// container, else the newest); logs are read from the files directly, so they outlive the
// container.
//
// Sessions (exec, port-forward, followed logs) each run on their own thread, so the request
// workers are never held by a long stream. stop() closes their connections and waits for them
// (up to 30 s), so the runtime only has to outlive the server.
// Thread-safety: start/stop from one thread; requests are served concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

struct KubeletServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 10250;  // 0 picks a free port (see KubeletServer::port)
  std::string state_dir;         // serving certificate under <state_dir>/pki
  std::string pods_dir;          // <pods_dir>/<ns>_<pod>_<uid>/<container>/<n>.log
  std::string client_ca_pem;     // the cluster CA (from the agent's kubeconfig)
  std::vector<std::string> sans;  // node addresses and names for the serving certificate
};

// What a node agent passes: every address on `port` (0 picks one; read it back with port() for
// daemonEndpoints), state under <root>/<node>/kubelet, logs from <root>/<node>/pods (the layout
// in runtime.h), the node's IP and name in the serving certificate, and the cluster CA from the
// agent's kubeconfig as the client CA.
KubeletServerOptions nodeServerOptions(const std::string& root_dir, const std::string& node_name,
                                       const std::string& node_ip, int port,
                                       std::string cluster_ca_pem);

class KubeletServer {
 public:
  // `runtime` must outlive the server.
  static Result<std::unique_ptr<KubeletServer>> create(KubeletServerOptions options,
                                                       ContainerRuntime* runtime);
  virtual ~KubeletServer() = default;
  virtual Status start() = 0;
  virtual void stop() = 0;
  virtual int port() const = 0;
};

}  // namespace berth::kubelet
