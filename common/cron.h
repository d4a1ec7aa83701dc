// Cron schedules as Kubernetes CronJobs read them (the standard five fields "minute hour
// day-of-month month day-of-week" with *, ?, lists, ranges, steps, JAN-DEC / SUN-SAT names, and
// the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly), and IANA time
// zones read from TZif files (/usr/share/zoneinfo) so a schedule can run in a named zone.
//
// As upstream's cron parser: when both day fields are restricted, a day matches if either does;
// when one of them is "*" or "?", both must match. "a/n" means "a-max/n".
// Thread-safety: immutable values after parse()/load(); safe to share.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time_util.h"

namespace berth {

class TimeZone {
 public:
  // UTC.
  TimeZone() = default;
  // The zone `name` ("Europe/Berlin", "UTC") from `dir`. Errors name the zone, as Go's
  // time.LoadLocation: `unknown time zone Mars/Base`. "Local" and "" are refused by callers.
  static Result<TimeZone> load(const std::string& name,
                               const std::string& dir = "/usr/share/zoneinfo");
  // Offset of local time from UTC at the instant `t`. After the file's last transition the last
  // offset holds (the system's zone files list transitions far ahead).
  std::chrono::seconds offsetAt(TimePoint t) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_ = "UTC";
  std::vector<int64_t> transitions_;  // unix seconds, ascending
  std::vector<int32_t> offsets_;      // offset after each transition
  int32_t initial_offset_ = 0;        // before the first transition
};

class CronSchedule {
 public:
  // Errors read like upstream's: "expected exactly 5 fields, found 2: [* *]",
  // "failed to parse int from x: ...", "end of range (61) above maximum (59): 0-61".
  static Result<CronSchedule> parse(const std::string& spec);
  // The first minute strictly after `after` whose local time in `tz` matches; nullopt when
  // none comes within five years (e.g. "0 0 30 2 *").
  std::optional<TimePoint> next(TimePoint after, const TimeZone& tz) const;
  bool matches(int minute, int hour, int dom, int month, int dow) const;

 private:
  bool dayMatches(int dom, int month, int dow) const;
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  bool dom_star_ = false, dow_star_ = false;
};

}  // namespace berth
