// The kubelet's long-lived streams, each on its own thread once the connection is upgraded.
// Internal to kubelet-lite/server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "apiserver/http/server.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

// Held by every session thread for its whole life, so that KubeletServer::stop() can wait for
// the sessions (which use the runtime) to end after it closed their connections.
using SessionToken = std::shared_ptr<void>;

class SessionCounter {
 public:
  SessionToken acquire() {
    auto state = state_;
    {
      std::lock_guard<std::mutex> l(state->mu);
      ++state->active;
    }
    return SessionToken(nullptr, [state](void*) {
      std::lock_guard<std::mutex> l(state->mu);
      if (--state->active == 0) state->idle.notify_all();
    });
  }
  // Returns false when sessions were still running at the deadline.
  bool waitIdle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(state_->mu);
    return state_->idle.wait_for(l, timeout, [&] { return state_->active == 0; });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable idle;
    int active = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// exec over WebSocket (v4/v5.channel.k8s.io) or SPDY/3.1 (v4.channel.k8s.io streams): starts
// `request` (its fds are filled in here) once the client's streams are there, pipes the
// process's stdio, applies resizes, ends with the exit Status on the error stream. A start
// failure goes out on the error stream too.
void startExecSession(std::shared_ptr<http::UpgradedConnection> conn, ContainerRuntime* runtime,
                      ExecRequest request, bool want_stdin, bool want_stdout, bool want_stderr,
                      bool spdy, SessionToken token);

// attach: a handle on the running container `request.container_id` whose output (from now
// on) goes to request.stdout_fd / stderr_fd until the container stops; wait() returns 0 then,
// kill() detaches. With request.stdin_fd >= 0 its input goes to the container's stdin
// (ContainerRuntime::attachStdin; its error, e.g. a container without stdin: true, is returned).
Result<std::unique_ptr<ExecProcess>> attachToContainer(ContainerRuntime* runtime,
                                                       const ExecRequest& request);

// port-forward over SPDY/3.1 (inside WebSocket binary messages when `websocket`): pairs of
// error/data streams per requestID, each data stream piped to a connection in the sandbox.
void startPortForwardSession(std::shared_ptr<http::UpgradedConnection> conn,
                             ContainerRuntime* runtime, std::string sandbox_id, std::string pod,
                             bool websocket, SessionToken token);

}  // namespace berth::kubelet
