#include "apiserver/core/json_text.h"

#include <nlohmann/json.hpp>

namespace berth::apiserver::jsontext {

namespace {
// Index just past the JSON string starting at s[i] == '"', or npos.
size_t skipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return i + 1;
  }
  return npos;
}

// The start of member `quoted_key`'s key (its opening quote) in the object at s[open], with
// *value_at set to the start of its value; npos when absent.
size_t findMemberKey(std::string_view s, size_t open, std::string_view quoted_key, size_t* value_at) {
  if (open >= s.size() || s[open] != '{') return npos;
  size_t i = skipSpace(s, open + 1);
  while (i < s.size() && s[i] == '"') {
    size_t key_start = i;
    size_t key_end = skipString(s, i);
    if (key_end == npos) return npos;
    std::string_view name = s.substr(i, key_end - i);
    i = skipSpace(s, key_end);
    if (i >= s.size() || s[i] != ':') return npos;
    i = skipSpace(s, i + 1);
    if (name == quoted_key) {
      *value_at = i;
      return key_start;
    }
    i = skipValue(s, i);
    if (i == npos) return npos;
    i = skipSpace(s, i);
    if (i >= s.size() || s[i] != ',') return npos;
    i = skipSpace(s, i + 1);
  }
  return npos;
}
}  // namespace

size_t skipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  return i;
}

size_t skipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return npos;
  if (s[i] == '"') return skipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = skipString(s, i);
        if (i == npos) return i;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return npos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
  return i;
}

size_t findMember(std::string_view s, size_t open, std::string_view quoted_key) {
  size_t value_at = npos;
  if (findMemberKey(s, open, quoted_key, &value_at) == npos) return npos;
  return value_at;
}

std::string_view memberValue(std::string_view s, std::string_view quoted_key) {
  size_t at = findMember(s, skipSpace(s, 0), quoted_key);
  if (at == npos) return {};
  size_t end = skipValue(s, at);
  if (end == npos) return {};
  return s.substr(at, end - at);
}

std::string_view valueAt(std::string_view s, const std::vector<std::string>& quoted_path) {
  size_t at = skipSpace(s, 0);
  for (const auto& key : quoted_path) {
    at = findMember(s, at, key);
    if (at == npos) return {};
  }
  size_t end = skipValue(s, at);
  if (end == npos) return {};
  // A scalar's span runs to the next delimiter: drop the whitespace before it.
  while (end > at && (s[end - 1] == ' ' || s[end - 1] == '\n' || s[end - 1] == '\t' || s[end - 1] == '\r'))
    --end;
  return s.substr(at, end - at);
}

std::optional<std::string> stringValue(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  std::string_view inner = text.substr(1, text.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  auto v = nlohmann::json::parse(text, nullptr, false);
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

std::string withoutMember(std::string_view object, std::string_view quoted_key) {
  size_t open = skipSpace(object, 0);
  size_t value_at = npos;
  size_t key = findMemberKey(object, open, quoted_key, &value_at);
  if (key == npos) return std::string(object);
  size_t end = skipValue(object, value_at);
  if (end == npos) return std::string(object);
  size_t after = skipSpace(object, end);
  size_t cut_from = key, cut_to = after;
  if (after < object.size() && object[after] == ',') {
    cut_to = skipSpace(object, after + 1);  // a following member: drop the comma after
  } else {
    // The last member: drop the comma before it, if any.
    size_t p = key;
    while (p > open + 1 && (object[p - 1] == ' ' || object[p - 1] == '\n' || object[p - 1] == '\t' ||
                            object[p - 1] == '\r'))
      --p;
    if (p > open + 1 && object[p - 1] == ',') cut_from = p - 1;
  }
  std::string out;
  out.reserve(object.size() - (cut_to - cut_from));
  out.append(object.substr(0, cut_from));
  out.append(object.substr(cut_to));
  return out;
}

}  // namespace berth::apiserver::jsontext
