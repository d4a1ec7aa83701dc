// SPDY/3.1 framing, as kubectl's port-forward (and its SPDY exec fallback) speaks it:
// data frames, the control frames a server needs (SYN_STREAM, SYN_REPLY, RST_STREAM,
// SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE) and header blocks compressed with zlib and
// the SPDY/3 dictionary, one compression context per direction per session.
//
// Thread-safety: an Encoder or Decoder carries its session's zlib state; use each from one
// thread at a time.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::streaming::spdy {

enum class FrameType : uint16_t {
  kData = 0,  // not a control type: marks data frames in Frame::type
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;
inline constexpr uint8_t kFlagUnidirectional = 0x02;
// RST_STREAM status codes (SPDY/3 2.6.3).
inline constexpr uint32_t kRstProtocolError = 1;
inline constexpr uint32_t kRstInvalidStream = 2;
inline constexpr uint32_t kRstRefusedStream = 3;
inline constexpr uint32_t kRstCancel = 5;
inline constexpr uint32_t kRstInternalError = 6;
// Largest frame payload a Decoder accepts (the length field allows 16 MiB).
inline constexpr size_t kMaxFramePayload = 1 << 24;

// Names are lower-case; a value holding several values separates them with NUL, as on the wire.
using HeaderBlock = std::vector<std::pair<std::string, std::string>>;

struct Frame {
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data, SYN_*, RST, HEADERS, WINDOW_UPDATE; GOAWAY: last good id
  // RST_STREAM / GOAWAY: status; PING: id; WINDOW_UPDATE: delta; SYN_STREAM: associated id.
  uint32_t value = 0;
  HeaderBlock headers;  // SYN_STREAM, SYN_REPLY, HEADERS
  std::string data;     // data frames

  bool fin() const { return flags & kFlagFin; }
  // The first value of a header, or "".
  std::string header(std::string_view name) const;
};

// The SPDY/3 zlib dictionary (draft 3, section 2.6.10.1).
const std::string& headerDictionary();

class Encoder {
 public:
  Encoder();
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string data(uint32_t stream_id, std::string_view bytes, uint8_t flags = 0);
  std::string synStream(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags = 0);
  std::string synReply(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags = 0);
  std::string headers(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags = 0);
  std::string rstStream(uint32_t stream_id, uint32_t status);
  std::string ping(uint32_t id);
  std::string goAway(uint32_t last_good_stream_id, uint32_t status = 0);
  std::string windowUpdate(uint32_t stream_id, uint32_t delta);

  // The compressed form of a header block (exposed for tests).
  std::string compress(const HeaderBlock& headers);

 private:
  z_stream z_{};
  bool ok_ = false;
};

// Incremental decoder: feed bytes as they arrive, complete frames come out in order. Unknown
// control frame types are skipped, as the protocol asks. A malformed frame or header block sets
// error() and stops decoding (the session should then send GOAWAY and close).
class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  bool feed(std::string_view bytes, std::vector<Frame>* out);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  // Decompresses one header block with this session's context (exposed for tests).
  bool decompress(std::string_view compressed, HeaderBlock* out);

 private:
  bool fail(std::string message);
  bool parseControl(uint16_t type, uint8_t flags, std::string_view payload,
                    std::vector<Frame>* out);

  z_stream z_{};
  bool ok_ = false;
  std::string buf_;
  std::string error_;
};

}  // namespace berth::streaming::spdy
