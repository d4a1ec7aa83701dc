#include "kubelet-lite/server/container_logs.h"

#include <charconv>
#include <deque>
#include <filesystem>
#include <vector>

#include "common/strings.h"

namespace berth::kubelet {

namespace fs = std::filesystem;

namespace {

Result<std::optional<int64_t>> intParam(const http::Request& req, const char* name, int64_t min) {
  if (!req.hasParam(name)) return std::optional<int64_t>();
  std::string v = req.param(name);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < min)
    return badRequest("invalid value for " + std::string(name) + ": \"" + v + "\"");
  return std::optional<int64_t>(n);
}

bool boolParam(const http::Request& req, const char* name) {
  std::string v = req.param(name);
  return v == "true" || v == "1";
}

struct Line {
  std::string_view timestamp;
  TimePoint time;
  std::string text;
};

}  // namespace

Result<LogQuery> parseLogQuery(const http::Request& req, TimePoint now) {
  LogQuery q;
  q.follow = boolParam(req, "follow");
  q.timestamps = boolParam(req, "timestamps");
  q.previous = boolParam(req, "previous");
  BERTH_ASSIGN_OR_RETURN(q.tail_lines, intParam(req, "tailLines", 0));
  BERTH_ASSIGN_OR_RETURN(q.limit_bytes, intParam(req, "limitBytes", 1));
  BERTH_ASSIGN_OR_RETURN(auto since_seconds, intParam(req, "sinceSeconds", 1));
  if (since_seconds) q.since = now - std::chrono::seconds(*since_seconds);
  if (req.hasParam("sinceTime")) {
    TimePoint t;
    if (!parseRfc3339(req.param("sinceTime"), &t))
      return badRequest("invalid value for sinceTime: \"" + req.param("sinceTime") + "\"");
    if (since_seconds) return badRequest("at most one of sinceTime or sinceSeconds may be specified");
    q.since = t;
  }
  return q;
}

bool parseCriRecord(std::string_view line, CriRecord* out) {
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  auto sp3 = line.find(' ', sp2 + 1);
  std::string_view tag = line.substr(sp2 + 1, sp3 == std::string_view::npos ? std::string_view::npos
                                                                             : sp3 - sp2 - 1);
  out->timestamp = line.substr(0, sp1);
  out->stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (out->stream != "stdout" && out->stream != "stderr") return false;
  if (tag != "F" && tag != "P") return false;
  out->partial = tag == "P";
  out->text = sp3 == std::string_view::npos ? std::string_view() : line.substr(sp3 + 1);
  return parseRfc3339(out->timestamp, &out->time);
}

std::string renderLog(std::string_view content, const LogQuery& query, size_t* consumed) {
  std::deque<Line> lines;
  std::string pending;
  std::string_view pending_ts;
  TimePoint pending_time{};
  bool have_pending = false;
  size_t pos = 0, done = 0;
  while (true) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string_view::npos) break;
    std::string_view raw = content.substr(pos, nl - pos);
    pos = nl + 1;
    CriRecord rec;
    if (!parseCriRecord(raw, &rec)) {
      done = pos;  // not a CRI record: skipped, as the kubelet does
      continue;
    }
    if (!have_pending) {
      pending_ts = rec.timestamp;
      pending_time = rec.time;
      have_pending = true;
    }
    pending.append(rec.text);
    if (rec.partial) continue;
    done = pos;
    have_pending = false;
    if (query.since && pending_time < *query.since) {
      pending.clear();
      continue;
    }
    lines.push_back({pending_ts, pending_time, std::move(pending)});
    pending.clear();
    if (query.tail_lines && static_cast<int64_t>(lines.size()) > *query.tail_lines)
      lines.pop_front();
  }
  *consumed = done;
  std::string out;
  for (const auto& l : lines) {
    if (query.timestamps) {
      out.append(l.timestamp);
      out.push_back(' ');
    }
    out.append(l.text);
    out.push_back('\n');
  }
  return out;
}

Result<std::string> findLogFile(const std::string& pods_dir, const std::string& namespace_,
                                const std::string& pod, const std::string& container,
                                bool previous) {
  std::error_code ec;
  std::string prefix = namespace_ + "_" + pod + "_";
  fs::path pod_dir;
  fs::file_time_type newest{};
  for (const auto& e : fs::directory_iterator(pods_dir, ec)) {
    std::string name = e.path().filename().string();
    // The UID never holds '_', so the prefix names exactly this namespace and pod.
    if (!startsWith(name, prefix) || name.find('_', prefix.size()) != std::string::npos) continue;
    auto t = fs::last_write_time(e.path(), ec);
    if (pod_dir.empty() || t > newest) {
      pod_dir = e.path();
      newest = t;
    }
  }
  if (pod_dir.empty())
    return notFound("pod \"" + pod + "\" in namespace \"" + namespace_ + "\" has no logs on this node");
  fs::path dir = pod_dir / container;
  std::vector<int> restarts;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!endsWith(name, ".log")) continue;
    int n = 0;
    auto [end, err] = std::from_chars(name.data(), name.data() + name.size() - 4, n);
    if (err == std::errc() && end == name.data() + name.size() - 4) restarts.push_back(n);
  }
  std::sort(restarts.begin(), restarts.end());
  if (restarts.empty())
    return notFound("container \"" + container + "\" in pod \"" + pod + "\" has no logs");
  if (previous) {
    if (restarts.size() < 2)
      return badRequest("previous terminated container \"" + container + "\" in pod \"" + pod +
                        "\" not found");
    return (dir / (std::to_string(restarts[restarts.size() - 2]) + ".log")).string();
  }
  return (dir / (std::to_string(restarts.back()) + ".log")).string();
}

}  // namespace berth::kubelet
