#include "apiserver/streaming/spdy.h"

#include <cstring>

namespace berth::streaming::spdy {

namespace {

constexpr uint16_t kVersion = 3;

void put32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint32_t get32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// Control frame header: C=1 | version(15) | type(16) | flags(8) | length(24).
std::string controlFrame(FrameType type, uint8_t flags, std::string_view payload) {
  std::string out;
  out.reserve(8 + payload.size());
  put32(&out, 0x80000000u | (static_cast<uint32_t>(kVersion) << 16) | static_cast<uint16_t>(type));
  put32(&out, (static_cast<uint32_t>(flags) << 24) | static_cast<uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

std::string serializeHeaders(const HeaderBlock& headers) {
  std::string raw;
  put32(&raw, static_cast<uint32_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    put32(&raw, static_cast<uint32_t>(name.size()));
    raw += name;
    put32(&raw, static_cast<uint32_t>(value.size()));
    raw += value;
  }
  return raw;
}

bool parseHeaders(std::string_view raw, HeaderBlock* out) {
  if (raw.size() < 4) return false;
  uint32_t n = get32(raw, 0);
  size_t pos = 4;
  for (uint32_t i = 0; i < n; ++i) {
    std::string parts[2];
    for (auto& part : parts) {
      if (raw.size() - pos < 4) return false;
      uint32_t len = get32(raw, pos);
      pos += 4;
      if (raw.size() - pos < len) return false;
      part.assign(raw.substr(pos, len));
      pos += len;
    }
    if (parts[0].empty()) return false;
    out->emplace_back(std::move(parts[0]), std::move(parts[1]));
  }
  return pos == raw.size();
}

std::string buildDictionary() {
  // Words prefixed by their 32-bit length, then a run of plain text.
  static const char* const kWords[] = {
      "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
      "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
      "cache-control", "connection", "content-base", "content-encoding", "content-language",
      "content-length", "content-location", "content-md5", "content-range", "content-type",
      "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
      "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
      "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range",
      "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
      "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status",
      "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"};
  static const char* const kTail[] = {
      "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
      "203 Non-Authoritative Information", "204 No Content", "301 Moved Permanently",
      "400 Bad Request", "401 Unauthorized", "403 Forbidden", "404 Not Found",
      "500 Internal Server Error", "501 Not Implemented", "503 Service Unavailable",
      "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
      "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
      "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
      "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
      "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."};
  std::string dict;
  for (const char* w : kWords) {
    put32(&dict, static_cast<uint32_t>(std::strlen(w)));
    dict += w;
  }
  for (const char* t : kTail) dict += t;
  return dict;
}

}  // namespace

std::string Frame::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v.substr(0, v.find('\0'));
  }
  return "";
}

const std::string& headerDictionary() {
  static const std::string dict = buildDictionary();
  return dict;
}

// ---- Encoder ----

Encoder::Encoder() {
  ok_ = deflateInit(&z_, Z_DEFAULT_COMPRESSION) == Z_OK;
  if (ok_) {
    const std::string& d = headerDictionary();
    ok_ = deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(d.data()),
                               static_cast<uInt>(d.size())) == Z_OK;
  }
}

Encoder::~Encoder() { deflateEnd(&z_); }

