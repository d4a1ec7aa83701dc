// RFC 6455 helpers for serving WebSocket on top of UpgradedConnection (kubectl exec, attach,
// port-forward): the handshake accept value, a frame encoder and an incremental frame decoder.
// Framing only; the caller owns the connection and the subprotocol (e.g. v4.channel.k8s.io).
// Thread-safety: pure functions; one FrameDecoder per connection, used from one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::http::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string acceptKey(std::string_view sec_websocket_key);

// One frame. Servers send unmasked frames (mask_key == 0 and masked == false); clients must
// mask, which tests use to play the client.
std::string encodeFrame(Opcode opcode, std::string_view payload, bool fin = true,
                        bool masked = false, uint32_t mask_key = 0);
// A close frame with a status code (1000 normal) and optional reason.
std::string encodeClose(uint16_t code, std::string_view reason = {});

struct Message {
  Opcode opcode;        // kText, kBinary, kClose, kPing or kPong (never kContinuation)
  std::string payload;  // for kClose: the 2-byte code then the reason, as sent
  uint16_t closeCode() const;  // 1005 (no status) when the close payload is empty
};

// Incremental decoder. Feed bytes as they arrive; complete messages come out in order,
// fragmented data messages reassembled, control frames delivered as they arrive even between
// fragments. Any protocol violation sets error() and stops decoding (answer with close 1002,
// or 1009 for a message over the size limit).
class FrameDecoder {
 public:
  // require_masked: true when decoding client frames (RFC 6455 5.1).
  explicit FrameDecoder(bool require_masked = true, size_t max_message_bytes = 16 << 20)
      : require_masked_(require_masked), max_message_bytes_(max_message_bytes) {}

  // Appends decoded messages to *out. Returns false once the stream is invalid.
  bool feed(std::string_view data, std::vector<Message>* out);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  uint16_t errorCloseCode() const { return error_code_; }

 private:
  bool fail(uint16_t code, std::string message);

  bool require_masked_;
  size_t max_message_bytes_;
  std::string buf_;
  bool in_fragmented_ = false;
  Opcode fragment_opcode_ = Opcode::kBinary;
  std::string fragments_;
  std::string error_;
  uint16_t error_code_ = 0;
};

}  // namespace berth::http::ws
