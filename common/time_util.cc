#include "common/time_util.h"

#include <cstdio>
#include <ctime>

namespace berth {

namespace {
std::string format(TimePoint t, bool micro) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  if (micro) {
    long us = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count());
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
  } else {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return buf;
}
}  // namespace

std::string formatRfc3339(TimePoint t) { return format(t, false); }
std::string formatRfc3339Micro(TimePoint t) { return format(t, true); }

bool parseRfc3339(std::string_view s, TimePoint* out) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20) return false;
  std::string str(s);
  int consumed = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6 ||
      consumed != 19)
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  // TimePoint counts nanoseconds in 64 bits: only 1678..2261 fit. Later or earlier times are
  // rejected rather than overflowing.
  if (y < 1678 || y > 2261) return false;
  size_t pos = 19;
  long nanos = 0;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    long scale = 100000000;
    size_t digits = 0;
    while (pos < str.size() && std::isdigit(static_cast<unsigned char>(str[pos]))) {
      if (scale > 0) nanos += (str[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) return false;
  }
  long offset = 0;
  if (pos >= str.size()) return false;
  if (str[pos] == 'Z' || str[pos] == 'z') {
    ++pos;
  } else if (str[pos] == '+' || str[pos] == '-') {
    int oh, om;
    if (str.size() - pos != 6 || std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2)
      return false;
    offset = (oh * 3600 + om * 60) * (str[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != str.size()) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  *out = std::chrono::system_clock::from_time_t(tt - offset) + std::chrono::nanoseconds(nanos);
  return true;
}

bool parseDuration(std::string_view s, std::chrono::nanoseconds* out) {
  if (s == "0") {
    *out = std::chrono::nanoseconds(0);
    return true;
  }
  if (s.empty()) return false;
  long double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    long double value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') value = value * 10 + (s[i++] - '0');
    bool digits = i > start;
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      size_t frac_start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        value += (s[i++] - '0') * scale;
        scale /= 10;
      }
      digits = digits || i > frac_start;
    }
    if (!digits) return false;
    size_t unit_start = i;
    while (i < s.size() && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    long double ns;
    if (unit == "ns") ns = 1;
    else if (unit == "us" || unit == "\u00b5s") ns = 1e3L;
    else if (unit == "ms") ns = 1e6L;
    else if (unit == "s") ns = 1e9L;
    else if (unit == "m") ns = 60e9L;
    else if (unit == "h") ns = 3600e9L;
    else return false;
    total += value * ns;
    if (total > 9.2e18L) return false;
  }
  *out = std::chrono::nanoseconds(static_cast<int64_t>(total));
  return true;
}

std::string humanDuration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  long long secs = duration_cast<seconds>(d).count();
  if (secs < -1) return "<invalid>";
  if (secs < 0) return "0s";
  if (secs < 60 * 2) return std::to_string(secs) + "s";
  long long minutes = secs / 60;
  if (minutes < 10) {
    long long s = secs % 60;
    if (s == 0) return std::to_string(minutes) + "m";
    return std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  long long hours = minutes / 60;
  if (hours < 8) {
    long long m = minutes % 60;
    if (m == 0) return std::to_string(hours) + "h";
    return std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    long long h = hours % 24;
    if (h == 0) return std::to_string(hours / 24) + "d";
    return std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    if (dy == 0) return std::to_string(hours / 24 / 365) + "y";
    return std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

std::string ageString(std::string_view rfc3339, TimePoint now) {
  TimePoint t;
  if (rfc3339.empty() || !parseRfc3339(rfc3339, &t)) return "<unknown>";
  return humanDuration(now - t);
}

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace berth