std::string Encoder::compress(const HeaderBlock& headers) {
  std::string raw = serializeHeaders(headers);
  std::string out;
  if (!ok_) return out;
  z_.next_in = reinterpret_cast<Bytef*>(raw.data());
  z_.avail_in = static_cast<uInt>(raw.size());
  char buf[4096];
  do {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof buf;
    if (deflate(&z_, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
      ok_ = false;
      return "";
    }
    out.append(buf, sizeof buf - z_.avail_out);
  } while (z_.avail_out == 0);
  return out;
}

std::string Encoder::data(uint32_t stream_id, std::string_view bytes, uint8_t flags) {
  std::string out;
  out.reserve(8 + bytes.size());
  put32(&out, stream_id & 0x7FFFFFFFu);
  put32(&out, (static_cast<uint32_t>(flags) << 24) | static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
  return out;
}

std::string Encoder::synStream(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags) {
  std::string payload;
  put32(&payload, stream_id & 0x7FFFFFFFu);
  put32(&payload, 0);  // associated stream
  payload.push_back(0);  // priority
  payload.push_back(0);  // slot
  payload += compress(headers);
  return controlFrame(FrameType::kSynStream, flags, payload);
}

std::string Encoder::synReply(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags) {
  std::string payload;
  put32(&payload, stream_id & 0x7FFFFFFFu);
  payload += compress(headers);
  return controlFrame(FrameType::kSynReply, flags, payload);
}

std::string Encoder::headers(uint32_t stream_id, const HeaderBlock& headers, uint8_t flags) {
  std::string payload;
  put32(&payload, stream_id & 0x7FFFFFFFu);
  payload += compress(headers);
  return controlFrame(FrameType::kHeaders, flags, payload);
}

std::string Encoder::rstStream(uint32_t stream_id, uint32_t status) {
  std::string payload;
  put32(&payload, stream_id & 0x7FFFFFFFu);
  put32(&payload, status);
  return controlFrame(FrameType::kRstStream, 0, payload);
}

std::string Encoder::ping(uint32_t id) {
  std::string payload;
  put32(&payload, id);
  return controlFrame(FrameType::kPing, 0, payload);
}

std::string Encoder::goAway(uint32_t last_good_stream_id, uint32_t status) {
  std::string payload;
  put32(&payload, last_good_stream_id & 0x7FFFFFFFu);
  put32(&payload, status);
  return controlFrame(FrameType::kGoAway, 0, payload);
}

std::string Encoder::windowUpdate(uint32_t stream_id, uint32_t delta) {
  std::string payload;
  put32(&payload, stream_id & 0x7FFFFFFFu);
  put32(&payload, delta & 0x7FFFFFFFu);
  return controlFrame(FrameType::kWindowUpdate, 0, payload);
}

// ---- Decoder ----

Decoder::Decoder() { ok_ = inflateInit(&z_) == Z_OK; }

Decoder::~Decoder() { inflateEnd(&z_); }

bool Decoder::fail(std::string message) {
  error_ = std::move(message);
  buf_.clear();
  return false;
}

bool Decoder::decompress(std::string_view compressed, HeaderBlock* out) {
  if (!ok_) return false;
  std::string raw;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z_.avail_in = static_cast<uInt>(compressed.size());
  char buf[4096];
  while (true) {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof buf;
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      const std::string& d = headerDictionary();
      if (inflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(d.data()),
                               static_cast<uInt>(d.size())) != Z_OK)
        return false;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    raw.append(buf, sizeof buf - z_.avail_out);
    if (raw.size() > kMaxFramePayload) return false;
    if (z_.avail_in == 0 && z_.avail_out != 0) break;
    if (rc == Z_BUF_ERROR && z_.avail_out != 0) break;
  }
  return parseHeaders(raw, out);
}

bool Decoder::parseControl(uint16_t type, uint8_t flags, std::string_view p,
                           std::vector<Frame>* out) {
  Frame f;
  f.type = static_cast<FrameType>(type);
  f.flags = flags;
  auto need = [&](size_t n) { return p.size() >= n; };
  switch (f.type) {
    case FrameType::kSynStream:
      if (!need(10)) return fail("short SYN_STREAM");
      f.stream_id = get32(p, 0) & 0x7FFFFFFFu;
      f.value = get32(p, 4) & 0x7FFFFFFFu;
      if (!decompress(p.substr(10), &f.headers)) return fail("bad SYN_STREAM header block");
      break;
    case FrameType::kSynReply:
    case FrameType::kHeaders:
      if (!need(4)) return fail("short SYN_REPLY/HEADERS");
      f.stream_id = get32(p, 0) & 0x7FFFFFFFu;
      if (!decompress(p.substr(4), &f.headers)) return fail("bad header block");
      break;
    case FrameType::kRstStream:
    case FrameType::kGoAway:
    case FrameType::kWindowUpdate:
      if (!need(8)) return fail("short control frame");
      f.stream_id = get32(p, 0) & 0x7FFFFFFFu;
      f.value = get32(p, 4);
      break;
    case FrameType::kPing:
      if (!need(4)) return fail("short PING");
      f.value = get32(p, 0);
      break;
    case FrameType::kSettings:
      break;  // accepted and ignored: nothing here depends on the peer's settings
    default:
      return true;  // unknown control frames are ignored
  }
  out->push_back(std::move(f));
  return true;
}

bool Decoder::feed(std::string_view bytes, std::vector<Frame>* out) {
  if (failed()) return false;
  buf_.append(bytes);
  size_t pos = 0;
  while (buf_.size() - pos >= 8) {
    uint32_t w0 = get32(buf_, pos);
    uint32_t w1 = get32(buf_, pos + 4);
    uint8_t flags = static_cast<uint8_t>(w1 >> 24);
    size_t len = w1 & 0x00FFFFFFu;
    if (buf_.size() - pos < 8 + len) break;
    std::string_view payload = std::string_view(buf_).substr(pos + 8, len);
    if (w0 & 0x80000000u) {
      uint16_t version = static_cast<uint16_t>((w0 >> 16) & 0x7FFF);
      if (version != kVersion) return fail("unsupported SPDY version " + std::to_string(version));
      if (!parseControl(static_cast<uint16_t>(w0 & 0xFFFF), flags, payload, out)) return false;
    } else {
      Frame f;
      f.type = FrameType::kData;
      f.flags = flags;
      f.stream_id = w0 & 0x7FFFFFFFu;
      f.data.assign(payload);
      out->push_back(std::move(f));
    }
    pos += 8 + len;
  }
  buf_.erase(0, pos);
  return true;
}

}  // namespace berth::streaming::spdy
