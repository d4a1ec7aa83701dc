#include "common/json_parse.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace berth {
namespace {

using nlohmann::json;

enum class Outcome { kOk, kError, kTooDeep };

class Parser {
 public:
  Parser(std::string_view text, std::vector<std::string>* duplicates)
      : p_(text.data()), end_(text.data() + text.size()), duplicates_(duplicates) {}

  Outcome document(json& out, const JsonProjection* projection = nullptr) {
    // nlohmann skips a UTF-8 byte order mark at the start.
    if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xEF &&
        static_cast<unsigned char>(p_[1]) == 0xBB && static_cast<unsigned char>(p_[2]) == 0xBF) {
      p_ += 3;
    }
    Outcome o = value(out, 0, projection);
    if (o != Outcome::kOk) return o;
    skipSpace();
    // nlohmann reads a NUL byte where a token starts as the end of the input.
    return p_ == end_ || *p_ == '\0' ? Outcome::kOk : Outcome::kError;
  }

 private:
  void skipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  // `projection` null: the whole value.
  Outcome value(json& out, int depth, const JsonProjection* projection = nullptr) {
    skipSpace();
    if (p_ == end_) return Outcome::kError;
    switch (*p_) {
      case '{':
        return object(out, depth + 1, projection);
      case '[':
        return array(out, depth + 1, projection);
      case '"': {
        std::string s;
        if (!string(&s)) return Outcome::kError;
        out = std::move(s);
        return Outcome::kOk;
      }
      case 't':
        if (!literal("true")) return Outcome::kError;
        out = true;
        return Outcome::kOk;
      case 'f':
        if (!literal("false")) return Outcome::kError;
        out = false;
        return Outcome::kOk;
      case 'n':
        if (!literal("null")) return Outcome::kError;
        out = nullptr;
        return Outcome::kOk;
      default:
        return number(out) ? Outcome::kOk : Outcome::kError;
    }
  }

  // Steps over a container's opening bracket and the space after it; true when `close`
  // follows at once (an empty container), which it steps over too.
  bool openAndClose(char close) {
    ++p_;
    skipSpace();
    if (p_ < end_ && *p_ == close) {
      ++p_;
      return true;
    }
    return false;
  }

  Outcome object(json& out, int depth, const JsonProjection* projection) {
    if (depth > kMaxFastDepth) return Outcome::kTooDeep;
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    if (openAndClose('}')) return Outcome::kOk;
    std::string key;
    for (;;) {
      skipSpace();
      if (p_ == end_ || *p_ != '"') return Outcome::kError;
      key.clear();
      if (!string(&key)) return Outcome::kError;
      skipSpace();
      if (p_ == end_ || *p_ != ':') return Outcome::kError;
      ++p_;
      const JsonProjection* member = nullptr;
      if (projection) {
        auto m = projection->members.find(key);
        if (m == projection->members.end()) {
          if (!skipValue()) return Outcome::kError;
          if (Next n = next('}'); n != Next::kMore)
            return n == Next::kDone ? Outcome::kOk : Outcome::kError;
          continue;
        }
        if (!m->second.whole) member = &m->second;
      }
      // Our own serialisations list keys in order, so the hint at the end is usually right; a
      // repeated key finds its member and the later value replaces it, as in nlohmann.
      size_t before = members.size();
      auto it = members.emplace_hint(members.end(), std::move(key), nullptr);
      if (duplicates_ && members.size() == before) duplicates_->push_back(pathTo(it->first));
      if (duplicates_) path_.push_back({&it->first, 0});
      Outcome o = value(it->second, depth, member);
      if (duplicates_) path_.pop_back();
      if (o != Outcome::kOk) return o;
      if (Next n = next('}'); n != Next::kMore)
        return n == Next::kDone ? Outcome::kOk : Outcome::kError;
    }
  }

  Outcome array(json& out, int depth, const JsonProjection* projection) {
    if (depth > kMaxFastDepth) return Outcome::kTooDeep;
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    if (openAndClose(']')) return Outcome::kOk;
    for (;;) {
      items.emplace_back();
      if (duplicates_) path_.push_back({nullptr, items.size() - 1});
      Outcome o = value(items.back(), depth, projection);
      if (duplicates_) path_.pop_back();
      if (o != Outcome::kOk) return o;
      if (Next n = next(']'); n != Next::kMore)
        return n == Next::kDone ? Outcome::kOk : Outcome::kError;
    }
  }

  // After a member or an element: a ',' (another follows) or the container's `close`, consumed.
  enum class Next { kMore, kDone, kError };
  Next next(char close) {
    skipSpace();
    if (p_ == end_) return Next::kError;
    if (*p_ == ',' || *p_ == close) return *p_++ == ',' ? Next::kMore : Next::kDone;
    return Next::kError;
  }

