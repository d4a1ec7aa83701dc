#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

namespace berth::log {
namespace {
std::atomic<int> g_verbosity{2};
std::mutex g_mu;
}  // namespace

void setVerbosity(int v) { g_verbosity.store(v); }
int verbosity() { return g_verbosity.load(std::memory_order_relaxed); }

void write(Severity s, std::string_view file, int line, const std::string& msg) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto slash = file.rfind('/');
  if (slash != std::string_view::npos) file = file.substr(slash + 1);
  char c = s == Severity::kInfo ? 'I' : s == Severity::kWarning ? 'W' : 'E';
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %.*s:%d] %s\n", c, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(us),
               static_cast<int>(file.size()), file.data(), line, msg.c_str());
}

}  // namespace berth::log
