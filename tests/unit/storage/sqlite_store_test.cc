// The Store contract for the SQLite backend, plus what only SQLite has: persistence across
// reopen, survival of kill -9, history replay beyond the watch ring, background compaction
// and WAL truncation.
#include "apiserver/storage/sqlite_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "tests/unit/storage/store_contract.h"

namespace berth::storage::testing {
namespace {

std::unique_ptr<Store> openSqlite(const SqliteOptions& o) {
  auto r = openSqliteStore(o);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? std::move(r).value() : nullptr;
}

SqliteOptions optionsFor(const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/state.db";
  o.compact_interval_seconds = 0;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreContractTest,
    ::testing::Values(
        StoreFactory{"sqlite", [](const std::string& dir) { return openSqlite(optionsFor(dir)); }},
        // A ring of 2 events forces watch replays through the database.
        StoreFactory{"sqlite_tiny_ring",
                     [](const std::string& dir) {
                       SqliteOptions o = optionsFor(dir);
                       o.watch_ring_size = 2;
                       return openSqlite(o);
                     }},
        // A ring bounded to ~1 KiB of keys and values: replays go through the database too.
        StoreFactory{"sqlite_tiny_ring_bytes",
                     [](const std::string& dir) {
                       SqliteOptions o = optionsFor(dir);
                       o.watch_ring_bytes = 1024;
                       return openSqlite(o);
                     }},
        StoreFactory{"sqlite_sync_normal",
                     [](const std::string& dir) {
                       SqliteOptions o = optionsFor(dir);
                       o.sync_full = false;
                       return openSqlite(o);
                     }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = makeTempDir(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(SqliteStoreTest, ReopenKeepsDataRevisionAndCompaction) {
  int64_t rev = 0, compacted = 0;
  {
    auto s = openSqlite(optionsFor(dir_));
    int64_t a = *s->create("/k/a", "a1");
    ASSERT_TRUE(s->update("/k/a", "a2", a).isOk());
    int64_t b = *s->create("/k/b", "b1");
    ASSERT_TRUE(s->compact(b).isOk());
    auto d = s->remove("/k/b", b);  // newest row is a tombstone
    ASSERT_TRUE(d.isOk());
    ASSERT_TRUE(s->compact(d->mod_revision).isOk());  // and compaction removes it
    rev = s->currentRevision();
    compacted = s->compactedRevision();
    s->close();
  }
  auto s = openSqlite(optionsFor(dir_));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->currentRevision(), rev);
  EXPECT_EQ(s->compactedRevision(), compacted);
  EXPECT_EQ(s->get("/k/a")->value, "a2");
  EXPECT_EQ(s->get("/k/b").status().code(), Code::kNotFound);
  EXPECT_EQ(s->get("/k/a", compacted - 1).status().code(), Code::kExpired);
  auto next = s->create("/k/c", "c1");
  ASSERT_TRUE(next.isOk());
  EXPECT_EQ(*next, rev + 1);  // revisions never go backwards, even past a compacted tombstone
}

TEST_F(SqliteStoreTest, WatchReplayFromDatabaseBeyondRing) {
  SqliteOptions o = optionsFor(dir_);
  o.watch_ring_size = 3;
  auto s = openSqlite(o);
  int64_t r = *s->create("/d/x", "0");
  int64_t from = r;
  for (int i = 1; i <= 20; ++i) r = *s->update("/d/x", std::to_string(i), r);
  EventCollector c;
  auto w = s->watch("/d/", from, c.callback());
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE(c.waitFor(20));
  auto ev = c.events();
  ASSERT_EQ(ev.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(ev[i].kv.mod_revision, from + 1 + i);
    EXPECT_EQ(ev[i].kv.value, std::to_string(i + 1));
    ASSERT_TRUE(ev[i].prev.has_value());
    EXPECT_EQ(ev[i].prev->value, std::to_string(i));
    EXPECT_EQ(ev[i].kv.create_revision, from);
  }
}

TEST_F(SqliteStoreTest, SlowWatcherIsExpiredNotUnbounded) {
  SqliteOptions o = optionsFor(dir_);
  o.watch_queue_limit = 5;
  auto s = openSqlite(o);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  EventCollector tail;
  std::atomic<int> first{0};
  auto w = s->watch("/q/", 0, [&](const std::vector<Event>& e, const Status& st) {
    if (first++ == 0) {  // block on the first delivery until the queue has overflowed
      std::unique_lock<std::mutex> lk(mu);
      cv.wait_for(lk, std::chrono::seconds(10), [&] { return release; });
    }
    tail.callback()(e, st);
  });
  ASSERT_TRUE(w.isOk());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->create("/q/" + std::to_string(i), "v").isOk());
  {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
    cv.notify_all();
  }
  ASSERT_TRUE(tail.waitEnded());
  EXPECT_EQ(tail.finalStatus().code(), Code::kExpired);
  EXPECT_LT(tail.events().size(), 20u);
}

TEST_F(SqliteStoreTest, BackgroundCompactionKeepsWindowAndTruncatesWal) {
  SqliteOptions o = optionsFor(dir_);
  o.compact_interval_seconds = 1;
  o.keep_revisions = 10;
  auto s = openSqlite(o);
  std::string big(4096, 'x');
  int64_t r = *s->create("/bg/a", big);
  for (int i = 0; i < 300; ++i) r = *s->update("/bg/a", big, r);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s->compactedRevision() < r - 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // test-side wait only
  }
  EXPECT_EQ(s->compactedRevision(), r - 10);
  EXPECT_EQ(s->get("/bg/a", r - 11).status().code(), Code::kExpired);
  EXPECT_TRUE(s->get("/bg/a", r - 10).isOk());
  EXPECT_EQ(s->get("/bg/a")->mod_revision, r);
  // The TRUNCATE checkpoint after compaction empties the WAL file (it runs just after the
  // compaction commits, so wait for it).
  std::error_code ec;
  uintmax_t wal = 1;
  while ((wal = std::filesystem::file_size(o.path + "-wal", ec)) != 0 && !ec &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(ec);
  EXPECT_EQ(wal, 0u);
}

TEST_F(SqliteStoreTest, WalStaysBoundedWithoutCompaction) {
  SqliteOptions o = optionsFor(dir_);
  o.sync_full = false;
  auto s = openSqlite(o);
  const std::string value(2048, 'w');
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4000; ++i) {
        ASSERT_TRUE(s->create("/wal/" + std::to_string(t) + "/" + std::to_string(i), value).isOk());
      }
    });
  }
  for (auto& th : threads) th.join();
  // About 70 MB went through the WAL; background PASSIVE checkpoints let it restart.
  std::error_code ec;
  auto wal = std::filesystem::file_size(o.path + "-wal", ec);
  ASSERT_FALSE(ec);
  EXPECT_LT(wal, 45u << 20);
  s->close();
}

