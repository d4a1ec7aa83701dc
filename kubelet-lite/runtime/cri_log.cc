#include "kubelet-lite/runtime/cri_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace berth::kubelet {

std::string formatRfc3339Nano(TimePoint t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1000000000));
  return buf;
}

void CriLogWriter::write(std::string_view data) {
  pending_.append(data);
  size_t start = 0;
  while (true) {
    size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    emit(std::string_view(pending_).substr(start, nl - start), false);
    start = nl + 1;
  }
  pending_.erase(0, start);
  while (pending_.size() >= kMaxLine) {
    emit(std::string_view(pending_).substr(0, kMaxLine), true);
    pending_.erase(0, kMaxLine);
  }
}

void CriLogWriter::flush() {
  if (pending_.empty()) return;
  emit(pending_, false);
  pending_.clear();
}

void CriLogWriter::flushPartial() {
  if (pending_.empty()) return;
  emit(pending_, true);
  pending_.clear();
}

void CriLogWriter::emit(std::string_view text, bool partial) {
  std::string rec = formatRfc3339Nano(std::chrono::system_clock::now());
  rec += ' ';
  rec += stream_;
  rec += partial ? " P " : " F ";
  rec.append(text);
  rec += '\n';
  size_t off = 0;
  while (off < rec.size()) {
    ssize_t n = ::write(fd_, rec.data() + off, rec.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses log lines, never the container
    off += static_cast<size_t>(n);
  }
}

}  // namespace berth::kubelet
