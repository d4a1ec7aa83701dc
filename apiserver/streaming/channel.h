// The Kubernetes channel protocols over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`)
// used by exec and attach: every binary message starts with a stream id byte (0 stdin,
// 1 stdout, 2 stderr, 3 error/status, 4 resize); v5 adds a close signal [255, id] that ends
// one stream (kubectl sends [255, 0] when its stdin reaches EOF).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::streaming::channel {

inline constexpr uint8_t kStdin = 0;
inline constexpr uint8_t kStdout = 1;
inline constexpr uint8_t kStderr = 2;
inline constexpr uint8_t kError = 3;
inline constexpr uint8_t kResize = 4;
inline constexpr uint8_t kClose = 255;

inline constexpr std::string_view kV5 = "v5.channel.k8s.io";
inline constexpr std::string_view kV4 = "v4.channel.k8s.io";
// kubectl port-forward over WebSocket: a SPDY/3.1 byte stream inside binary messages.
inline constexpr std::string_view kSpdyPortForward = "SPDY/3.1+portforward.k8s.io";

// Picks the first protocol in `supported` (server preference) that the client offered in its
// Sec-WebSocket-Protocol header(s) (comma-separated). "" when none matches.
std::string negotiate(std::string_view offered, const std::vector<std::string_view>& supported);

// A WebSocket binary frame (server to client, unmasked) carrying `data` on stream `id`.
std::string frame(uint8_t id, std::string_view data);

// The metav1.Status sent on the error stream when a command ends: Success for 0, otherwise
// reason NonZeroExitCode with an ExitCode cause (kubectl exits with that code).
std::string exitStatus(int exit_code);
// A Failure Status for a stream that could not run (message shown by kubectl).
std::string failureStatus(std::string_view message);

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
};
// Parses a resize message body {"Width":W,"Height":H}. False when malformed.
bool parseResize(std::string_view json_text, TerminalSize* out);

}  // namespace berth::streaming::channel
