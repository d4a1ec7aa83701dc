#include "kubelet-lite/server/container_logs.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace berth::kubelet {
namespace {

namespace fs = std::filesystem;

const char* kLog =
    "2026-11-27T10:00:00.000000001Z stdout F one\n"
    "2026-11-27T10:00:01.000000000Z stderr F two\n"
    "2026-11-27T10:00:02.000000000Z stdout P thr\n"
    "2026-11-27T10:00:02.500000000Z stdout F ee\n"
    "2026-11-27T10:00:03.000000000Z stdout F four\n"
    "2026-11-27T10:00:04.000000000Z stdout F fi";  // still being written

TEST(CriRecord, Parses) {
  CriRecord r;
  ASSERT_TRUE(parseCriRecord("2026-11-27T10:00:00.123456789Z stderr P hello world", &r));
  EXPECT_EQ(r.stream, "stderr");
  EXPECT_TRUE(r.partial);
  EXPECT_EQ(r.text, "hello world");
  EXPECT_EQ(r.timestamp, "2026-11-27T10:00:00.123456789Z");
  ASSERT_TRUE(parseCriRecord("2026-11-27T10:00:00Z stdout F", &r));
  EXPECT_EQ(r.text, "");
  EXPECT_FALSE(parseCriRecord("2026-11-27T10:00:00Z stdin F x", &r));
  EXPECT_FALSE(parseCriRecord("2026-11-27T10:00:00Z stdout X x", &r));
  EXPECT_FALSE(parseCriRecord("yesterday stdout F x", &r));
  EXPECT_FALSE(parseCriRecord("plain text", &r));
}

TEST(RenderLog, JoinsPartialsAndLeavesTheUnfinishedRecord) {
  LogQuery q;
  size_t consumed = 0;
  std::string all(kLog);
  EXPECT_EQ(renderLog(all, q, &consumed), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(all.substr(consumed), "2026-11-27T10:00:04.000000000Z stdout F fi");
}

TEST(RenderLog, TailTimestampsAndSince) {
  size_t consumed = 0;
  LogQuery tail;
  tail.tail_lines = 2;
  EXPECT_EQ(renderLog(kLog, tail, &consumed), "three\nfour\n");
  tail.tail_lines = 0;
  EXPECT_EQ(renderLog(kLog, tail, &consumed), "");
  LogQuery ts;
  ts.timestamps = true;
  ts.tail_lines = 1;
  EXPECT_EQ(renderLog(kLog, ts, &consumed), "2026-11-27T10:00:03.000000000Z four\n");
  LogQuery since;
  TimePoint t;
  ASSERT_TRUE(parseRfc3339("2026-11-27T10:00:01Z", &t));
  since.since = t;
  EXPECT_EQ(renderLog(kLog, since, &consumed), "two\nthree\nfour\n");
}

TEST(LogQuery, ParsesAndRejects) {
  http::Request req;
  req.query = {{"follow", "true"}, {"tailLines", "5"}, {"sinceSeconds", "10"}, {"limitBytes", "7"}};
  TimePoint now = std::chrono::system_clock::now();
  auto q = parseLogQuery(req, now);
  ASSERT_TRUE(q.isOk()) << q.status().message();
  EXPECT_TRUE(q->follow);
  EXPECT_EQ(*q->tail_lines, 5);
  EXPECT_EQ(*q->limit_bytes, 7);
  EXPECT_EQ(*q->since, now - std::chrono::seconds(10));
  http::Request bad;
  bad.query = {{"tailLines", "-1"}};
  auto r = parseLogQuery(bad, now);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("tailLines"), std::string::npos);
  http::Request both;
  both.query = {{"sinceSeconds", "1"}, {"sinceTime", "2026-11-27T10:00:00Z"}};
  EXPECT_FALSE(parseLogQuery(both, now).isOk());
}

TEST(FindLogFile, PicksCurrentAndPrevious) {
  fs::path dir = fs::temp_directory_path() / ("logs-" + std::to_string(getpid()));
  fs::create_directories(dir / "default_web_uid1" / "app");
  for (int n : {0, 1, 10}) std::ofstream(dir / "default_web_uid1" / "app" / (std::to_string(n) + ".log"));
  fs::create_directories(dir / "default_web-2_uid2" / "app");
  auto cur = findLogFile(dir, "default", "web", "app", false);
  ASSERT_TRUE(cur.isOk()) << cur.status().message();
  EXPECT_EQ(fs::path(*cur).filename(), "10.log");
  auto prev = findLogFile(dir, "default", "web", "app", true);
  ASSERT_TRUE(prev.isOk());
  EXPECT_EQ(fs::path(*prev).filename(), "1.log");
  EXPECT_EQ(findLogFile(dir, "default", "web", "other", false).status().code(), Code::kNotFound);
  EXPECT_EQ(findLogFile(dir, "default", "nope", "app", false).status().code(), Code::kNotFound);
  // web-2 has no log files: its container is unknown, web's files do not leak into it.
  EXPECT_EQ(findLogFile(dir, "default", "web-2", "app", false).status().code(), Code::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace berth::kubelet