// A child process writes and reports each acknowledged key; it is SIGKILLed mid-stream. Every
// key it reported must be in the database afterwards. Both synchronous modes survive a process
// crash (NORMAL only risks power loss).
class SqliteCrashTest : public SqliteStoreTest, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(SyncModes, SqliteCrashTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("full") : std::string("normal");
                         });

TEST_P(SqliteCrashTest, AcknowledgedWritesSurviveKill9) {
  SqliteOptions o = optionsFor(dir_);
  o.sync_full = GetParam();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto r = openSqliteStore(o);
    if (!r.isOk()) _exit(2);
    auto store = std::move(r).value();
    std::string value(2048, 'v');
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          std::string key = "/crash/" + std::to_string(t) + "/" + std::to_string(i);
          if (!store->create(key, value).isOk()) _exit(3);
          std::string line = key + "\n";
          if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(4);
          }
        }
      });
    }
    for (auto& w : writers) w.join();
    _exit(0);
  }
  close(fds[1]);
  std::vector<std::string> acked;
  std::string buf;
  char chunk[4096];
  while (acked.size() < 1000) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      acked.push_back(buf.substr(0, pos));
      buf.erase(0, pos + 1);
    }
  }
  kill(pid, SIGKILL);
  // Keys reported after our last read are acknowledged too.
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  size_t pos;
  while ((pos = buf.find('\n')) != std::string::npos) {
    acked.push_back(buf.substr(0, pos));
    buf.erase(0, pos + 1);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  ASSERT_GE(acked.size(), 1000u);

  auto s = openSqlite(o);
  ASSERT_NE(s, nullptr);
  for (const std::string& k : acked) {
    auto g = s->get(k);
    ASSERT_TRUE(g.isOk()) << "acknowledged key lost: " << k;
  }
  auto l = s->list("/crash/", "", 0);
  ASSERT_TRUE(l.isOk());
  EXPECT_GE(l->kvs.size(), acked.size());
  EXPECT_EQ(s->currentRevision(), static_cast<int64_t>(l->kvs.size()));
  // The store keeps working after recovery.
  int64_t before = s->currentRevision();
  auto after = s->create("/after", "v");
  ASSERT_TRUE(after.isOk());
  EXPECT_EQ(*after, before + 1);
}

TEST(OpenStoreTest, ParsesEndpoints) {
  std::string dir = makeTempDir();
  auto ok = openStore("sqlite://" + dir + "/x.db");
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_TRUE((*ok)->create("/a", "b").isOk());
  (*ok)->close();

  auto etcd = openStore("etcd://127.0.0.1:2379");
  ASSERT_FALSE(etcd.isOk());
  EXPECT_EQ(etcd.status().code(), Code::kUnavailable);

  auto bad = openStore("mysql://db");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  EXPECT_NE(bad.status().message().find("mysql://db"), std::string::npos);
  EXPECT_EQ(openStore("sqlite://").status().code(), Code::kBadRequest);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(PrefixRangeEndTest, IncrementsLastByte) {
  EXPECT_EQ(prefixRangeEnd("/registry/pods/"), "/registry/pods0");
  EXPECT_EQ(prefixRangeEnd(""), "");
  EXPECT_EQ(prefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefixRangeEnd(std::string("\xff\xff", 2)), "");
}

}  // namespace
}  // namespace berth::storage::testing
