// How an exec session talks to its client: the Kubernetes channel protocol over WebSocket, or
// SPDY/3.1 streams (kubectl's fallback). Internal to kubelet-lite/server.
// Thread-safety: used by the one session thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/streaming/channel.h"

namespace berth::kubelet {

// What the client sent, decoded.
struct ClientInput {
  std::string stdin_data;
  bool stdin_eof = false;
  std::vector<streaming::channel::TerminalSize> resizes;
  bool gone = false;    // closed, or broke the protocol
  std::string reply;    // bytes to send back at once (pongs, stream replies)
};

class ExecTransport {
 public:
  virtual ~ExecTransport() = default;
  virtual void decode(std::string_view bytes, ClientInput* in) = 0;
  // Whether the client has opened everything the command needs (SPDY opens one stream per
  // stdio channel; the command must not start before its output has somewhere to go).
  virtual bool ready() const = 0;
  // Output on stream kStdout or kStderr.
  virtual std::string output(uint8_t stream, std::string_view data) = 0;
  // The final Status (JSON) and the end of the session.
  virtual std::string finish(const std::string& status_json) = 0;
};

std::unique_ptr<ExecTransport> webSocketTransport();
// `want_*`: the streams the request asked for (their SYN_STREAMs are awaited).
std::unique_ptr<ExecTransport> spdyTransport(bool want_stdin, bool want_stdout, bool want_stderr,
                                             bool tty);

}  // namespace berth::kubelet
