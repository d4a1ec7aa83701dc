// Strict decoding helpers. See validate.h.
#include "apiserver/schema/validate.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "common/json_parse.h"

namespace berth::apiserver::schema {

namespace {

using nlohmann::json;

// Extends a field path for the scope of a child walk ("a" -> "a.b" or "a[3]") and restores it
// afterwards, so walking a tree allocates no path strings unless one is reported.
class PathScope {
 public:
  PathScope(std::string& path, std::string_view name) : path_(path), len_(path.size()) {
    if (!path.empty()) path += '.';
    path += name;
  }
  PathScope(std::string& path, size_t index) : path_(path), len_(path.size()) {
    path += '[';
    path += std::to_string(index);
    path += ']';
  }
  PathScope(const PathScope&) = delete;
  PathScope& operator=(const PathScope&) = delete;
  ~PathScope() { path_.resize(len_); }

 private:
  std::string& path_;
  size_t len_;
};

void walkUnknown(const json& v, const Type& type, std::string& path, std::vector<std::string>* out) {
  switch (type.kind) {
    case TypeKind::kObject: {
      if (!v.is_object()) return;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const Field* f = type.field(it.key());
        PathScope scope(path, it.key());
        if (!f) {
          if (!type.preserve_unknown_fields) out->push_back(path);
          continue;
        }
        walkUnknown(it.value(), *f->type, path, out);
      }
      return;
    }
    case TypeKind::kArray:
      if (!v.is_array()) return;
      for (size_t i = 0; i < v.size(); ++i) {
        PathScope scope(path, i);
        walkUnknown(v[i], *type.elem, path, out);
      }
      return;
    case TypeKind::kMap:
      if (!v.is_object()) return;
      for (auto it = v.begin(); it != v.end(); ++it) {
        PathScope scope(path, it.key());
        walkUnknown(it.value(), *type.elem, path, out);
      }
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

void walkTypes(const json& v, const Type& type, std::string& path, std::vector<Cause>* out) {
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
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (const Field* f = type.field(it.key())) {
          PathScope scope(path, it.key());
          walkTypes(it.value(), *f->type, path, out);
        }
      }
      return;
    case TypeKind::kArray:
      if (!v.is_array()) {
        bad("array");
        return;
      }
      for (size_t i = 0; i < v.size(); ++i) {
        PathScope scope(path, i);
        walkTypes(v[i], *type.elem, path, out);
      }
      return;
    case TypeKind::kMap:
      if (!v.is_object()) {
        bad("object");
        return;
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        PathScope scope(path, it.key());
        walkTypes(it.value(), *type.elem, path, out);
      }
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// parseJsonStrict: a SAX handler that builds the tree as nlohmann's own parser does (last
// duplicate wins) and reports duplicate keys; paths are built only for the duplicates.

constexpr size_t kMaxJsonDepth = 1000;

class StrictDomBuilder {
 public:
  StrictDomBuilder(json* root, std::vector<std::string>* duplicates)
      : root_(root), duplicates_(duplicates) {}

  bool null() { return value(nullptr); }
  bool boolean(bool v) { return value(v); }
  bool number_integer(json::number_integer_t v) { return value(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value(v); }
  bool number_float(json::number_float_t v, const std::string&) { return value(v); }
  bool string(std::string& v) { return value(std::move(v)); }
  bool binary(json::binary_t& v) { return value(std::move(v)); }
  bool start_object(size_t) { return open(json::value_t::object); }
  bool start_array(size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    Frame& f = stack_.back();
    // One search: a repeated member keeps its slot (the later value wins, as encoding/json).
    auto [it, inserted] = f.node->get_ref<json::object_t&>().try_emplace(k);
    if (!inserted && duplicates_) duplicates_->push_back(pathTo(k));
    f.element = &it->second;
    f.key = std::move(k);
    return true;
  }

  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Frame {
    json* node;
    json* element = nullptr;  // object: the member the next value goes to
    std::string key;          // object: the current member's name
    size_t index = 0;         // array: elements so far
  };

  template <typename V>
  json* place(V&& v) {
    if (stack_.empty()) {
      *root_ = json(std::forward<V>(v));
      return root_;
    }
    Frame& f = stack_.back();
    if (f.node->is_array()) {
      f.node->emplace_back(std::forward<V>(v));
      ++f.index;
      return &f.node->back();
    }
    *f.element = json(std::forward<V>(v));
    return f.element;
  }

  template <typename V>
  bool value(V&& v) {
    place(std::forward<V>(v));
    return true;
  }

  bool open(json::value_t t) {
    if (stack_.size() >= kMaxJsonDepth) {
      error_ = "json: nesting deeper than " + std::to_string(kMaxJsonDepth);
      return false;
    }
    json* node = place(t);
    stack_.push_back({node});
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  // The path of member `k` of the innermost object, as unknownFields reports paths.
  std::string pathTo(const std::string& k) const {
    std::string path;
    for (size_t i = 0; i + 1 < stack_.size(); ++i) {
      const Frame& f = stack_[i];
      if (f.node->is_array()) {
        path += '[' + std::to_string(f.index - 1) + ']';
      } else {
        if (!path.empty()) path += '.';
        path += f.key;
      }
    }
    if (!path.empty()) path += '.';
    return path + k;
  }

  json* root_;
  std::vector<std::string>* duplicates_;
  std::vector<Frame> stack_;
  std::string error_;
};

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
  std::string path;
  walkUnknown(obj, type, path, &out);
  return out;
}

std::vector<Cause> typeErrors(const nlohmann::json& obj, const Type& type) {
  std::vector<Cause> out;
  std::string path;
  walkTypes(obj, type, path, &out);
  return out;
}

Result<nlohmann::json> parseJsonStrict(std::string_view body,
                                       std::vector<std::string>* duplicate_fields) {
  json out;
  // The fast parser first; its failures (rare: bad input, deep nesting) go through nlohmann's
  // for the error message clients know.
  size_t known = duplicate_fields ? duplicate_fields->size() : 0;
  if (parseJsonFast(body, &out, duplicate_fields)) return out;
  if (duplicate_fields) duplicate_fields->resize(known);
  out = json();
  StrictDomBuilder builder(&out, duplicate_fields);
  bool ok = false;
  try {
    ok = json::sax_parse(body.begin(), body.end(), &builder);
  } catch (const json::exception& e) {
    return badRequest(e.what());
  }
  if (!ok) return badRequest(builder.error());
  return out;
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
