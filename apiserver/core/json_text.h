// Reading and cutting compact JSON text without parsing it into a tree: the watch cache holds
// objects as their serialisation, and lists, Tables and the resourceVersion splice only need
// a member's span. The text is trusted (it was produced by our own serialiser); values are
// skipped, not validated.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::apiserver::jsontext {

constexpr size_t npos = std::string_view::npos;

// Index of the first non-whitespace character at or after i.
size_t skipSpace(std::string_view s, size_t i);
// Index just past the JSON value starting at s[i], or npos.
size_t skipValue(std::string_view s, size_t i);
// The start of the value of member `quoted_key` ("\"name\"", with the quotes) of the object
// whose '{' is at s[open], or npos when it has no such member or the text is not an object.
size_t findMember(std::string_view s, size_t open, std::string_view quoted_key);
// The text of the value of top-level member `quoted_key` of the object `s`, or "" when absent.
std::string_view memberValue(std::string_view s, std::string_view quoted_key);
// The text of the value reached from the object `s` through the members `quoted_path` (each
// name with its quotes), or "" when a member is absent or a step is not an object.
std::string_view valueAt(std::string_view s, const std::vector<std::string>& quoted_path);
// The value of the JSON string `text` (with its quotes), unescaped; nullopt when `text` is not
// a string.
std::optional<std::string> stringValue(std::string_view text);
// `object` (the text of a JSON object) without its member `quoted_key`; unchanged when absent.
std::string withoutMember(std::string_view object, std::string_view quoted_key);

}  // namespace berth::apiserver::jsontext
