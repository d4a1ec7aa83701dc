#include "apiserver/http/request_parser.h"

#include <cctype>

#include "common/strings.h"

namespace berth::http {

namespace {

bool isTokenChar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

// Header values may hold visible characters, spaces, tabs and obs-text; no other controls.
bool isValidValue(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

bool parseSize(std::string_view s, int base, size_t* out) {
  if (s.empty() || s.size() > 16) return false;
  size_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

bool hasToken(std::string_view list, std::string_view token) {
  for (const auto& part : split(list, ',')) {
    if (toLower(trim(part)) == token) return true;
  }
  return false;
}

}  // namespace

void parseQuery(std::string_view raw, std::multimap<std::string, std::string>* out) {
  if (raw.empty()) return;
  for (const auto& part : split(raw, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos) {
      out->emplace(urlDecode(part, true), "");
    } else {
      out->emplace(urlDecode(std::string_view(part).substr(0, eq), true),
                   urlDecode(std::string_view(part).substr(eq + 1), true));
    }
  }
}

void RequestParser::reset() {
  phase_ = Phase::kRequestLine;
  req_ = Request();
  header_bytes_ = 0;
  body_remaining_ = 0;
  body_seen_ = 0;
  keep_alive_ = true;
  http10_ = false;
  expect_continue_ = false;
  body_started_ = false;
  error_status_ = 0;
  error_message_.clear();
}

RequestParser::State RequestParser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return State::kError;
}

bool RequestParser::parseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method) || target.empty()) return false;
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  if (version == "HTTP/1.1") {
    http10_ = false;
  } else if (version == "HTTP/1.0") {
    http10_ = true;
  } else {
    return false;
  }
  req_.method = std::string(method);
  req_.target = std::string(target);
  std::string_view path = target;
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    path = target.substr(0, q);
    req_.raw_query = std::string(target.substr(q + 1));
    parseQuery(req_.raw_query, &req_.query);
  }
  // Absolute-form targets ("http://host/path") are legal for proxies; keep only the path.
  if (!path.empty() && path[0] != '/' && path != "*") {
    size_t scheme = path.find("://");
    if (scheme == std::string_view::npos) return false;
    size_t slash = path.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  req_.path = urlDecode(path, false);
  return true;
}

bool RequestParser::parseHeaderLine(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  if (!isToken(name)) return false;  // also rejects "Name :" and obsolete line folding
  std::string_view value = trim(line.substr(colon + 1));
  if (!isValidValue(value)) return false;
  std::string key = toLower(name);
  auto it = req_.headers.find(key);
  if (it == req_.headers.end()) {
    req_.headers.emplace(std::move(key), std::string(value));
  } else {
    if (key == "content-length") return it->second == value;  // repeats must agree
    if (key == "host") return false;
    it->second += ", ";
    it->second += value;
  }
  return true;
}

RequestParser::State RequestParser::finishHeaders() {
  auto& h = req_.headers;
  auto conn = h.find("connection");
  if (http10_) {
    keep_alive_ = conn != h.end() && hasToken(conn->second, "keep-alive");
  } else {
    keep_alive_ = conn == h.end() || !hasToken(conn->second, "close");
  }
  auto te = h.find("transfer-encoding");
  auto cl = h.find("content-length");
  auto expect = h.find("expect");
  if (expect != h.end() && toLower(expect->second) == "100-continue" && !http10_) {
    expect_continue_ = true;
  }
  if (te != h.end()) {
    // Both framings at once is how requests get smuggled; refuse it.
    if (cl != h.end()) return fail(400, "both Transfer-Encoding and Content-Length");
    if (toLower(trim(te->second)) != "chunked") return fail(501, "unsupported transfer-encoding");
    phase_ = Phase::kChunkSize;
    return State::kNeedMore;
  }
  if (cl != h.end()) {
    size_t n;
    if (!parseSize(cl->second, 10, &n)) return fail(400, "invalid Content-Length");
    if (n > 0) {
      body_remaining_ = n;
      if (n > max_body_bytes_) req_.body_too_large = true;
      else req_.body.reserve(n);
      phase_ = Phase::kBody;
      return State::kNeedMore;
    }
  }
  expect_continue_ = false;
  phase_ = Phase::kDone;
  return State::kDone;
}

