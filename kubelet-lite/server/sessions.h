// The kubelet's long-lived streams, each on its own thread once the connection is upgraded.
// Internal to kubelet-lite/server.
#pragma once

#include <memory>
#include <string>

#include "apiserver/http/server.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

// exec over WebSocket (v4/v5.channel.k8s.io) or SPDY/3.1 (v4.channel.k8s.io streams): starts
// `request` (its fds are filled in here) once the client's streams are there, pipes the
// process's stdio, applies resizes, ends with the exit Status on the error stream. A start
// failure goes out on the error stream too.
void startExecSession(std::shared_ptr<http::UpgradedConnection> conn, ContainerRuntime* runtime,
                      ExecRequest request, bool want_stdin, bool want_stdout, bool want_stderr,
                      bool spdy);

// port-forward over SPDY/3.1 (inside WebSocket binary messages when `websocket`): pairs of
// error/data streams per requestID, each data stream piped to a connection in the sandbox.
void startPortForwardSession(std::shared_ptr<http::UpgradedConnection> conn,
                             ContainerRuntime* runtime, std::string sandbox_id, std::string pod,
                             bool websocket);

}  // namespace berth::kubelet
