// store_bench: durable write throughput of the SQLite Store (group commit) side by side with raw
// SQLite doing one INSERT per transaction on the same table shape and pragmas, plus point-read
// and list figures. Prints the machine it ran on. Not a test: nothing is asserted.
//
// Usage: store_bench [--dir DIR] [--quick]
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/storage/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using berth::storage::SqliteOptions;
using berth::storage::Store;

struct Figures {
  double ops_per_sec = 0;
  double p50_us = 0;
  double p99_us = 0;
  long failures = 0;
};

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      return pos == std::string::npos ? line : line.substr(pos + 2);
    }
  }
  return "unknown";
}

Figures summarise(std::vector<std::vector<double>>& lat, double seconds, long failures) {
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.failures = failures;
  if (all.empty()) return f;
  f.ops_per_sec = static_cast<double>(all.size()) / seconds;
  f.p50_us = all[all.size() / 2];
  f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return f;
}

// Runs `op(thread, i)` `per_thread` times on each of `threads` threads, timing each call.
template <typename Op>
Figures runThreads(int threads, int per_thread, Op op) {
  std::vector<std::vector<double>> lat(threads);
  std::atomic<long> failures{0};
  std::vector<std::thread> ts;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      lat[t].reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) {
        auto s = Clock::now();
        if (!op(t, i)) ++failures;
        lat[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      }
    });
  }
  for (auto& th : ts) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return summarise(lat, secs, failures.load());
}

void print(const char* what, int threads, const Figures& f) {
  std::printf("%-34s %4d thr %10.0f ops/s   p50 %8.0f us   p99 %8.0f us%s\n", what, threads,
              f.ops_per_sec, f.p50_us, f.p99_us,
              f.failures ? ("   FAILURES " + std::to_string(f.failures)).c_str() : "");
  std::fflush(stdout);
}

