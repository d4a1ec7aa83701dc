// Kubernetes protobuf <-> JSON, driven by the schema's field numbers. See protobuf.h.
#include "apiserver/schema/protobuf.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "apiserver/schema/proto_wire.h"
#include "apiserver/schema/schema.h"
#include "common/strings.h"

namespace berth::apiserver::schema {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 100;

using wire::kEndGroup;
using wire::kFixed32;
using wire::kFixed64;
using wire::kLength;
using wire::kStartGroup;
using wire::kVarint;
using wire::putBytes;
using wire::putTag;
using wire::putVarint;

const char* wireName(int wt) {
  switch (wt) {
    case kVarint: return "varint";
    case kFixed64: return "fixed64";
    case kLength: return "length-delimited";
    case kFixed32: return "fixed32";
    default: return "group";
  }
}

std::string at(const std::string& path) { return path.empty() ? "<root>" : path; }

// A bounds-checked cursor over a message's bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  Status varint(uint64_t* out, const std::string& path) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= data_.size()) return badRequest("protobuf: truncated varint at " + at(path));
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && b > 1) return badRequest("protobuf: varint overflow at " + at(path));
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *out = v;
        return Status::ok();
      }
    }
    return badRequest("protobuf: varint too long at " + at(path));
  }

  Status fixed(size_t n, uint64_t* out, const std::string& path) {
    if (data_.size() - pos_ < n) return badRequest("protobuf: truncated fixed value at " + at(path));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += n;
    *out = v;
    return Status::ok();
  }

  Status bytes(std::string_view* out, const std::string& path) {
    uint64_t len = 0;
    BERTH_RETURN_IF_ERROR(varint(&len, path));
    if (len > data_.size() - pos_) {
      return badRequest("protobuf: length " + std::to_string(len) + " past the end of the data at " +
                        at(path));
    }
    *out = data_.substr(pos_, len);
    pos_ += len;
    return Status::ok();
  }

  Status tag(int* number, int* wire, const std::string& path) {
    uint64_t t = 0;
    BERTH_RETURN_IF_ERROR(varint(&t, path));
    *wire = static_cast<int>(t & 7);
    uint64_t n = t >> 3;
    if (n == 0 || n > 536870911) return badRequest("protobuf: bad field number at " + at(path));
    *number = static_cast<int>(n);
    if (*wire == kStartGroup || *wire == kEndGroup || *wire > kFixed32) {
      return badRequest("protobuf: unsupported wire type " + std::to_string(*wire) + " at " +
                        at(path));
    }
    return Status::ok();
  }

  Status skip(int wire, const std::string& path) {
    uint64_t ignored;
    std::string_view sv;
    switch (wire) {
      case kVarint: return varint(&ignored, path);
      case kFixed64: return fixed(8, &ignored, path);
      case kFixed32: return fixed(4, &ignored, path);
      case kLength: return bytes(&sv, path);
      default: return badRequest("protobuf: unsupported wire type at " + at(path));
    }
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Replaces invalid UTF-8 with U+FFFD, as Go's JSON encoder does (nlohmann would throw on dump).
std::string sanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = 0;
    if (ok && len > 1) {
      cp = c & (0x7f >> len);
      for (size_t k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (ok) {
        static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) ok = false;
      }
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

// Go's time.Duration.String().
std::string formatGoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  bool neg = ns < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  std::string out;
  auto frac = [](uint64_t v, int digits) {
    // v has `digits` fractional digits; print without trailing zeros.
    std::string s = std::to_string(v);
    while (static_cast<int>(s.size()) < digits) s = "0" + s;
    while (!s.empty() && s.back() == '0') s.pop_back();
    return s;
  };
  if (u < 1000000000ULL) {
    const char* unit;
    uint64_t whole, rem;
    int digits;
    if (u < 1000) {
      out = std::to_string(u) + "ns";
      return neg ? "-" + out : out;
    } else if (u < 1000000) {
      unit = "\xc2\xb5s";
      whole = u / 1000;
      rem = u % 1000;
      digits = 3;
    } else {
      unit = "ms";
      whole = u / 1000000;
      rem = u % 1000000;
      digits = 6;
    }
    out = std::to_string(whole);
    if (rem) out += "." + frac(rem, digits);
    out += unit;
    return neg ? "-" + out : out;
  }
  uint64_t secs = u / 1000000000ULL, rem = u % 1000000000ULL;
  std::string s = std::to_string(secs % 60);
  if (rem) s += "." + frac(rem, 9);
  s += "s";
  uint64_t mins = secs / 60;
  if (mins > 0) {
    s = std::to_string(mins % 60) + "m" + s;
    uint64_t hours = mins / 60;
    if (hours > 0) s = std::to_string(hours) + "h" + s;
  }
  return neg ? "-" + s : s;
}

// Parses Go duration strings ("1h2m3.5s", "300ms", "-1.5h"). Returns false when malformed.
bool parseGoDuration(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *out = 0;
    return true;
  }
  if (s.empty()) return false;
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return false;
    long double v = std::strtold(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return false;
    total += v * mult;
  }
  if (total > 9.2e18L) return false;
  *out = static_cast<int64_t>(neg ? -total : total);
  return true;
}