  // Past one value without building it (projections only: the text is the server's own, so
  // this checks the nesting and the strings' ends, not every byte).
  bool skipValue() {
    skipSpace();
    if (p_ == end_) return false;
    int depth = 0;
    do {
      if (p_ == end_) return false;
      char c = *p_;
      if (c == '"') {
        for (++p_;; ++p_) {
          if (p_ >= end_) return false;
          if (*p_ == '\\') {
            ++p_;
          } else if (*p_ == '"') {
            break;
          }
        }
        ++p_;
      } else if (c == '{' || c == '[') {
        ++depth;
        ++p_;
      } else if (c == '}' || c == ']') {
        if (--depth < 0) return false;
        ++p_;
      } else if (depth == 0) {
        // A number or literal: up to the next delimiter.
        while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' && *p_ != '\n' &&
               *p_ != '\r' && *p_ != '\t') {
          ++p_;
        }
      } else {
        ++p_;
      }
    } while (depth > 0);
    return true;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // Four hex digits after "\u"; -1 when malformed.
  int hex4() {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    p_ += 4;
    return v;
  }
  static void appendUtf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  // One UTF-8 sequence starting at p_ (its first byte >= 0x80), validated as nlohmann does
  // (no overlong forms, no surrogates, nothing above U+10FFFF); returns its length or 0.
  size_t utf8Length() const {
    auto at = [&](ptrdiff_t i) -> unsigned {
      return p_ + i < end_ ? static_cast<unsigned char>(p_[i]) : 0u;
    };
    auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    unsigned c = at(0);
    if (in(c, 0xC2, 0xDF)) return in(at(1), 0x80, 0xBF) ? 2 : 0;
    if (c == 0xE0) return in(at(1), 0xA0, 0xBF) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF))
      return in(at(1), 0x80, 0xBF) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (c == 0xED) return in(at(1), 0x80, 0x9F) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (c == 0xF0)
      return in(at(1), 0x90, 0xBF) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    if (in(c, 0xF1, 0xF3))
      return in(at(1), 0x80, 0xBF) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    if (c == 0xF4)
      return in(at(1), 0x80, 0x8F) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    return 0;
  }

  // The string whose opening quote is at p_, unescaped into *out.
  bool string(std::string* out) {
    ++p_;  // '"'
    for (;;) {
      const char* run = p_;
      while (p_ < end_) {
        auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
      out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) return false;
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c >= 0x80) {
        // A byte that starts no valid sequence becomes U+FFFD, as Go's decoder (and so the
        // Kubernetes API server) reads it.
        size_t n = utf8Length();
        if (n == 0) {
          out->append("\xEF\xBF\xBD");
          ++p_;
          continue;
        }
        out->append(p_, n);
        p_ += n;
        continue;
      }
      // A backslash escape.
      if (++p_ == end_) return false;
      char e = *p_++;
      if (e != 'u') {
        static constexpr std::string_view kEscapes = "\"\\/bfnrt", kMeanings = "\"\\/\b\f\n\r\t";
        size_t at = kEscapes.find(e);
        if (at == std::string_view::npos) return false;
        out->push_back(kMeanings[at]);
        continue;
      }
      int cp = hex4();
      if (cp < 0) return false;
      uint32_t code = static_cast<uint32_t>(cp);
      if (code >= 0xD800 && code <= 0xDBFF) {
        // A high surrogate must be followed by an escaped low one.
        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
        p_ += 2;
        int lo = hex4();
        if (lo < 0xDC00 || lo > 0xDFFF) return false;
        code = 0x10000 + ((code - 0xD800) << 10) + (static_cast<uint32_t>(lo) - 0xDC00);
      } else if (code >= 0xDC00 && code <= 0xDFFF) {
        return false;
      }
      appendUtf8(out, code);
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(json& out) {
    const char* start = p_;
    bool negative = false;
    if (p_ < end_ && *p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ == end_ || !digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    bool integral = true;
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (integral) {
      if (negative) {
        int64_t v = 0;
        auto r = std::from_chars(start, p_, v);
        if (r.ec == std::errc() && r.ptr == p_) {
          out = v;
          return true;
        }
      } else {
        uint64_t v = 0;
        auto r = std::from_chars(start, p_, v);
        if (r.ec == std::errc() && r.ptr == p_) {
          out = v;
          return true;
        }
      }
      // Beyond 64 bits: a float, as nlohmann makes it.
    }
    // strtod, as nlohmann: an underflow is a (denormal or zero) float, an overflow an error.
    std::string token(start, p_);
    double d = std::strtod(token.c_str(), nullptr);
    if (!std::isfinite(d)) return false;
    out = d;
    return true;
  }

  // The path of member `key` of the innermost object: member names joined by '.', array
  // indexes as [i] ("spec.containers[0].name").
  std::string pathTo(const std::string& key) const {
    std::string path;
    for (const Step& step : path_) {
      if (step.key) {
        if (!path.empty()) path += '.';
        path += *step.key;
      } else {
        path += '[' + std::to_string(step.index) + ']';
      }
    }
    if (!path.empty()) path += '.';
    return path + key;
  }

  struct Step {
    const std::string* key;  // a member's name, or null for an array element
    size_t index;
  };
  const char* p_;
  const char* end_;
  std::vector<std::string>* duplicates_;
  std::vector<Step> path_;  // only kept when duplicates_ is set
};

}  // namespace

JsonProjection& JsonProjection::keep(std::initializer_list<std::string_view> path) {
  JsonProjection* node = this;
  for (std::string_view step : path) node = &node->members[std::string(step)];
  node->whole = true;
  return *this;
}

JsonProjection& JsonProjection::keepShape(std::initializer_list<std::string_view> path) {
  JsonProjection* node = this;
  for (std::string_view step : path) node = &node->members[std::string(step)];
  return *this;
}

bool parseJsonProjected(std::string_view text, const JsonProjection& projection,
                        nlohmann::json* out) {
  if (projection.whole) return parseJsonFast(text, out);
  return Parser(text, nullptr).document(*out, &projection) == Outcome::kOk;
}

bool parseJsonFast(std::string_view text, nlohmann::json* out,
                   std::vector<std::string>* duplicate_keys) {
  return Parser(text, duplicate_keys).document(*out) == Outcome::kOk;
}

nlohmann::json parseJson(std::string_view text) {
  json out;
  switch (Parser(text, nullptr).document(out)) {
    case Outcome::kOk:
      return out;
    case Outcome::kTooDeep:
      return json::parse(text.begin(), text.end(), nullptr, false);
    case Outcome::kError:
      break;
  }
  return json(json::value_t::discarded);
}

}  // namespace berth
