// CriLogWriter: turns a container's output stream into CRI log records on a file descriptor,
// one line per record: "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n". Complete lines are "F";
// a line longer than kMaxLine is split into "P" records followed by the "F" rest. What is left
// without a newline at flush() is written as a full record, at flushPartial() as a partial one.
// Thread-safety: one writer per stream, used from one thread; records are written with a single
// write() each, so two writers may share an O_APPEND fd.
#pragma once

#include <string>
#include <string_view>

#include "common/time_util.h"

namespace berth::kubelet {

// "2024-05-01T10:00:00.123456789Z"
std::string formatRfc3339Nano(TimePoint t);

class CriLogWriter {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;
  CriLogWriter(int fd, std::string stream) : fd_(fd), stream_(std::move(stream)) {}
  void write(std::string_view data);
  void flush();
  // Writes what is pending as a partial record (a terminal's prompt or echo, so that attach
  // shows it before the line ends).
  void flushPartial();

 private:
  void emit(std::string_view text, bool partial);
  int fd_;
  std::string stream_;
  std::string pending_;
};

}  // namespace berth::kubelet
