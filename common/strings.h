// Small string helpers shared by every module. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

std::vector<std::string> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);
std::string toLower(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Percent-decoding for URL paths and queries; `plus_is_space` for query strings.
std::string urlDecode(std::string_view s, bool plus_is_space);
std::string urlEncode(std::string_view s);

std::string base64Encode(std::string_view data);
// Returns false on malformed input.
bool base64Decode(std::string_view in, std::string* out);

// A random RFC 4122 version-4 UUID.
std::string newUuid();
// n random characters from [bcdfghjklmnpqrstvwxz2456789], as upstream's generateName suffix.
std::string randomSuffix(size_t n);

}  // namespace berth
