// klog-like logging: `-v=N` sets the verbosity; 0 always, 2 steady state, 4 debug, 5 trace.
// Messages are structured: a message then key=value pairs; objects are written ns/name.
// Thread-safety: all functions may be called from any thread; lines are written whole.
#pragma once

#include <atomic>
#include <sstream>
#include <string>
#include <string_view>

namespace berth::log {

void setVerbosity(int v);
int verbosity();
inline bool enabled(int level) { return level <= verbosity(); }

enum class Severity { kInfo, kWarning, kError };
void write(Severity s, std::string_view file, int line, const std::string& msg);

// Builds "msg key=value key2=value2".
class Line {
 public:
  Line(Severity s, const char* file, int line, std::string_view msg)
      : sev_(s), file_(file), line_(line) {
    out_ << msg;
  }
  ~Line() { write(sev_, file_, line_, out_.str()); }
  template <typename T>
  Line& kv(std::string_view key, const T& value) {
    out_ << ' ' << key << '=';
    if constexpr (std::is_convertible_v<T, std::string_view>) {
      std::string_view s = value;
      if (s.find(' ') != std::string_view::npos) out_ << '"' << s << '"';
      else out_ << s;
    } else {
      out_ << value;
    }
    return *this;
  }

 private:
  Severity sev_;
  const char* file_;
  int line_;
  std::ostringstream out_;
};

}  // namespace berth::log

#define BLOG(level, msg) \
  if (::berth::log::enabled(level)) ::berth::log::Line(::berth::log::Severity::kInfo, __FILE__, __LINE__, msg)
#define BLOG_WARN(msg) ::berth::log::Line(::berth::log::Severity::kWarning, __FILE__, __LINE__, msg)
#define BLOG_ERROR(msg) ::berth::log::Line(::berth::log::Severity::kError, __FILE__, __LINE__, msg)
