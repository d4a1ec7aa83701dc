#include "apiserver/http/websocket.h"

#include <openssl/evp.h>

#include "common/strings.h"

namespace berth::http::ws {

namespace {
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool isControl(uint8_t op) { return op & 0x8; }
bool isKnown(uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 || op == 0xA;
}
}  // namespace

std::string acceptKey(std::string_view key) {
  std::string input(trim(key));
  input += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1) return "";
  return base64Encode(std::string_view(reinterpret_cast<char*>(digest), len));
}

std::string encodeFrame(Opcode opcode, std::string_view payload, bool fin, bool masked,
                        uint32_t mask_key) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(opcode));
  uint8_t mask_bit = masked ? 0x80 : 0x00;
  size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (n <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((n >> 8) & 0xFF);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xFF);
  }
  if (!masked) {
    out.append(payload);
    return out;
  }
  unsigned char mask[4] = {static_cast<unsigned char>(mask_key >> 24),
                           static_cast<unsigned char>(mask_key >> 16),
                           static_cast<unsigned char>(mask_key >> 8),
                           static_cast<unsigned char>(mask_key)};
  out.append(reinterpret_cast<char*>(mask), 4);
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

std::string encodeClose(uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason.substr(0, 123));  // control payloads are at most 125 bytes
  return encodeFrame(Opcode::kClose, payload);
}

uint16_t Message::closeCode() const {
  if (payload.size() < 2) return 1005;
  return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                               static_cast<uint8_t>(payload[1]));
}

bool FrameDecoder::fail(uint16_t code, std::string message) {
  error_code_ = code;
  error_ = std::move(message);
  buf_.clear();
  return false;
}

bool FrameDecoder::feed(std::string_view data, std::vector<Message>* out) {
  if (failed()) return false;
  buf_.append(data);
  size_t pos = 0;
  while (true) {
    size_t avail = buf_.size() - pos;
    if (avail < 2) break;
    auto b0 = static_cast<uint8_t>(buf_[pos]);
    auto b1 = static_cast<uint8_t>(buf_[pos + 1]);
    bool fin = b0 & 0x80;
    uint8_t op = b0 & 0x0F;
    if (b0 & 0x70) return fail(1002, "reserved bits set");
    if (!isKnown(op)) return fail(1002, "unknown opcode");
    bool masked = b1 & 0x80;
    if (require_masked_ && !masked) return fail(1002, "client frame not masked");
    uint64_t len = b1 & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (static_cast<uint64_t>(static_cast<uint8_t>(buf_[pos + 2])) << 8) |
            static_cast<uint8_t>(buf_[pos + 3]);
      header = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(buf_[pos + 2 + i]);
      if (len >> 63) return fail(1002, "invalid payload length");
      header = 10;
    }
    if (isControl(op) && (!fin || len > 125)) return fail(1002, "invalid control frame");
    if (len > max_message_bytes_ ||
        (!isControl(op) && fragments_.size() + len > max_message_bytes_)) {
      return fail(1009, "message too big");
    }
    if (masked) header += 4;
    if (avail < header + len) break;
    std::string payload = buf_.substr(pos + header, static_cast<size_t>(len));
    if (masked) {
      const char* mask = buf_.data() + pos + header - 4;
      for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i % 4];
    }
    pos += header + static_cast<size_t>(len);

    if (isControl(op)) {
      if (op == 0x8 && payload.size() == 1) return fail(1002, "invalid close payload");
      out->push_back({static_cast<Opcode>(op), std::move(payload)});
      continue;
    }
    if (op == 0x0) {
      if (!in_fragmented_) return fail(1002, "continuation without a start frame");
      fragments_ += payload;
      if (fin) {
        out->push_back({fragment_opcode_, std::move(fragments_)});
        fragments_.clear();
        in_fragmented_ = false;
      }
      continue;
    }
    if (in_fragmented_) return fail(1002, "new data frame inside a fragmented message");
    if (fin) {
      out->push_back({static_cast<Opcode>(op), std::move(payload)});
    } else {
      in_fragmented_ = true;
      fragment_opcode_ = static_cast<Opcode>(op);
      fragments_ = std::move(payload);
    }
  }
  buf_.erase(0, pos);
  return true;
}

}  // namespace berth::http::ws
