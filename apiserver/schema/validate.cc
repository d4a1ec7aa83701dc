// Strict decoding helpers. See validate.h.
#include "apiserver/schema/validate.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include <yaml-cpp/yaml.h>

namespace berth::apiserver::schema {

namespace {

using nlohmann::json;

std::string child(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

void walkUnknown(const json& v, const Type& type, const std::string& path,
                 std::vector<std::string>* out) {
  switch (type.kind) {
    case TypeKind::kObject: {
      if (!v.is_object()) return;
      for (const auto& [key, val] : v.items()) {
        const Field* f = type.field(key);
        if (!f) {
          if (!type.preserve_unknown_fields) out->push_back(child(path, key));
          continue;
        }
        walkUnknown(val, *f->type, child(path, key), out);
      }
      return;
    }
    case TypeKind::kArray:
      if (!v.is_array()) return;
      for (size_t i = 0; i < v.size(); ++i) {
        walkUnknown(v[i], *type.elem, path + "[" + std::to_string(i) + "]", out);
      }
      return;
    case TypeKind::kMap:
      if (!v.is_object()) return;
      for (const auto& [key, val] : v.items()) walkUnknown(val, *type.elem, child(path, key), out);
      return;
    default:
      return;
  }
}

std::string describe(const json& v) {
  if (v.is_string()) return "string " + v.dump();
  if (v.is_boolean()) return "boolean " + v.dump();
  if (v.is_number()) return "number " + v.dump();
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

void walkTypes(const json& v, const Type& type, const std::string& path, std::vector<Cause>* out) {
  if (v.is_null()) return;
  auto bad = [&](const char* expected) {
    out->push_back({"FieldValueTypeInvalid",
                    (path.empty() ? std::string("<root>") : path) + ": expected " + expected +
                        ", got " + describe(v),
                    path});
  };
  switch (type.kind) {
    case TypeKind::kString:
      if (!v.is_string()) bad("string");
      return;
    case TypeKind::kBytes:
      if (!v.is_string()) bad("base64 string");
      return;
    case TypeKind::kBool:
      if (!v.is_boolean()) bad("boolean");
      return;
    case TypeKind::kInt32:
    case TypeKind::kInt64: {
      if (!v.is_number_integer()) {
        bad("integer");
        return;
      }
      if (type.kind == TypeKind::kInt32) {
        bool ok = v.is_number_unsigned() ? v.get<uint64_t>() <= INT32_MAX
                                         : (v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX);
        if (!ok) bad("32-bit integer");
      }
      return;
    }
    case TypeKind::kDouble:
      if (!v.is_number()) bad("number");
      return;
    case TypeKind::kTime:
    case TypeKind::kMicroTime:
    case TypeKind::kDuration:
      if (!v.is_string()) bad("string");
      return;
    case TypeKind::kQuantity:
      if (!v.is_string() && !v.is_number()) bad("quantity (string or number)");
      return;
    case TypeKind::kIntOrString:
      if (!v.is_string() && !v.is_number_integer()) bad("integer or string");
      return;
    case TypeKind::kAny:
      return;
    case TypeKind::kObject:
      if (!v.is_object()) {
        bad("object");
        return;
      }
      for (const auto& [key, val] : v.items()) {
        if (const Field* f = type.field(key)) walkTypes(val, *f->type, child(path, key), out);
      }
      return;
    case TypeKind::kArray:
      if (!v.is_array()) {
        bad("array");
        return;
      }
      for (size_t i = 0; i < v.size(); ++i) {
        walkTypes(v[i], *type.elem, path + "[" + std::to_string(i) + "]", out);
      }
      return;
    case TypeKind::kMap:
      if (!v.is_object()) {
        bad("object");
        return;
      }
      for (const auto& [key, val] : v.items()) walkTypes(val, *type.elem, child(path, key), out);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Duplicate-key tracking for parseJsonStrict.

struct TooDeep {};

constexpr int kMaxJsonDepth = 1000;

struct Frame {
  bool is_object;
  std::string path;       // path of this container
  std::set<std::string> keys;
  std::string key;        // object: the current key
  long index = -1;        // array: the current element
};

std::string elementPath(const std::vector<Frame>& stack) {
  if (stack.empty()) return "";
  const Frame& f = stack.back();
  if (f.is_object) return child(f.path, f.key);
  return f.path + "[" + std::to_string(f.index) + "]";
}

// ---------------------------------------------------------------------------------------------
// YAML

constexpr size_t kMaxYamlNodes = 1000000;
constexpr int kMaxYamlDepth = 1000;

bool isOneOf(const std::string& s, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (s == o) return true;
  }
  return false;
}

// Parses a YAML 1.1 integer; returns false when `s` is not one.
bool parseYamlInt(std::string s, json* out) {
  std::string digits;
  for (char c : s) {
    if (c != '_') digits.push_back(c);
  }
  if (digits.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (digits[0] == '-' || digits[0] == '+') {
    neg = digits[0] == '-';
    i = 1;
  }
  std::string body = digits.substr(i);
  if (body.empty()) return false;
  int base = 10;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    body = body.substr(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) {
    base = 8;
    body = body.substr(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    base = 2;
    body = body.substr(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    body = body.substr(1);
  }
  if (body.empty()) return false;
  for (char c : body) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
              : base == 10 ? (c >= '0' && c <= '9')
              : base == 8 ? (c >= '0' && c <= '7')
                          : (c == '0' || c == '1');
    if (!ok) return false;
  }
  errno = 0;
  unsigned long long u = std::strtoull(body.c_str(), nullptr, base);
  if (errno == ERANGE) {
    if (base != 10) return false;
    *out = std::strtod(digits.c_str(), nullptr);  // too big for 64 bits: a float, as go-yaml
    return true;
  }
  if (neg) {
    if (u > 9223372036854775808ULL) {
      *out = -static_cast<double>(u);
    } else {
      *out = u == 9223372036854775808ULL ? INT64_MIN : -static_cast<int64_t>(u);
    }
  } else if (u <= static_cast<unsigned long long>(INT64_MAX)) {
    *out = static_cast<int64_t>(u);
  } else {
    *out = static_cast<uint64_t>(u);
  }
  return true;
}

bool parseYamlFloat(const std::string& s, json* out) {
  // [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
  std::string t;
  for (char c : s) {
    if (c != '_') t.push_back(c);
  }
  size_t i = 0;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i, ++int_digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != t.size()) return false;
  double d = std::strtod(t.c_str(), nullptr);
  if (!std::isfinite(d)) return false;
  *out = d;
  return true;
}

// Returns the byte offset of the first invalid UTF-8 sequence, or npos.
size_t invalidUtf8At(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

json yamlScalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  // Quoted or explicitly tagged !!str scalars keep their text.
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return s;
  if (node.Tag() == "tag:yaml.org,2002:null") return nullptr;
  if (s.empty() || isOneOf(s, {"~", "null", "Null", "NULL"})) return nullptr;
  if (isOneOf(s, {"true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})) {
    return true;
  }
  if (isOneOf(s, {"false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF"})) {
    return false;
  }
  json num;
  if (parseYamlInt(s, &num)) return num;
  if (parseYamlFloat(s, &num)) return num;
  return s;
}

Status convertYaml(const YAML::Node& node, int depth, size_t* budget, json* out) {
  if (depth > kMaxYamlDepth) return badRequest("yaml: nesting too deep");
  if (++*budget > kMaxYamlNodes) return badRequest("yaml: document too large after expanding aliases");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = nullptr;
      return Status::ok();
    case YAML::NodeType::Scalar:
      if (invalidUtf8At(node.Scalar()) != std::string_view::npos) {
        return badRequest("yaml: a scalar decodes to invalid UTF-8");  // e.g. a bad \x escape
      }
      *out = yamlScalar(node);
      return Status::ok();
    case YAML::NodeType::Sequence: {
      *out = json::array();
      for (const auto& item : node) {
        json v;
        BERTH_RETURN_IF_ERROR(convertYaml(item, depth + 1, budget, &v));
        out->push_back(std::move(v));
      }
      return Status::ok();
    }
    case YAML::NodeType::Map: {
      *out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar() && !kv.first.IsNull()) {
          auto m = kv.first.Mark();
          return badRequest("yaml: line " + std::to_string(m.line + 1) +
                            ": only scalar mapping keys are supported");
        }
        std::string key = kv.first.IsNull() ? "null" : kv.first.Scalar();
        if (invalidUtf8At(key) != std::string_view::npos) {
          return badRequest("yaml: a mapping key decodes to invalid UTF-8");
        }
        json v;
        BERTH_RETURN_IF_ERROR(convertYaml(kv.second, depth + 1, budget, &v));
        (*out)[key] = std::move(v);
      }
      return Status::ok();
    }
  }
  return Status::ok();
}

}  // namespace

std::vector<std::string> unknownFields(const nlohmann::json& obj, const Type& type) {
  std::vector<std::string> out;
  walkUnknown(obj, type, "", &out);
  return out;
}

std::vector<Cause> typeErrors(const nlohmann::json& obj, const Type& type) {
  std::vector<Cause> out;
  walkTypes(obj, type, "", &out);
  return out;
}

Result<nlohmann::json> parseJsonStrict(std::string_view body,
                                       std::vector<std::string>* duplicate_fields) {
  std::vector<Frame> stack;
  auto cb = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (depth > kMaxJsonDepth) throw TooDeep{};
    auto enterValue = [&] {
      if (!stack.empty() && !stack.back().is_object) ++stack.back().index;
    };
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        enterValue();
        Frame f;
        f.is_object = event == json::parse_event_t::object_start;
        f.path = elementPath(stack);
        stack.push_back(std::move(f));
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key: {
        Frame& f = stack.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && duplicate_fields) {
          duplicate_fields->push_back(child(f.path, f.key));
        }
        break;
      }
      case json::parse_event_t::value:
        enterValue();
        break;
    }
    return true;
  };
  try {
    return json::parse(body.begin(), body.end(), cb);
  } catch (const TooDeep&) {
    return badRequest("json: nesting deeper than " + std::to_string(kMaxJsonDepth));
  } catch (const json::exception& e) {
    return badRequest(e.what());
  }
}

Result<nlohmann::json> yamlToJson(std::string_view yaml) {
  if (size_t bad = invalidUtf8At(yaml); bad != std::string_view::npos) {
    // As go-yaml: the JSON we produce must be valid UTF-8.
    return badRequest("yaml: invalid UTF-8 at byte " + std::to_string(bad));
  }
  for (size_t i = 0; i < yaml.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(yaml[i]);
    // YAML allows no C0 controls but tab and line breaks; NULs would also make yaml-cpp guess
    // a UTF-16/32 encoding.
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      return badRequest("yaml: control character 0x" + std::to_string(c) + " at byte " +
                        std::to_string(i) + " is not allowed");
    }
  }
  try {
    YAML::Node node = YAML::Load(std::string(yaml));
    json out;
    size_t budget = 0;
    BERTH_RETURN_IF_ERROR(convertYaml(node, 0, &budget, &out));
    return out;
  } catch (const YAML::Exception& e) {
    return badRequest("yaml: line " + std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return badRequest(std::string("yaml: ") + e.what());
  }
}

}  // namespace berth::apiserver::schema
