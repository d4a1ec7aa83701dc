// Reading and cutting compact JSON text without parsing it into a tree: the watch cache holds
// objects as their serialisation, and lists, Tables and the resourceVersion splice only need
// a member's span. The text is trusted (it was produced by our own serialiser); values are
// skipped, not validated.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

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
// `object` (the text of a JSON object) without its member `quoted_key`; unchanged when absent.
std::string withoutMember(std::string_view object, std::string_view quoted_key);

}  // namespace berth::apiserver::jsontext