void RequestParser::appendBody(std::string_view data) {
  body_started_ = true;
  body_seen_ += data.size();
  if (req_.body_too_large) return;
  if (body_seen_ > max_body_bytes_) {
    req_.body_too_large = true;
    req_.body.clear();
    req_.body.shrink_to_fit();
    return;
  }
  req_.body.append(data);
}

RequestParser::State RequestParser::parse(std::string_view data, size_t* consumed) {
  size_t pos = 0;
  auto finish = [&](State s) {
    *consumed = pos;
    return s;
  };
  while (true) {
    switch (phase_) {
      case Phase::kRequestLine:
      case Phase::kHeaders:
      case Phase::kChunkSize:
      case Phase::kChunkDataEnd:
      case Phase::kTrailers: {
        size_t nl = data.find('\n', pos);
        bool in_head = phase_ == Phase::kRequestLine || phase_ == Phase::kHeaders;
        if (nl == std::string_view::npos) {
          size_t pending = data.size() - pos;
          if (in_head && header_bytes_ + pending > max_header_bytes_) {
            return finish(fail(431, "request header fields too large"));
          }
          if (!in_head && pending > 4096) return finish(fail(400, "chunk line too long"));
          return finish(State::kNeedMore);
        }
        std::string_view line = data.substr(pos, nl - pos);
        size_t line_bytes = nl + 1 - pos;
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (in_head) {
          header_bytes_ += line_bytes;
          if (header_bytes_ > max_header_bytes_) {
            return finish(fail(431, "request header fields too large"));
          }
        }
        if (phase_ == Phase::kRequestLine) {
          // RFC 9112 2.2: ignore at least one empty line before the request line.
          if (line.empty() && header_bytes_ <= 4) continue;
          if (!parseRequestLine(line)) return finish(fail(400, "malformed request line"));
          phase_ = Phase::kHeaders;
        } else if (phase_ == Phase::kHeaders) {
          if (line.empty()) {
            State s = finishHeaders();
            if (s != State::kNeedMore) return finish(s);
          } else if (!parseHeaderLine(line)) {
            return finish(fail(400, "malformed header line"));
          }
        } else if (phase_ == Phase::kChunkSize) {
          std::string_view size_text = line.substr(0, line.find(';'));
          size_t n;
          if (!parseSize(trim(size_text), 16, &n)) return finish(fail(400, "malformed chunk size"));
          body_started_ = true;
          if (n == 0) {
            phase_ = Phase::kTrailers;
          } else {
            body_remaining_ = n;
            phase_ = Phase::kChunkData;
          }
        } else if (phase_ == Phase::kChunkDataEnd) {
          if (!line.empty()) return finish(fail(400, "malformed chunk"));
          phase_ = Phase::kChunkSize;
        } else {  // trailers: ignored, the empty line ends the request
          if (line.empty()) {
            phase_ = Phase::kDone;
            return finish(State::kDone);
          }
          header_bytes_ += line_bytes;
          if (header_bytes_ > max_header_bytes_) {
            return finish(fail(431, "request header fields too large"));
          }
        }
        break;
      }
      case Phase::kBody:
      case Phase::kChunkData: {
        size_t avail = data.size() - pos;
        if (avail == 0) return finish(State::kNeedMore);
        size_t take = avail < body_remaining_ ? avail : body_remaining_;
        appendBody(data.substr(pos, take));
        pos += take;
        body_remaining_ -= take;
        if (body_remaining_ == 0) {
          if (phase_ == Phase::kBody) {
            phase_ = Phase::kDone;
            return finish(State::kDone);
          }
          phase_ = Phase::kChunkDataEnd;
        }
        break;
      }
      case Phase::kDone:
        return finish(State::kDone);
    }
  }
}

}  // namespace berth::http