constexpr const char* kRawSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS kv (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    " created INTEGER NOT NULL, deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL,"
    " prev_revision INTEGER NOT NULL, value BLOB);"
    "CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);";

// Raw SQLite: each thread has its own connection and commits one row per transaction; writers
// contend through SQLite's busy handler, as a naive multi-connection server would.
Figures rawSqlite(const std::string& path, int threads, int per_thread, bool full,
                  const std::string& value) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  std::vector<sqlite3*> dbs(threads);
  std::vector<sqlite3_stmt*> ins(threads), begin(threads), commit(threads);
  for (int t = 0; t < threads; ++t) {
    sqlite3_open(path.c_str(), &dbs[t]);
    sqlite3_busy_timeout(dbs[t], 30000);
    sqlite3_exec(dbs[t], kRawSchema, nullptr, nullptr, nullptr);
    sqlite3_exec(dbs[t], full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", nullptr,
                 nullptr, nullptr);
    sqlite3_prepare_v2(dbs[t],
                       "INSERT INTO kv (name, created, deleted, create_revision, prev_revision,"
                       " value) VALUES (?1, 1, 0, 0, 0, ?2)",
                       -1, &ins[t], nullptr);
    sqlite3_prepare_v2(dbs[t], "BEGIN IMMEDIATE", -1, &begin[t], nullptr);
    sqlite3_prepare_v2(dbs[t], "COMMIT", -1, &commit[t], nullptr);
  }
  Figures f = runThreads(threads, per_thread, [&](int t, int i) {
    std::string key = "/registry/pods/ns" + std::to_string(t) + "/p" + std::to_string(i);
    bool ok = sqlite3_step(begin[t]) == SQLITE_DONE;
    sqlite3_reset(begin[t]);
    if (!ok) return false;
    sqlite3_bind_text(ins[t], 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(ins[t], 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    ok = sqlite3_step(ins[t]) == SQLITE_DONE;
    sqlite3_reset(ins[t]);
    ok = sqlite3_step(commit[t]) == SQLITE_DONE && ok;
    sqlite3_reset(commit[t]);
    return ok;
  });
  for (int t = 0; t < threads; ++t) {
    sqlite3_finalize(ins[t]);
    sqlite3_finalize(begin[t]);
    sqlite3_finalize(commit[t]);
    sqlite3_close(dbs[t]);
  }
  return f;
}

std::unique_ptr<Store> openFresh(const std::string& path, bool full) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  SqliteOptions o;
  o.path = path;
  o.sync_full = full;
  o.compact_interval_seconds = 0;
  auto r = berth::storage::openSqliteStore(o);
  if (!r.isOk()) {
    std::fprintf(stderr, "open: %s\n", r.status().toString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

Figures storeCreates(const std::string& path, int threads, int per_thread, bool full,
                     const std::string& value) {
  auto store = openFresh(path, full);
  Figures f = runThreads(threads, per_thread, [&](int t, int i) {
    return store->create("/registry/pods/ns" + std::to_string(t) + "/p" + std::to_string(i), value)
        .isOk();
  });
  store->close();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::filesystem::temp_directory_path() / "berth-store-bench";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    if (a == "--quick") quick = true;
  }
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/bench.db";
  const std::string value(2048, 'x');
  const int scale = quick ? 1 : 4;

  std::printf("machine: %s, %u cores; sqlite %s; values %zu bytes; dir %s\n", cpuModel().c_str(),
              std::thread::hardware_concurrency(), sqlite3_libversion(), value.size(),
              dir.c_str());
  std::printf("every write below is acknowledged only after COMMIT returns\n\n");

  for (bool full : {true, false}) {
    const char* mode = full ? "FULL" : "NORMAL";
    std::printf("-- synchronous=%s (WAL) --\n", mode);
    for (int threads : {1, 16}) {
      int per = std::max(50, 1000 * scale / threads);
      print((std::string("raw sqlite, 1 insert/txn ") + mode).c_str(), threads,
            rawSqlite(path, threads, per, full, value));
    }
    for (int threads : {1, 16, 64}) {
      int per = threads == 1 ? 1000 * scale : std::max(50, 8000 * scale / threads);
      print((std::string("Store::create (group commit) ") + mode).c_str(), threads,
            storeCreates(path, threads, per, full, value));
    }
    std::printf("\n");
  }

  // Reads on 10,000 keys of 2 KB.
  auto store = openFresh(path, false);
  constexpr int kKeys = 10000;
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; ++t) {
      ts.emplace_back([&, t] {
        for (int i = t; i < kKeys; i += 16) {
          char key[64];
          std::snprintf(key, sizeof key, "/registry/pods/ns%d/p%05d", i % 10, i);
          (void)store->create(key, value).isOk();
        }
      });
    }
    for (auto& th : ts) th.join();
  }
  for (int threads : {1, 4}) {
    Figures f = runThreads(threads, 20000 * scale / threads / 4, [&](int t, int i) {
      char key[64];
      int k = (i * 7919 + t * 104729) % kKeys;
      std::snprintf(key, sizeof key, "/registry/pods/ns%d/p%05d", k % 10, k);
      return store->get(key).isOk();
    });
    print("Store::get (10k keys)", threads, f);
  }
  {
    Figures f = runThreads(1, 5 * scale, [&](int, int) {
      auto l = store->list("/registry/pods/", "", 0);
      return l.isOk() && l->kvs.size() == kKeys;
    });
    print("Store::list all 10k keys", 1, f);
    Figures p = runThreads(1, 50 * scale, [&](int, int i) {
      auto l = store->list("/registry/pods/", "", 500);
      return l.isOk() && l->kvs.size() == 500 && l->more;
    });
    print("Store::list page of 500", 1, p);
    Figures ns = runThreads(1, 50 * scale, [&](int, int i) {
      auto l = store->list("/registry/pods/ns3/", "", 0);
      return l.isOk() && l->kvs.size() == kKeys / 10;
    });
    print("Store::list one ns (1k keys)", 1, ns);
  }
  store->close();
  std::filesystem::remove_all(dir);
  return 0;
}
