// Resource quantities ("100m", "1Gi", "0.5", "1e3"), as upstream's resource.Quantity parses
// them: a signed decimal number then one suffix, binary (Ki Mi Gi Ti Pi Ei), decimal
// (n u m k M G T P E) or an exponent (e3, E-2). Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace berth::apiserver {

// The quantity's value in base units (cores, bytes), or nullopt when malformed.
std::optional<long double> parseQuantity(std::string_view s);

// upstream's message for a malformed quantity.
inline constexpr std::string_view kQuantityFormatError =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

}  // namespace berth::apiserver
