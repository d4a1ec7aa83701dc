// Resource quantities ("100m", "1Gi", "0.5", "1e3"), as upstream's resource.Quantity parses
// them: a signed decimal number then one suffix, binary (Ki Mi Gi Ti Pi Ei), decimal
// (n u m k M G T P E) or an exponent (e3, E-2). Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace berth::apiserver {

// The quantity's value in base units (cores, bytes), or nullopt when malformed.
std::optional<long double> parseQuantity(std::string_view s);

// A quantity as an object holds it: its text as written (a JSON string, or a number's digits;
// anything else gives text that does not parse), and its value when the text parses.
std::string quantityText(const nlohmann::json& v);
std::optional<long double> quantityOf(const nlohmann::json& v);

// Whether a quantity is written with a binary suffix (Ki, Mi...): sums of it are shown so.
inline bool isBinaryQuantity(std::string_view text) { return !text.empty() && text.back() == 'i'; }

// A value in upstream's canonical text, to the milli: "1500m", "2", "2k", "512Mi" (`binary`: the
// value is written in powers of 1024 where it is a whole multiple of 1Ki, as a BinarySI
// quantity; otherwise in powers of 1000).
std::string formatQuantity(long double value, bool binary);

// upstream's message for a malformed quantity.
inline constexpr std::string_view kQuantityFormatError =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

}  // namespace berth::apiserver
