#include "common/cron.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "common/strings.h"

namespace berth {

namespace {

// ---- TZif ------------------------------------------------------------------------------------

int64_t readBE(const std::string& b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  if (n == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

struct TzifHeader {
  int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool readHeader(const std::string& b, size_t at, TzifHeader* h) {
  if (b.size() < at + 44 || b.compare(at, 4, "TZif") != 0) return false;
  h->isut = readBE(b, at + 20, 4);
  h->isstd = readBE(b, at + 24, 4);
  h->leap = readBE(b, at + 28, 4);
  h->time = readBE(b, at + 32, 4);
  h->type = readBE(b, at + 36, 4);
  h->chars = readBE(b, at + 40, 4);
  return h->time >= 0 && h->type > 0 && h->chars >= 0 && h->leap >= 0;
}

int64_t blockSize(const TzifHeader& h, int64_t time_size) {
  return h.time * time_size + h.time + h.type * 6 + h.chars + h.leap * (time_size + 4) + h.isstd + h.isut;
}

bool validZoneName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '/' || name.find("..") != std::string::npos)
    return false;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+'))
      return false;
  return true;
}

// ---- cron fields -----------------------------------------------------------------------------

struct Bounds {
  int min, max;
  std::vector<std::string> names;  // names[i] is value min+i (months, weekdays)
};

const Bounds kMinutes{0, 59, {}};
const Bounds kHours{0, 23, {}};
const Bounds kDom{1, 31, {}};
const Bounds kMonths{1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}};
const Bounds kDow{0, 6, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

Result<int> parseValue(const std::string& s, const Bounds& b) {
  std::string lower = toLower(s);
  for (size_t i = 0; i < b.names.size(); ++i)
    if (b.names[i] == lower) return static_cast<int>(b.min + i);
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    return invalid("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s +
                   "\": invalid syntax");
  return std::stoi(s);
}

// One comma-separated part: "*", "?", "a", "a-b", with an optional "/step".
Status parseRange(const std::string& expr, const Bounds& b, uint64_t* bits, bool* star) {
  std::vector<std::string> range_step = split(expr, '/');
  if (range_step.size() > 2) return invalid("too many slashes: " + expr);
  std::vector<std::string> low_high = split(range_step[0], '-');
  int start, end, step = 1;
  bool is_star = false;
  if (low_high[0] == "*" || low_high[0] == "?") {
    if (low_high.size() > 1) return invalid("too many hyphens: " + expr);
    start = b.min;
    end = b.max;
    is_star = true;
  } else {
    BERTH_ASSIGN_OR_RETURN(start, parseValue(low_high[0], b));
    if (low_high.size() == 1) {
      end = start;
    } else if (low_high.size() == 2) {
      BERTH_ASSIGN_OR_RETURN(end, parseValue(low_high[1], b));
    } else {
      return invalid("too many hyphens: " + expr);
    }
  }
  if (range_step.size() == 2) {
    const std::string& s = range_step[1];
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
      return invalid("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s +
                     "\": invalid syntax");
    step = std::stoi(s);
    if (low_high.size() == 1 && !is_star) end = b.max;  // "a/n" runs to the maximum
    if (step > 1) is_star = false;
  }
  if (start < b.min)
    return invalid("beginning of range (" + std::to_string(start) + ") below minimum (" +
                   std::to_string(b.min) + "): " + expr);
  if (end > b.max)
    return invalid("end of range (" + std::to_string(end) + ") above maximum (" +
                   std::to_string(b.max) + "): " + expr);
  if (start > end)
    return invalid("beginning of range (" + std::to_string(start) + ") beyond end of range (" +
                   std::to_string(end) + "): " + expr);
  if (step == 0) return invalid("step of range should be a positive number: " + expr);
  for (int v = start; v <= end; v += step) *bits |= uint64_t{1} << v;
  if (is_star) *star = true;
  return Status::ok();
}

Status parseField(const std::string& field, const Bounds& b, uint64_t* bits, bool* star) {
  for (const auto& part : split(field, ',')) BERTH_RETURN_IF_ERROR(parseRange(part, b, bits, star));
  return Status::ok();
}

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
void civil(int64_t days, int* y, int* m, int* d) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = static_cast<int>(yoe + era * 400 + (*m <= 2));
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Result<TimeZone> TimeZone::load(const std::string& name, const std::string& dir) {
  TimeZone tz;
  tz.name_ = name;
  if (name == "UTC") return tz;
  if (!validZoneName(name)) return invalid("unknown time zone " + name);
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) return invalid("unknown time zone " + name);
  std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TzifHeader h;
  if (!readHeader(b, 0, &h)) return invalid("unknown time zone " + name);
  size_t at = 44;
  int64_t time_size = 4;
  if (b[4] >= '2') {  // skip the 32-bit block; the 64-bit one follows with its own header
    at += static_cast<size_t>(blockSize(h, 4));
    if (!readHeader(b, at, &h)) return invalid("unknown time zone " + name);
    at += 44;
    time_size = 8;
  }
  if (b.size() < at + static_cast<size_t>(blockSize(h, time_size))) return invalid("unknown time zone " + name);
  std::vector<int64_t> times(h.time);
  std::vector<int> idx(h.time);
  for (int64_t i = 0; i < h.time; ++i) times[i] = readBE(b, at + i * time_size, time_size);
  size_t idx_at = at + h.time * time_size;
  for (int64_t i = 0; i < h.time; ++i) idx[i] = static_cast<unsigned char>(b[idx_at + i]);
  size_t type_at = idx_at + h.time;
  std::vector<int32_t> type_offsets(h.type);
  int first_std = -1;
  for (int64_t i = 0; i < h.type; ++i) {
    type_offsets[i] = static_cast<int32_t>(readBE(b, type_at + i * 6, 4));
    if (first_std < 0 && b[type_at + i * 6 + 4] == 0) first_std = static_cast<int>(i);
  }
  tz.initial_offset_ = type_offsets[first_std < 0 ? 0 : first_std];
  for (int64_t i = 0; i < h.time; ++i) {
    if (idx[i] >= h.type) return invalid("unknown time zone " + name);
    tz.transitions_.push_back(times[i]);
    tz.offsets_.push_back(type_offsets[idx[i]]);
  }
  if (h.time == 0) tz.initial_offset_ = type_offsets[0];
  return tz;
}

std::chrono::seconds TimeZone::offsetAt(TimePoint t) const {
  int64_t s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  if (it == transitions_.begin()) return std::chrono::seconds(initial_offset_);
  return std::chrono::seconds(offsets_[it - transitions_.begin() - 1]);
}

Result<CronSchedule> CronSchedule::parse(const std::string& spec) {
  std::string s(trim(spec));
  if (!s.empty() && s[0] == '@') {
    static const std::pair<const char*, const char*> kDescriptors[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (const auto& [d, fields] : kDescriptors)
      if (s == d) return parse(fields);
    return invalid("unrecognized descriptor: " + s);
  }
  std::vector<std::string> fields;
  for (const auto& f : split(s, ' '))
    if (!f.empty()) fields.push_back(f);
  if (fields.size() != 5) {
    std::string list;
    for (const auto& f : fields) list += (list.empty() ? "" : " ") + f;
    return invalid("expected exactly 5 fields, found " + std::to_string(fields.size()) + ": [" + list + "]");
  }
  CronSchedule c;
  bool ignored = false;
  BERTH_RETURN_IF_ERROR(parseField(fields[0], kMinutes, &c.minute_, &ignored));
  BERTH_RETURN_IF_ERROR(parseField(fields[1], kHours, &c.hour_, &ignored));
  BERTH_RETURN_IF_ERROR(parseField(fields[2], kDom, &c.dom_, &c.dom_star_));
  BERTH_RETURN_IF_ERROR(parseField(fields[3], kMonths, &c.month_, &ignored));
  BERTH_RETURN_IF_ERROR(parseField(fields[4], kDow, &c.dow_, &c.dow_star_));
  return c;
}

bool CronSchedule::dayMatches(int dom, int month, int dow) const {
  if (!((month_ >> month) & 1)) return false;
  bool d = (dom_ >> dom) & 1, w = (dow_ >> dow) & 1;
  return (dom_star_ || dow_star_) ? (d && w) : (d || w);
}

bool CronSchedule::matches(int minute, int hour, int dom, int month, int dow) const {
  return ((minute_ >> minute) & 1) && ((hour_ >> hour) & 1) && dayMatches(dom, month, dow);
}

std::optional<TimePoint> CronSchedule::next(TimePoint after, const TimeZone& tz) const {
  using std::chrono::seconds;
  int64_t t = std::chrono::duration_cast<seconds>(after.time_since_epoch()).count();
  t = floorDiv(t, 60) * 60 + 60;  // the next whole minute
  const int64_t limit = t + int64_t{5} * 366 * 86400;
  while (t < limit) {
    int64_t local = t + tz.offsetAt(TimePoint(seconds(t))).count();
    int64_t days = floorDiv(local, 86400);
    int64_t minute_of_day = (local - days * 86400) / 60;
    int y, m, d;
    civil(days, &y, &m, &d);
    int dow = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    int hour = static_cast<int>(minute_of_day / 60), minute = static_cast<int>(minute_of_day % 60);
    if (!dayMatches(d, m, dow)) {
      // Skip to the next local midnight; if a zone shift lands us past it, step back to it.
      t += (1440 - minute_of_day) * 60;
      int64_t l2 = t + tz.offsetAt(TimePoint(seconds(t))).count();
      int64_t mod = (l2 - floorDiv(l2, 86400) * 86400) / 60;
      if (mod != 0 && mod < 720) t -= mod * 60;
      continue;
    }
    if (!((hour_ >> hour) & 1)) {
      t += (60 - minute) * 60;
      continue;
    }
    if ((minute_ >> minute) & 1) return TimePoint(seconds(t));
    t += 60;
  }
  return std::nullopt;
}

}  // namespace berth