// Civil date from days since 1970-01-01 (H. Hinnant's algorithm); valid for all int64 days here.
void civilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// metav1.Time / MicroTime JSON: "2006-01-02T15:04:05Z" / "2006-01-02T15:04:05.000000Z" (UTC).
std::string formatTime(int64_t seconds, int64_t nanos, bool micro) {
  int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  int64_t rem = seconds - days * 86400;
  int64_t y;
  unsigned mo, d;
  civilFromDays(days, &y, &mo, &d);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), mo, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (micro) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(nanos / 1000));
    out += buf;
  }
  return out + "Z";
}

// Parses RFC 3339 ("Z" or +hh:mm offsets, optional fraction) into Unix seconds and nanos.
bool parseTime(std::string_view s, int64_t* seconds, int64_t* nanos) {
  auto digits = [&](size_t pos, size_t n, int64_t* v) {
    if (pos + n > s.size()) return false;
    *v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      *v = *v * 10 + (s[i] - '0');
    }
    return true;
  };
  int64_t y, mo, d, h, mi, se;
  if (!digits(0, 4, &y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &mo) || s[7] != '-' ||
      !digits(8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, &h) ||
      s[13] != ':' || !digits(14, 2, &mi) || s[16] != ':' || !digits(17, 2, &se)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  size_t pos = 19;
  int64_t ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int64_t oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, &om)) {
      return false;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  *seconds = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
             h * 3600 + mi * 60 + se - offset;
  *nanos = ns;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Decoder {
 public:
  Status message(const Type& type, std::string_view data, const std::string& path, int depth,
                 json* out);

 private:
  Status fields(const Type& type, std::string_view data, int inline_parent,
                const std::string& path, int depth, json* out);
  // Decodes one value of `type` whose wire form is `wire`; reads from `r`. For kLength values
  // the bytes are read here.
  Status value(const Type& type, int wire, Reader& r, const std::string& path, int depth,
               json* out);
  Status special(const Type& type, std::string_view data, const std::string& path, json* out);
};

Status wrongWire(const std::string& path, int wire, const char* expected) {
  return badRequest("protobuf: field " + at(path) + " has wire type " + wireName(wire) +
                    ", expected " + expected);
}

bool isZero(const json& v) {
  return (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_boolean() && !v.get<bool>()) ||
         (v.is_number_integer() && v.get<int64_t>() == 0) ||
         (v.is_number_float() && v.get<double>() == 0.0);
}

bool packable(TypeKind k) {
  return k == TypeKind::kBool || k == TypeKind::kInt32 || k == TypeKind::kInt64 ||
         k == TypeKind::kDouble;
}

Status Decoder::message(const Type& type, std::string_view data, const std::string& path,
                        int depth, json* out) {
  if (depth > kMaxDepth) return badRequest("protobuf: nesting too deep at " + at(path));
  *out = json::object();
  return fields(type, data, 0, path, depth, out);
}

Status Decoder::fields(const Type& type, std::string_view data, int inline_parent,
                       const std::string& path, int depth, json* out) {
  Reader r(data);
  while (!r.done()) {
    int number, wire;
    BERTH_RETURN_IF_ERROR(r.tag(&number, &wire, path));
    const Field* f = type.fieldByProto(number, inline_parent);
    if (!f) {
      // An embedded struct whose fields appear flat in JSON.
      bool is_inline = false;
      if (inline_parent == 0) {
        for (const auto& cand : type.fields) {
          if (cand.proto_inline == number) {
            is_inline = true;
            break;
          }
        }
      }
      if (!is_inline) {
        BERTH_RETURN_IF_ERROR(r.skip(wire, path));
        continue;
      }
      if (wire != kLength) return wrongWire(path, wire, "length-delimited");
      std::string_view sub;
      BERTH_RETURN_IF_ERROR(r.bytes(&sub, path));
      if (depth + 1 > kMaxDepth) return badRequest("protobuf: nesting too deep at " + at(path));
      BERTH_RETURN_IF_ERROR(fields(type, sub, number, path, depth + 1, out));
      continue;
    }
    std::string fpath = path.empty() ? f->name : path + "." + f->name;
    const Type& ft = *f->type;
    if (ft.kind == TypeKind::kArray) {
      json& arr = (*out)[f->name];
      if (!arr.is_array()) arr = json::array();
      const Type& et = *ft.elem;
      std::string epath = fpath + "[" + std::to_string(arr.size()) + "]";
      if (wire == kLength && packable(et.kind)) {
        std::string_view packed;
        BERTH_RETURN_IF_ERROR(r.bytes(&packed, epath));
        Reader pr(packed);
        int ew = et.kind == TypeKind::kDouble ? kFixed64 : kVarint;
        while (!pr.done()) {
          json v;
          BERTH_RETURN_IF_ERROR(value(et, ew, pr, epath, depth + 1, &v));
          arr.push_back(std::move(v));
        }
      } else {
        json v;
        BERTH_RETURN_IF_ERROR(value(et, wire, r, epath, depth + 1, &v));
        arr.push_back(std::move(v));
      }
      continue;
    }
    if (ft.kind == TypeKind::kMap) {
      if (wire != kLength) return wrongWire(fpath, wire, "length-delimited");
      std::string_view entry;
      BERTH_RETURN_IF_ERROR(r.bytes(&entry, fpath));
      Reader er(entry);
      std::string key;
      json val;
      bool have_val = false;
      while (!er.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(er.tag(&n, &w, fpath));
        if (n == 1) {
          if (w != kLength) return wrongWire(fpath + " (map key)", w, "length-delimited");
          std::string_view k;
          BERTH_RETURN_IF_ERROR(er.bytes(&k, fpath));
          key = sanitizeUtf8(k);
        } else if (n == 2) {
          std::string vpath = fpath + "." + key;
          const Type& vt = *ft.elem;
          if (vt.kind == TypeKind::kArray) {
            // A list inside a map travels wrapped: {1: repeated items}.
            if (w != kLength) return wrongWire(vpath, w, "length-delimited");
            std::string_view wrapped;
            BERTH_RETURN_IF_ERROR(er.bytes(&wrapped, vpath));
            json items = json::array();
            Reader wr(wrapped);
            while (!wr.done()) {
              int wn, ww;
              BERTH_RETURN_IF_ERROR(wr.tag(&wn, &ww, vpath));
              if (wn != 1) {
                BERTH_RETURN_IF_ERROR(wr.skip(ww, vpath));
                continue;
              }
              json item;
              BERTH_RETURN_IF_ERROR(value(*vt.elem, ww, wr, vpath, depth + 2, &item));
              items.push_back(std::move(item));
            }
            val = std::move(items);
          } else {
            BERTH_RETURN_IF_ERROR(value(vt, w, er, vpath, depth + 1, &val));
          }
          have_val = true;
        } else {
          BERTH_RETURN_IF_ERROR(er.skip(w, fpath));
        }
      }
      if (!have_val) {
        switch (ft.elem->kind) {
          case TypeKind::kString: case TypeKind::kBytes: val = ""; break;
          case TypeKind::kQuantity: val = "0"; break;  // as a present but empty Quantity
          case TypeKind::kObject: val = json::object(); break;
          case TypeKind::kArray: val = json::array(); break;
          case TypeKind::kInt32: case TypeKind::kInt64: val = 0; break;
          case TypeKind::kBool: val = false; break;
          default: val = nullptr;
        }
      }
      json& m = (*out)[f->name];
      if (!m.is_object()) m = json::object();
      m[key] = std::move(val);
      continue;
    }
    json v;
    BERTH_RETURN_IF_ERROR(value(ft, wire, r, fpath, depth + 1, &v));
    bool wire_scalar = ft.kind == TypeKind::kString || ft.kind == TypeKind::kBytes ||
                       ft.kind == TypeKind::kBool || ft.kind == TypeKind::kInt32 ||
                       ft.kind == TypeKind::kInt64 || ft.kind == TypeKind::kDouble;
    if (wire_scalar && !f->pointer && isZero(v)) {
      // Upstream writes non-pointer scalars even when zero; their JSON form omits them. A
      // message (IntOrString, Quantity...) that is present was set, even to zero.
      out->erase(f->name);
      continue;
    }
    if (ft.kind == TypeKind::kAny && v.is_null()) continue;
    (*out)[f->name] = std::move(v);
  }
  return Status::ok();
}

Status Decoder::value(const Type& type, int wire, Reader& r, const std::string& path, int depth,
                      json* out) {
  uint64_t u = 0;
  switch (type.kind) {
    case TypeKind::kBool:
      if (wire != kVarint) return wrongWire(path, wire, "varint");
      BERTH_RETURN_IF_ERROR(r.varint(&u, path));
      *out = u != 0;
      return Status::ok();
    case TypeKind::kInt32:
      if (wire != kVarint) return wrongWire(path, wire, "varint");
      BERTH_RETURN_IF_ERROR(r.varint(&u, path));
      *out = static_cast<int32_t>(static_cast<uint32_t>(u));
      return Status::ok();
    case TypeKind::kInt64:
      if (wire != kVarint) return wrongWire(path, wire, "varint");
      BERTH_RETURN_IF_ERROR(r.varint(&u, path));
      *out = static_cast<int64_t>(u);
      return Status::ok();
    case TypeKind::kDouble: {
      if (wire != kFixed64) return wrongWire(path, wire, "fixed64");
      BERTH_RETURN_IF_ERROR(r.fixed(8, &u, path));
      double d;
      std::memcpy(&d, &u, sizeof d);
      if (!std::isfinite(d)) return badRequest("protobuf: non-finite number at " + at(path));
      *out = d;
      return Status::ok();
    }
    default:
      break;
  }
  if (wire != kLength) return wrongWire(path, wire, "length-delimited");
  std::string_view data;
  BERTH_RETURN_IF_ERROR(r.bytes(&data, path));
  switch (type.kind) {
    case TypeKind::kString:
      *out = sanitizeUtf8(data);
      return Status::ok();
    case TypeKind::kBytes:
      *out = base64Encode(data);
      return Status::ok();
    case TypeKind::kObject:
      return message(type, data, path, depth, out);
    case TypeKind::kArray:
    case TypeKind::kMap:
      return badRequest("protobuf: nested list or map at " + at(path) + " is not supported");
    default:
      return special(type, data, path, out);
  }
}

Status Decoder::special(const Type& type, std::string_view data, const std::string& path,
                        json* out) {
  Reader r(data);
  switch (type.kind) {
    case TypeKind::kTime:
    case TypeKind::kMicroTime: {
      int64_t seconds = 0;
      int64_t nanos = 0;
      while (!r.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(r.tag(&n, &w, path));
        uint64_t u;
        if ((n == 1 || n == 2) && w != kVarint) return wrongWire(path, w, "varint");
        if (n == 1) {
          BERTH_RETURN_IF_ERROR(r.varint(&u, path));
          seconds = static_cast<int64_t>(u);
        } else if (n == 2) {
          BERTH_RETURN_IF_ERROR(r.varint(&u, path));
          nanos = static_cast<int32_t>(static_cast<uint32_t>(u));
        } else {
          BERTH_RETURN_IF_ERROR(r.skip(w, path));
        }
      }
      if (seconds == 0 && nanos == 0) {
        *out = nullptr;  // Go's zero Time is written as null
        return Status::ok();
      }
      // Years 0001..9999, as Go's RFC 3339 marshalling allows.
      if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 ||
          nanos > 999999999) {
        return badRequest("protobuf: time out of range at " + at(path));
      }
      *out = formatTime(seconds, nanos, type.kind == TypeKind::kMicroTime);
      return Status::ok();
    }
    case TypeKind::kDuration: {
      int64_t ns = 0;
      while (!r.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(r.tag(&n, &w, path));
        if (n == 1) {
          if (w != kVarint) return wrongWire(path, w, "varint");
          uint64_t u;
          BERTH_RETURN_IF_ERROR(r.varint(&u, path));
          ns = static_cast<int64_t>(u);
        } else {
          BERTH_RETURN_IF_ERROR(r.skip(w, path));
        }
      }
      *out = formatGoDuration(ns);
      return Status::ok();
    }
    case TypeKind::kQuantity: {
      std::string s;
      while (!r.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(r.tag(&n, &w, path));
        if (n == 1) {
          if (w != kLength) return wrongWire(path, w, "length-delimited");
          std::string_view sv;
          BERTH_RETURN_IF_ERROR(r.bytes(&sv, path));
          s = sanitizeUtf8(sv);
        } else {
          BERTH_RETURN_IF_ERROR(r.skip(w, path));
        }
      }
      *out = s.empty() ? "0" : s;
      return Status::ok();
    }
    case TypeKind::kIntOrString: {
      int64_t kind = 0;
      int32_t i = 0;
      std::string s;
      while (!r.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(r.tag(&n, &w, path));
        uint64_t u;
        if (n == 1 || n == 2) {
          if (w != kVarint) return wrongWire(path, w, "varint");
          BERTH_RETURN_IF_ERROR(r.varint(&u, path));
          if (n == 1) kind = static_cast<int64_t>(u);
          else i = static_cast<int32_t>(static_cast<uint32_t>(u));
        } else if (n == 3) {
          if (w != kLength) return wrongWire(path, w, "length-delimited");
          std::string_view sv;
          BERTH_RETURN_IF_ERROR(r.bytes(&sv, path));
          s = sanitizeUtf8(sv);
        } else {
          BERTH_RETURN_IF_ERROR(r.skip(w, path));
        }
      }
      if (kind == 1) *out = s;
      else *out = i;
      return Status::ok();
    }
    case TypeKind::kAny: {
      std::string_view raw;
      while (!r.done()) {
        int n, w;
        BERTH_RETURN_IF_ERROR(r.tag(&n, &w, path));
        if (n == 1) {
          if (w != kLength) return wrongWire(path, w, "length-delimited");
          BERTH_RETURN_IF_ERROR(r.bytes(&raw, path));
        } else {
          BERTH_RETURN_IF_ERROR(r.skip(w, path));
        }
      }
      if (raw.empty()) {
        *out = nullptr;
        return Status::ok();
      }
      json parsed = json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        return badRequest("protobuf: embedded raw value at " + at(path) + " is not JSON");
      }
      *out = std::move(parsed);
      return Status::ok();
    }
    default:
      return internalError("protobuf: unhandled type at " + at(path));
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

std::string typeName(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

class Encoder {
 public:
  Status message(const Type& type, const json& obj, const std::string& path, int depth,
                 std::string* out);

 private:
  // Writes field `number` holding `v` of `type` (not a list or map).
  Status value(const Type& type, int number, const json& v, const std::string& path, int depth,
               std::string* out);
};

Status mismatch(const std::string& path, const char* expected, const json& v) {
  return badRequest("protobuf: " + at(path) + ": expected " + expected + ", got " + typeName(v));
}

Status Encoder::message(const Type& type, const json& obj, const std::string& path, int depth,
                        std::string* out) {
  if (depth > kMaxDepth) return badRequest("protobuf: nesting too deep at " + at(path));
  if (!obj.is_object()) return mismatch(path, "object", obj);
  std::map<int, std::string> inlined;  // proto_inline -> the embedded message's bytes
  std::vector<int> inline_order;
  for (const auto& f : type.fields) {
    if (f.proto == 0) continue;
    auto it = obj.find(f.name);
    if (it == obj.end()) continue;
    std::string* target = out;
    if (f.proto_inline != 0) {
      if (!inlined.count(f.proto_inline)) inline_order.push_back(f.proto_inline);
      target = &inlined[f.proto_inline];
    }
    if (it->is_null()) {
      // A zero Time is JSON null and an empty message on the wire (as upstream writes it).
      if (f.type->kind == TypeKind::kTime || f.type->kind == TypeKind::kMicroTime) {
        putBytes(*target, f.proto, "");
      }
      continue;
    }
    std::string fpath = path.empty() ? f.name : path + "." + f.name;
    const Type& ft = *f.type;
    if (ft.kind == TypeKind::kArray) {
      if (!it->is_array()) return mismatch(fpath, "array", *it);
      for (size_t i = 0; i < it->size(); ++i) {
        BERTH_RETURN_IF_ERROR(value(*ft.elem, f.proto, (*it)[i],
                                    fpath + "[" + std::to_string(i) + "]", depth + 1, target));
      }
    } else if (ft.kind == TypeKind::kMap) {
      if (!it->is_object()) return mismatch(fpath, "object", *it);
      for (const auto& [key, mv] : it->items()) {
        std::string entry;
        putBytes(entry, 1, key);
        std::string vpath = fpath + "." + key;
        if (ft.elem->kind == TypeKind::kArray) {
          if (!mv.is_array()) return mismatch(vpath, "array", mv);
          std::string wrapped;
          for (const auto& item : mv) {
            BERTH_RETURN_IF_ERROR(value(*ft.elem->elem, 1, item, vpath, depth + 2, &wrapped));
          }
          putBytes(entry, 2, wrapped);
        } else if (!mv.is_null()) {
          BERTH_RETURN_IF_ERROR(value(*ft.elem, 2, mv, vpath, depth + 1, &entry));
        }
        putBytes(*target, f.proto, entry);
      }
    } else {
      BERTH_RETURN_IF_ERROR(value(ft, f.proto, *it, fpath, depth + 1, target));
    }
  }
  for (int n : inline_order) putBytes(*out, n, inlined[n]);
  return Status::ok();
}

Status Encoder::value(const Type& type, int number, const json& v, const std::string& path,
                      int depth, std::string* out) {
  switch (type.kind) {
    case TypeKind::kString:
      if (!v.is_string()) return mismatch(path, "string", v);
      putBytes(*out, number, v.get_ref<const std::string&>());
      return Status::ok();
    case TypeKind::kBytes: {
      if (!v.is_string()) return mismatch(path, "base64 string", v);
      std::string raw;
      if (!base64Decode(v.get_ref<const std::string&>(), &raw)) {
        return badRequest("protobuf: " + at(path) + ": illegal base64 data");
      }
      putBytes(*out, number, raw);
      return Status::ok();
    }
    case TypeKind::kBool:
      if (!v.is_boolean()) return mismatch(path, "boolean", v);
      putTag(*out, number, kVarint);
      putVarint(*out, v.get<bool>() ? 1 : 0);
      return Status::ok();
    case TypeKind::kInt32:
    case TypeKind::kInt64: {
      if (!v.is_number_integer()) return mismatch(path, "integer", v);
      int64_t i = v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
      if (type.kind == TypeKind::kInt32 && (i < INT32_MIN || i > INT32_MAX)) {
        return badRequest("protobuf: " + at(path) + ": out of int32 range");
      }
      putTag(*out, number, kVarint);
      putVarint(*out, static_cast<uint64_t>(i));  // int32 negatives sign-extend, as protobuf
      return Status::ok();
    }
    case TypeKind::kDouble: {
      if (!v.is_number()) return mismatch(path, "number", v);
      double d = v.get<double>();
      uint64_t u;
      std::memcpy(&u, &d, sizeof u);
      putTag(*out, number, kFixed64);
      for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
      return Status::ok();
    }
    case TypeKind::kObject: {
      std::string sub;
      BERTH_RETURN_IF_ERROR(message(type, v, path, depth, &sub));
      putBytes(*out, number, sub);
      return Status::ok();
    }
    case TypeKind::kArray:
    case TypeKind::kMap:
      return badRequest("protobuf: nested list or map at " + at(path) + " is not supported");
    case TypeKind::kTime:
    case TypeKind::kMicroTime: {
      if (!v.is_string()) return mismatch(path, "RFC 3339 time string", v);
      int64_t secs, nanos;
      if (!parseTime(v.get_ref<const std::string&>(), &secs, &nanos)) {
        return badRequest("protobuf: " + at(path) + ": not an RFC 3339 time");
      }
      if (type.kind == TypeKind::kTime) nanos = 0;  // metav1.Time keeps whole seconds
      std::string sub;
      putTag(sub, 1, kVarint);
      putVarint(sub, static_cast<uint64_t>(secs));
      if (nanos) {
        putTag(sub, 2, kVarint);
        putVarint(sub, static_cast<uint64_t>(nanos));
      }
      putBytes(*out, number, sub);
      return Status::ok();
    }
    case TypeKind::kDuration: {
      int64_t ns;
      if (!v.is_string() || !parseGoDuration(v.get_ref<const std::string&>(), &ns)) {
        return badRequest("protobuf: " + at(path) + ": not a duration like 1m30s");
      }
      std::string sub;
      putTag(sub, 1, kVarint);
      putVarint(sub, static_cast<uint64_t>(ns));
      putBytes(*out, number, sub);
      return Status::ok();
    }
    case TypeKind::kQuantity: {
      std::string s;
      if (v.is_string()) s = v.get<std::string>();
      else if (v.is_number()) s = v.dump();
      else return mismatch(path, "quantity", v);
      std::string sub;
      putBytes(sub, 1, s);
      putBytes(*out, number, sub);
      return Status::ok();
    }
    case TypeKind::kIntOrString: {
      std::string sub;
      if (v.is_number_integer()) {
        int64_t i = v.get<int64_t>();
        if (i < INT32_MIN || i > INT32_MAX) {
          return badRequest("protobuf: " + at(path) + ": out of int32 range");
        }
        putTag(sub, 1, kVarint);
        putVarint(sub, 0);
        putTag(sub, 2, kVarint);
        putVarint(sub, static_cast<uint64_t>(i));
      } else if (v.is_string()) {
        putTag(sub, 1, kVarint);
        putVarint(sub, 1);
        putBytes(sub, 3, v.get_ref<const std::string&>());
      } else {
        return mismatch(path, "integer or string", v);
      }
      putBytes(*out, number, sub);
      return Status::ok();
    }
    case TypeKind::kAny: {
      std::string sub;
      putBytes(sub, 1, v.dump());
      putBytes(*out, number, sub);
      return Status::ok();
    }
  }
  return internalError("protobuf: unhandled type at " + at(path));
}

GroupVersionKind parseGvk(const std::string& api_version, const std::string& kind) {
  auto slash = api_version.find('/');
  if (slash == std::string::npos) return {"", api_version, kind};
  return {api_version.substr(0, slash), api_version.substr(slash + 1), kind};
}

}  // namespace

Result<nlohmann::json> decodeKubernetesProtobuf(std::string_view body) {
  return decodeKubernetesProtobuf(body, Registry::get());
}

Result<nlohmann::json> decodeKubernetesProtobuf(std::string_view body, const Registry& registry) {
  if (body.size() < kProtobufMagic.size() || body.substr(0, 4) != kProtobufMagic) {
    return badRequest("protobuf: missing the k8s\\0 magic prefix");
  }
  Reader r(body.substr(4));
  std::string api_version, kind;
  std::string_view raw;
  bool have_raw = false;
  const std::string envelope = "<envelope>";
  while (!r.done()) {
    int n, w;
    BERTH_RETURN_IF_ERROR(r.tag(&n, &w, envelope));
    if (n == 1) {
      if (w != kLength) return wrongWire("typeMeta", w, "length-delimited");
      std::string_view tm;
      BERTH_RETURN_IF_ERROR(r.bytes(&tm, "typeMeta"));
      Reader tr(tm);
      while (!tr.done()) {
        int tn, tw;
        BERTH_RETURN_IF_ERROR(tr.tag(&tn, &tw, "typeMeta"));
        if (tn == 1 || tn == 2) {
          if (tw != kLength) return wrongWire("typeMeta", tw, "length-delimited");
          std::string_view s;
          BERTH_RETURN_IF_ERROR(tr.bytes(&s, "typeMeta"));
          (tn == 1 ? api_version : kind) = std::string(s);
        } else {
          BERTH_RETURN_IF_ERROR(tr.skip(tw, "typeMeta"));
        }
      }
    } else if (n == 2) {
      if (w != kLength) return wrongWire("raw", w, "length-delimited");
      BERTH_RETURN_IF_ERROR(r.bytes(&raw, "raw"));
      have_raw = true;
    } else if (n == 3 || n == 4) {
      if (w != kLength) return wrongWire(n == 3 ? "contentEncoding" : "contentType", w,
                                         "length-delimited");
      std::string_view s;
      BERTH_RETURN_IF_ERROR(r.bytes(&s, envelope));
      if (n == 3 && !s.empty()) {
        return badRequest("protobuf: unsupported contentEncoding \"" + sanitizeUtf8(s) + "\"");
      }
    } else {
      BERTH_RETURN_IF_ERROR(r.skip(w, envelope));
    }
  }
  if (kind.empty() || api_version.empty()) {
    return badRequest("protobuf: the envelope has no apiVersion/kind");
  }
  if (!have_raw) return badRequest("protobuf: the envelope has no object");
  TypePtr type = registry.forKind(parseGvk(api_version, kind));
  if (!type) {
    return badRequest("protobuf: no kind \"" + sanitizeUtf8(kind) + "\" is registered for version \"" +
                      sanitizeUtf8(api_version) + "\"");
  }
  json out;
  Decoder d;
  BERTH_RETURN_IF_ERROR(d.message(*type, raw, "", 0, &out));
  out["apiVersion"] = api_version;
  out["kind"] = kind;
  return out;
}

Result<std::string> encodeKubernetesProtobuf(const nlohmann::json& obj) {
  return encodeKubernetesProtobuf(obj, Registry::get());
}

Result<std::string> encodeKubernetesProtobuf(const nlohmann::json& obj, const Registry& registry) {
  if (!obj.is_object()) return badRequest("protobuf: only objects can be encoded");
  auto av = obj.find("apiVersion");
  auto k = obj.find("kind");
  if (av == obj.end() || !av->is_string() || k == obj.end() || !k->is_string()) {
    return badRequest("protobuf: the object needs apiVersion and kind");
  }
  TypePtr type = registry.forKind(parseGvk(av->get<std::string>(), k->get<std::string>()));
  if (!type) {
    return badRequest("protobuf: no kind \"" + k->get<std::string>() +
                      "\" is registered for version \"" + av->get<std::string>() + "\"");
  }
  std::string raw;
  Encoder e;
  BERTH_RETURN_IF_ERROR(e.message(*type, obj, "", 0, &raw));
  std::string type_meta;
  putBytes(type_meta, 1, av->get_ref<const std::string&>());
  putBytes(type_meta, 2, k->get_ref<const std::string&>());
  std::string out(kProtobufMagic);
  putBytes(out, 1, type_meta);
  putBytes(out, 2, raw);
  putBytes(out, 3, "");
  putBytes(out, 4, "");
  return out;
}

}  // namespace berth::apiserver::schema
