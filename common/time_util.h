// Time helpers: RFC 3339 formatting/parsing as the Kubernetes API writes it, and kubectl's
// human-readable durations (the AGE column). An injectable Clock for tests.
// Thread-safety: pure functions; SystemClock is stateless.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

using TimePoint = std::chrono::system_clock::time_point;

// "2024-05-01T10:00:00Z" (seconds precision, as metav1.Time).
std::string formatRfc3339(TimePoint t);
// "2024-05-01T10:00:00.123456Z" (microseconds, as metav1.MicroTime).
std::string formatRfc3339Micro(TimePoint t);
// Accepts "Z" or "+hh:mm" offsets and optional fractional seconds. Returns false when malformed.
bool parseRfc3339(std::string_view s, TimePoint* out);

// Go's time.ParseDuration subset used by Kubernetes flags: "300ms", "40s", "5m", "1h30m", "0".
// Units ns, us, ms, s, m, h; decimal fractions ("1.5s"); no sign. False when malformed.
bool parseDuration(std::string_view s, std::chrono::nanoseconds* out);

// kubectl's duration.HumanDuration: 5s, 2m30s, 10m, 3h20m, 5d, 2y100d ...
std::string humanDuration(std::chrono::nanoseconds d);
// The AGE cell for a creation time: "<unknown>" for empty, "<invalid>" in the future.
std::string ageString(std::string_view rfc3339, TimePoint now);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& instance();
};

}  // namespace berth
