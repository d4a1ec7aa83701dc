// parseJson: JSON text into an nlohmann tree, the same tree nlohmann::json::parse(text, nullptr,
// false) builds (a discarded value on any error), about twice as fast. nlohmann's lexer reads
// through an input adapter one character at a time and copies every string through a token
// buffer; this parser walks the bytes directly, copies plain string runs in one append and
// builds the members in place. It is used where the server and the clients parse many objects:
// the watch cache's trees (Table rows, updates), and the client's watch events and responses.
//
// Same results as nlohmann (tests/unit/common/json_parse_test.cc compares them): strict RFC 8259
// grammar, UTF-8 validated, \u escapes with surrogate pairs, a duplicated key keeps its last
// value, a non-negative integer is number_unsigned and a negative one number_integer, an
// integer beyond 64 bits becomes number_float, and whitespace only around values. Nesting
// deeper than kMaxFastDepth is handed to nlohmann's own (non-recursive) parser, so no input can
// exhaust the stack.
//
// Thread-safety: a pure function.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr int kMaxFastDepth = 256;

nlohmann::json parseJson(std::string_view text);

// Which members of a document to build, for readers that need a few (Table printers): a
// member named here is built (whole, or through its own projection); any other is skipped
// unread. Arrays are transparent: their elements are taken through the same projection, so a
// shape-only node keeps an array's length with each element an empty object.
struct JsonProjection {
  bool whole = false;  // build this value entirely
  std::map<std::string, JsonProjection, std::less<>> members;

  // Builds the value at `path` entirely.
  JsonProjection& keep(std::initializer_list<std::string_view> path);
  // Keeps the value at `path` only as a shape: its objects empty, its arrays' lengths.
  JsonProjection& keepShape(std::initializer_list<std::string_view> path);
};

// `text` through `projection`: false on malformed text (the caller may parse it whole then).
bool parseJsonProjected(std::string_view text, const JsonProjection& projection,
                        nlohmann::json* out);

// The parser itself, for callers with a slower path of their own: true with *out set when
// `text` is valid and nested no deeper than kMaxFastDepth; false on any error (the caller's
// own parser then tells why). With `duplicate_keys`, appends the path of every repeated member
// ("spec.containers[0].name").
bool parseJsonFast(std::string_view text, nlohmann::json* out,
                   std::vector<std::string>* duplicate_keys = nullptr);

}  // namespace berth
