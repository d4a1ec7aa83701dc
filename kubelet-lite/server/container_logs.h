// Container logs as the kubelet serves them (GET /containerLogs/{ns}/{pod}/{container}):
// reading the CRI log files the runtime writes, one line per record
// `<RFC3339Nano> stdout|stderr F|P <text>` (P = partial line, continued by the next record),
// at <pods_dir>/<ns>_<pod>_<uid>/<container>/<restartCount>.log.
// Thread-safety: pure functions, apart from the file reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apiserver/http/server.h"
#include "common/status.h"
#include "common/time_util.h"

namespace berth::kubelet {

struct LogQuery {
  bool follow = false;
  bool timestamps = false;
  bool previous = false;
  std::optional<int64_t> tail_lines;
  std::optional<int64_t> limit_bytes;
  std::optional<TimePoint> since;  // from sinceSeconds or sinceTime
};

// Reads the query parameters (follow, timestamps, previous, tailLines, limitBytes,
// sinceSeconds, sinceTime). BadRequest naming the parameter when one is malformed.
Result<LogQuery> parseLogQuery(const http::Request& req, TimePoint now);

struct CriRecord {
  std::string_view timestamp;  // as written (RFC 3339 with nanoseconds)
  TimePoint time;
  std::string_view stream;  // "stdout" or "stderr"
  bool partial = false;
  std::string_view text;  // without the newline
};
bool parseCriRecord(std::string_view line, CriRecord* out);

// Renders the complete records of `content` (a whole file, or what was appended since the last
// call) for the client: full lines joined from partial records, "<timestamp> " prefixes when
// asked, records before `since` dropped, only the last `tail_lines` lines when set. Bytes after
// the last newline (a record still being written) are left: *consumed says how far it read.
std::string renderLog(std::string_view content, const LogQuery& query, size_t* consumed);

// The log file of a container: the highest restart number, or the one before it for
// `previous`. Pod directories are matched by namespace and name; the newest one wins when
// several pod UIDs have left directories. NotFound / BadRequest as the kubelet answers them.
Result<std::string> findLogFile(const std::string& pods_dir, const std::string& namespace_,
                                const std::string& pod, const std::string& container,
                                bool previous);

}  // namespace berth::kubelet
