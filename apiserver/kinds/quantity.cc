#include "apiserver/kinds/quantity.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

namespace berth::apiserver {

std::optional<long double> parseQuantity(std::string_view s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    negative = s[i] == '-';
    ++i;
  }
  long double value = 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    value = value * 10 + (s[i] - '0');
    ++i;
    ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++digits;
    }
  }
  if (digits == 0) return std::nullopt;
  std::string_view suffix = s.substr(i);
  long double mult = 1;
  if (suffix.empty()) {
  } else if (suffix == "Ki") {
    mult = 1024.0L;
  } else if (suffix == "Mi") {
    mult = std::pow(1024.0L, 2);
  } else if (suffix == "Gi") {
    mult = std::pow(1024.0L, 3);
  } else if (suffix == "Ti") {
    mult = std::pow(1024.0L, 4);
  } else if (suffix == "Pi") {
    mult = std::pow(1024.0L, 5);
  } else if (suffix == "Ei") {
    mult = std::pow(1024.0L, 6);
  } else if (suffix == "n") {
    mult = 1e-9L;
  } else if (suffix == "u") {
    mult = 1e-6L;
  } else if (suffix == "m") {
    mult = 1e-3L;
  } else if (suffix == "k") {
    mult = 1e3L;
  } else if (suffix == "M") {
    mult = 1e6L;
  } else if (suffix == "G") {
    mult = 1e9L;
  } else if (suffix == "T") {
    mult = 1e12L;
  } else if (suffix == "P") {
    mult = 1e15L;
  } else if (suffix == "E") {
    mult = 1e18L;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    size_t j = 1;
    bool expNegative = false;
    if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) {
      expNegative = suffix[j] == '-';
      ++j;
    }
    if (j >= suffix.size()) return std::nullopt;
    int exp = 0;
    for (; j < suffix.size(); ++j) {
      if (suffix[j] < '0' || suffix[j] > '9') return std::nullopt;
      exp = exp * 10 + (suffix[j] - '0');
      if (exp > 1000) return std::nullopt;
    }
    mult = std::pow(10.0L, expNegative ? -exp : exp);
  } else {
    return std::nullopt;
  }
  long double v = value * mult;
  return negative ? -v : v;
}

std::string formatQuantity(long double value, bool binary) {
  std::string sign = value < 0 ? "-" : "";
  value = std::fabs(value);
  long double whole = std::round(value);
  if (binary && std::fabs(value - whole) < 1e-9L && whole >= 1024) {
    static const char* const kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    auto n = static_cast<unsigned long long>(whole);
    int e = 0;
    while (e < 6 && n % 1024 == 0) {
      n /= 1024;
      ++e;
    }
    return sign + std::to_string(n) + kSuffix[e];
  }
  static const char* const kSuffix[] = {"m", "", "k", "M", "G", "T", "P", "E"};
  auto n = static_cast<unsigned long long>(std::round(value * 1000));
  if (n == 0) return "0";
  int e = 0;  // index into kSuffix: 0 is milli
  while (e < 7 && n % 1000 == 0) {
    n /= 1000;
    ++e;
  }
  return sign + std::to_string(n) + kSuffix[e];
}

std::string quantityText(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::optional<long double> quantityOf(const nlohmann::json& v) {
  return parseQuantity(quantityText(v));
}

}  // namespace berth::apiserver
