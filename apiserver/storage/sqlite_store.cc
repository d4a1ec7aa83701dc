#include "apiserver/storage/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "apiserver/storage/group_commit.h"
#include "apiserver/storage/watch_hub.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::storage {

std::string prefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return end;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

namespace {

// Requests taken into one transaction at most; bounds the latency of the first in a batch.
constexpr size_t kMaxBatch = 4096;
// Revisions compacted per transaction, so writers interleave with a large compaction: a chunk
// rides in a batch with whatever writes are queued, and each deleted row costs ~15 µs, so
// this bounds what one write waits for (~15 ms). 5,000 made each step of a controller's chain
// of writes wait ~75 ms while a big compaction ran (a Deployment's first pod ~1 s late).
constexpr int64_t kCompactChunk = 1000;
// WAL size (pages) at which the checkpointer thread copies the WAL into the database.
constexpr int kCheckpointPages = 4000;
// A batch slower than this is logged as a warning (a fifth of it, at -v 4).
constexpr auto kSlowBatch = std::chrono::milliseconds(100);

Status sqliteError(sqlite3* db, const std::string& what) {
  return internalError(what + ": " + (db ? sqlite3_errmsg(db) : "no connection"));
}

// A prepared statement owned by one connection, reused for every call.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return sqliteError(db, std::string("prepare ") + sql);
    }
    return Status::ok();
  }
  sqlite3_stmt* get() const { return s_; }
  void reset() {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when the scope ends, releasing its read snapshot.
class StmtScope {
 public:
  explicit StmtScope(const Stmt& s) : s_(s.get()) {}
  ~StmtScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  sqlite3_stmt* operator*() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

void bindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
void bindBlob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
std::string columnString(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return internalError(std::string(sql) + ": " + m);
  }
  return Status::ok();
}

Result<sqlite3*> openConnection(const std::string& path, bool sync_full, bool writer) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status st = sqliteError(db, "open " + path);
    sqlite3_close(db);
    return st;
  }
  sqlite3_busy_timeout(db, 5000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY;";
  pragmas += sync_full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
  // The writer never checkpoints inline (that would stall every queued writer); see
  // SqliteStore::checkpointLoop.
  // Readers map at most 64 MiB of the file: mapped pages count in the server's RSS, and the
  // API serves most reads from its watch cache, not from here.
  pragmas += writer ? "PRAGMA cache_size=-32000; PRAGMA wal_autocheckpoint=0;"
                    : "PRAGMA cache_size=-8000; PRAGMA mmap_size=67108864;";
  Status st = exec(db, pragmas.c_str());
  if (!st.isOk()) {
    sqlite3_close(db);
    return st;
  }
  return db;
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kv ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL,"
    "  create_revision INTEGER NOT NULL,"
    "  prev_revision INTEGER NOT NULL,"
    "  value BLOB);"
    "CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);"
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);";

// Latest row of a name at or below a revision.
constexpr const char* kGetSql =
    "SELECT id, deleted, create_revision, value FROM kv WHERE name = ?1 AND id <= ?2 "
    "ORDER BY id DESC LIMIT 1";
// Live keys at revision ?3, in name order. ?1 lower bound, ?2 upper bound (exclusive; a BLOB
// sorts after every TEXT, so x'ff' means "no upper bound"), ?4 limit.
constexpr const char* kListTail =
    " AND a.name < ?2 AND a.deleted = 0"
    " AND a.id = (SELECT MAX(b.id) FROM kv b WHERE b.name = a.name AND b.id <= ?3)"
    " ORDER BY a.name LIMIT ?4";
constexpr const char* kHistorySql =
    "SELECT r.id, r.name, r.deleted, r.create_revision, r.value, p.id, p.deleted, "
    "p.create_revision, p.value FROM kv r LEFT JOIN kv p ON p.id = r.prev_revision "
    "WHERE r.id > ?1 AND r.id <= ?2 ORDER BY r.id";

struct ReadConn {
  sqlite3* db = nullptr;
  Stmt get, list_ge, list_gt, history;
  ~ReadConn() {
    // Statements first: sqlite3_close fails while statements are alive.
    for (Stmt* st : {&get, &list_ge, &list_gt, &history}) st->reset();
    sqlite3_close(db);
  }
};

struct OpOutcome {
  Status status;
  int64_t revision = 0;
  KeyValue kv;
};

struct WriteOp {
  enum class Kind { kCreate, kUpdate, kRemove, kCompact };
  Kind kind = Kind::kCreate;
  std::string key;
  std::string value;
  int64_t expected = 0;
  int64_t compact_lo = 0;
  int64_t compact_hi = 0;
  bool checkpoint = false;
  OpOutcome out;  // set by the group-commit leader
};

class SqliteStore : public Store {
 public:
  explicit SqliteStore(SqliteOptions options)
      : options_(std::move(options)),
        group_(kMaxBatch, [this](const std::vector<WriteOp*>& batch) { processBatch(batch); }) {}
  ~SqliteStore() override { close(); }

  Status open();

  Result<KeyValue> get(const std::string& key, int64_t revision) override;
  Result<ListResult> list(const std::string& prefix, const std::string& start_after,
                          int64_t limit, int64_t revision) override;
  Result<int64_t> create(const std::string& key, const std::string& value) override;
  void createAsync(const std::string& key, std::string value, CreateDone done) override;
  Result<int64_t> update(const std::string& key, const std::string& value,
                         int64_t expected_revision) override;
  Result<KeyValue> remove(const std::string& key, int64_t expected_revision) override;
  Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t after_revision,
                                       WatchCallback callback) override;
  int64_t currentRevision() override { return committed_.load(); }
  int64_t compactedRevision() override { return compacted_.load(); }
  Status compact(int64_t revision) override;
  void close() override;

 private:
  // Read connection pool.
  class Lease {
   public:
    Lease(SqliteStore* s, std::unique_ptr<ReadConn> c) : s_(s), c_(std::move(c)) {}
    ~Lease() {
      if (c_) s_->releaseReader(std::move(c_));
    }
    ReadConn* operator->() const { return c_.get(); }
    ReadConn* get() const { return c_.get(); }

   private:
    SqliteStore* s_;
    std::unique_ptr<ReadConn> c_;
  };
  Result<std::unique_ptr<ReadConn>> acquireReader();
  void releaseReader(std::unique_ptr<ReadConn> c);

  Status checkRevision(int64_t revision);
  Result<KeyValue> getAt(ReadConn* c, const std::string& key, int64_t rev);
  Result<ListResult> listAt(ReadConn* c, const std::string& prefix,
                            const std::string& start_after, int64_t limit, int64_t rev);
  Result<std::vector<Event>> readHistory(const std::string& prefix, int64_t from, int64_t to);

  OpOutcome submit(std::unique_ptr<WriteOp> op);
  void processBatch(const std::vector<WriteOp*>& batch);
  Status applyWrite(WriteOp& op, int64_t* rev, OpOutcome* out, std::vector<Event>* events);
  Status applyCompact(const WriteOp& op);
  void compactorLoop();
  void checkpointLoop();
  static int walHook(void* self, sqlite3* db, const char* name, int pages);

  const SqliteOptions options_;
  sqlite3* wdb_ = nullptr;  // used only by the current group-commit leader after open()
  Stmt w_latest_, w_insert_, w_begin_, w_commit_, w_rollback_;
  Stmt w_compact_superseded_, w_compact_tombstones_, w_set_compact_;

  std::atomic<int64_t> committed_{0};
  std::atomic<int64_t> compacted_{0};
  std::atomic<bool> closed_{false};

  // Group commit: concurrent writers share one transaction and one fsync on the writing
  // connection, committed by whichever of them leads (see group_commit.h).
  GroupCommit<WriteOp> group_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<ReadConn>> idle_readers_;

  std::mutex compact_mu_;  // serialises compactions
  std::mutex compactor_mu_;
  std::condition_variable compactor_cv_;
  bool compactor_stop_ = false;
  std::thread compactor_;

  // PASSIVE checkpoints on their own connection and thread, requested by the WAL hook: they
  // copy committed frames into the database (and fsync it) without blocking writers. After a
  // compaction the same thread then empties the WAL (TRUNCATE).
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool truncate_wanted_ = false;  // after a compaction: empty the WAL file once copied
  bool checkpoint_stop_ = false;
  std::mutex checkpoint_run_mu_;  // held while any checkpoint runs
  std::thread checkpointer_;

  std::mutex close_mu_;
  std::shared_ptr<WatchHub> hub_;
};

Status SqliteStore::open() {
  BERTH_ASSIGN_OR_RETURN(wdb_, openConnection(options_.path, options_.sync_full, true));
  BERTH_RETURN_IF_ERROR(exec(wdb_, kSchema));
  BERTH_RETURN_IF_ERROR(w_latest_.prepare(
      wdb_, "SELECT id, deleted, create_revision, value FROM kv WHERE name = ?1 "
            "ORDER BY id DESC LIMIT 1"));
  BERTH_RETURN_IF_ERROR(w_insert_.prepare(
      wdb_, "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  BERTH_RETURN_IF_ERROR(w_begin_.prepare(wdb_, "BEGIN IMMEDIATE"));
  BERTH_RETURN_IF_ERROR(w_commit_.prepare(wdb_, "COMMIT"));
  BERTH_RETURN_IF_ERROR(w_rollback_.prepare(wdb_, "ROLLBACK"));
  BERTH_RETURN_IF_ERROR(w_compact_superseded_.prepare(
      wdb_, "DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv "
            "WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)"));
  BERTH_RETURN_IF_ERROR(w_compact_tombstones_.prepare(
      wdb_, "DELETE FROM kv WHERE id > ?1 AND id <= ?2 AND deleted = 1"));
  BERTH_RETURN_IF_ERROR(w_set_compact_.prepare(
      wdb_, "INSERT INTO meta (k, v) VALUES ('compact_rev', ?1) "
            "ON CONFLICT(k) DO UPDATE SET v = excluded.v"));

  int64_t max_id = 0, compact_rev = 0;
  {
    Stmt s;
    BERTH_RETURN_IF_ERROR(s.prepare(wdb_, "SELECT COALESCE(MAX(id), 0) FROM kv"));
    if (sqlite3_step(s.get()) == SQLITE_ROW) max_id = sqlite3_column_int64(s.get(), 0);
  }
  {
    Stmt s;
    BERTH_RETURN_IF_ERROR(s.prepare(wdb_, "SELECT v FROM meta WHERE k = 'compact_rev'"));
    if (sqlite3_step(s.get()) == SQLITE_ROW) compact_rev = sqlite3_column_int64(s.get(), 0);
  }
  // A compaction may have removed the newest rows (tombstones), never revisions above it.
  committed_ = std::max(max_id, compact_rev);
  compacted_ = compact_rev;
  // Start from a short WAL; readers are not open yet so this does not wait.
  sqlite3_wal_checkpoint_v2(wdb_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);

  hub_ = std::make_shared<WatchHub>(committed_.load(), options_.watch_ring_size,
                                    options_.watch_queue_limit, options_.watch_ring_bytes);
  sqlite3_wal_hook(wdb_, &SqliteStore::walHook, this);
  checkpointer_ = std::thread([this] { checkpointLoop(); });
  if (options_.compact_interval_seconds > 0) {
    compactor_ = std::thread([this] { compactorLoop(); });
  }
  BLOG(2, "sqlite store open")
      .kv("path", options_.path)
      .kv("revision", committed_.load())
      .kv("compacted", compact_rev);
  return Status::ok();
}

void SqliteStore::close() {
  std::lock_guard<std::mutex> close_lk(close_mu_);
  if (closed_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lk(compactor_mu_);
    compactor_stop_ = true;
    compactor_cv_.notify_all();
  }
  if (compactor_.joinable()) compactor_.join();
  {
    std::lock_guard<std::mutex> lk(checkpoint_mu_);
    checkpoint_stop_ = true;
    checkpoint_cv_.notify_all();
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  // Requests already queued still commit; new ones are refused.
  group_.close();
  if (hub_) hub_->close(Status(Code::kUnavailable, "store closed"));
  {
    std::lock_guard<std::mutex> lk(pool_mu_);
    idle_readers_.clear();
  }
  for (Stmt* s : {&w_latest_, &w_insert_, &w_begin_, &w_commit_, &w_rollback_,
                  &w_compact_superseded_, &w_compact_tombstones_, &w_set_compact_}) {
    s->reset();
  }
  if (wdb_) {
    sqlite3_close(wdb_);
    wdb_ = nullptr;
  }
}

// ---- reads ----

Result<std::unique_ptr<ReadConn>> SqliteStore::acquireReader() {
  {
    std::lock_guard<std::mutex> lk(pool_mu_);
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<ReadConn>();
  BERTH_ASSIGN_OR_RETURN(c->db, openConnection(options_.path, options_.sync_full, false));
  BERTH_RETURN_IF_ERROR(c->get.prepare(c->db, kGetSql));
  std::string head =
      "SELECT a.id, a.name, a.create_revision, a.value FROM kv a WHERE a.name ";
  BERTH_RETURN_IF_ERROR(c->list_ge.prepare(c->db, (head + ">= ?1" + kListTail).c_str()));
  BERTH_RETURN_IF_ERROR(c->list_gt.prepare(c->db, (head + "> ?1" + kListTail).c_str()));
  BERTH_RETURN_IF_ERROR(c->history.prepare(c->db, kHistorySql));
  return c;
}

void SqliteStore::releaseReader(std::unique_ptr<ReadConn> c) {
  std::lock_guard<std::mutex> lk(pool_mu_);
  if (closed_.load()) return;
  idle_readers_.push_back(std::move(c));
}

// Called after a read at `revision` finished: its snapshot was taken before this check, and a
// compaction raises compacted_ before it commits, so passing here means the rows were intact.
Status SqliteStore::checkRevision(int64_t revision) {
  int64_t c = compacted_.load();
  if (revision < c) {
    return expired("required revision " + std::to_string(revision) +
                   " has been compacted (compacted revision " + std::to_string(c) + ")");
  }
  return Status::ok();
}

Result<KeyValue> SqliteStore::getAt(ReadConn* c, const std::string& key, int64_t rev) {
  StmtScope s(c->get);
  bindText(*s, 1, key);
  sqlite3_bind_int64(*s, 2, rev);
  int rc = sqlite3_step(*s);
  if (rc == SQLITE_DONE) return notFound(key);
  if (rc != SQLITE_ROW) return sqliteError(c->db, "get");
  if (sqlite3_column_int64(*s, 1) != 0) return notFound(key);
  KeyValue kv;
  kv.key = key;
  kv.mod_revision = sqlite3_column_int64(*s, 0);
  kv.create_revision = sqlite3_column_int64(*s, 2);
  kv.value = columnString(*s, 3);
  return kv;
}

Result<KeyValue> SqliteStore::get(const std::string& key, int64_t revision) {
  if (closed_.load()) return Status(Code::kUnavailable, "store closed");
  if (revision > committed_.load()) {
    return badRequest("revision " + std::to_string(revision) + " is in the future");
  }
  BERTH_ASSIGN_OR_RETURN(auto conn, acquireReader());
  Lease c(this, std::move(conn));
  for (;;) {
    int64_t rev = revision > 0 ? revision : committed_.load();
    Result<KeyValue> r = getAt(c.get(), key, rev);
    if (!r.isOk() && r.status().code() != Code::kNotFound) return r;
    Status st = checkRevision(rev);
    if (st.isOk()) return r;
    if (revision > 0) return st;
    // A current read raced a compaction past the revision it picked: pick again.
  }
}

Result<ListResult> SqliteStore::listAt(ReadConn* c, const std::string& prefix,
                                       const std::string& start_after, int64_t limit,
                                       int64_t rev) {
  bool after = !start_after.empty() && start_after >= prefix;
  StmtScope s(after ? c->list_gt : c->list_ge);
  bindText(*s, 1, after ? start_after : prefix);
  std::string end = prefixRangeEnd(prefix);
  static const char kNoEnd = '\xff';
  if (end.empty()) {
    sqlite3_bind_blob(*s, 2, &kNoEnd, 1, SQLITE_STATIC);
  } else {
    bindText(*s, 2, end);
  }
  sqlite3_bind_int64(*s, 3, rev);
  sqlite3_bind_int64(*s, 4, limit > 0 ? limit + 1 : -1);
  ListResult out;
  out.revision = rev;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    if (limit > 0 && static_cast<int64_t>(out.kvs.size()) == limit) {
      out.more = true;
      break;
    }
    KeyValue kv;
    kv.mod_revision = sqlite3_column_int64(*s, 0);
    kv.key = columnString(*s, 1);
    kv.create_revision = sqlite3_column_int64(*s, 2);
    kv.value = columnString(*s, 3);
    out.kvs.push_back(std::move(kv));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqliteError(c->db, "list");
  return out;
}

Result<ListResult> SqliteStore::list(const std::string& prefix, const std::string& start_after,
                                     int64_t limit, int64_t revision) {
  if (closed_.load()) return Status(Code::kUnavailable, "store closed");
  if (revision > committed_.load()) {
    return badRequest("revision " + std::to_string(revision) + " is in the future");
  }
  BERTH_ASSIGN_OR_RETURN(auto conn, acquireReader());
  Lease c(this, std::move(conn));
  for (;;) {
    int64_t rev = revision > 0 ? revision : committed_.load();
    Result<ListResult> r = listAt(c.get(), prefix, start_after, limit, rev);
    if (!r.isOk()) return r;
    Status st = checkRevision(rev);
    if (st.isOk()) return r;
    if (revision > 0) return st;
  }
}

Result<std::vector<Event>> SqliteStore::readHistory(const std::string& prefix, int64_t from,
                                                    int64_t to) {
  BERTH_ASSIGN_OR_RETURN(auto conn, acquireReader());
  Lease c(this, std::move(conn));
  std::vector<Event> events;
  {
    StmtScope s(c->history);
    sqlite3_bind_int64(*s, 1, from);
    sqlite3_bind_int64(*s, 2, to);
    int rc;
    while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
      std::string name = columnString(*s, 1);
      if (!startsWith(name, prefix)) continue;
      Event e;
      e.kv.key = std::move(name);
      e.kv.mod_revision = sqlite3_column_int64(*s, 0);
      e.kv.create_revision = sqlite3_column_int64(*s, 3);
      bool has_prev = sqlite3_column_type(*s, 5) != SQLITE_NULL && sqlite3_column_int64(*s, 6) == 0;
      if (has_prev) {
        KeyValue p;
        p.key = e.kv.key;
        p.mod_revision = sqlite3_column_int64(*s, 5);
        p.create_revision = sqlite3_column_int64(*s, 7);
        p.value = columnString(*s, 8);
        e.prev = std::move(p);
      }
      if (sqlite3_column_int64(*s, 2) != 0) {
        e.type = Event::Type::kDelete;
        if (e.prev) e.kv.value = e.prev->value;
      } else {
        e.type = Event::Type::kPut;
        e.kv.value = columnString(*s, 4);
      }
      events.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return sqliteError(c->db, "watch history");
  }
  BERTH_RETURN_IF_ERROR(checkRevision(from));
  return events;
}

Result<std::unique_ptr<Watch>> SqliteStore::watch(const std::string& prefix,
                                                  int64_t after_revision,
                                                  WatchCallback callback) {
  if (closed_.load()) return Status(Code::kUnavailable, "store closed");
  if (after_revision < 0) after_revision = 0;
  return hub_->watch(prefix, after_revision, compacted_.load(), std::move(callback),
                     [this](const std::string& p, int64_t from, int64_t to) {
                       return readHistory(p, from, to);
                     });
}

// ---- writes ----

OpOutcome SqliteStore::submit(std::unique_ptr<WriteOp> op) {
  if (!group_.submit(*op)) {
    OpOutcome o;
    o.status = Status(Code::kUnavailable, "store closed");
    return o;
  }
  return std::move(op->out);
}

Result<int64_t> SqliteStore::create(const std::string& key, const std::string& value) {
  auto op = std::make_unique<WriteOp>();
  op->kind = WriteOp::Kind::kCreate;
  op->key = key;
  op->value = value;
  OpOutcome o = submit(std::move(op));
  if (!o.status.isOk()) return o.status;
  return o.revision;
}

void SqliteStore::createAsync(const std::string& key, std::string value, CreateDone done) {
  auto op = std::make_unique<WriteOp>();
  op->kind = WriteOp::Kind::kCreate;
  op->key = key;
  op->value = std::move(value);
  auto shared_done = std::make_shared<CreateDone>(std::move(done));
  bool queued = group_.submitAsync(std::move(op), [shared_done](WriteOp& o) {
    if (o.out.status.isOk()) (*shared_done)(o.out.revision);
    else (*shared_done)(std::move(o.out.status));
  });
  if (!queued) (*shared_done)(Status(Code::kUnavailable, "store closed"));
}

Result<int64_t> SqliteStore::update(const std::string& key, const std::string& value,
                                    int64_t expected_revision) {
  auto op = std::make_unique<WriteOp>();
  op->kind = WriteOp::Kind::kUpdate;
  op->key = key;
  op->value = value;
  op->expected = expected_revision;
  OpOutcome o = submit(std::move(op));
  if (!o.status.isOk()) return o.status;
  return o.revision;
}

Result<KeyValue> SqliteStore::remove(const std::string& key, int64_t expected_revision) {
  auto op = std::make_unique<WriteOp>();
  op->kind = WriteOp::Kind::kRemove;
  op->key = key;
  op->expected = expected_revision;
  OpOutcome o = submit(std::move(op));
  if (!o.status.isOk()) return o.status;
  return std::move(o.kv);
}

Status SqliteStore::applyWrite(WriteOp& op, int64_t* rev, OpOutcome* out,
                               std::vector<Event>* events) {
  // Current state of the key, including rows written earlier in this transaction.
  bool exists = false;
  int64_t cur_id = 0, cur_create = 0;
  std::string cur_value;
  {
    StmtScope s(w_latest_);
    bindText(*s, 1, op.key);
    int rc = sqlite3_step(*s);
    if (rc == SQLITE_ROW) {
      cur_id = sqlite3_column_int64(*s, 0);
      exists = sqlite3_column_int64(*s, 1) == 0;
      cur_create = sqlite3_column_int64(*s, 2);
      if (exists && op.kind != WriteOp::Kind::kCreate) cur_value = columnString(*s, 3);
    } else if (rc != SQLITE_DONE) {
      return sqliteError(wdb_, "read latest");
    }
  }

  // CAS: a failed check is this request's outcome, not an error of the batch.
  switch (op.kind) {
    case WriteOp::Kind::kCreate:
      if (exists) {
        out->status = alreadyExists(op.key);
        return Status::ok();
      }
      break;
    case WriteOp::Kind::kUpdate:
    case WriteOp::Kind::kRemove:
      if (!exists) {
        out->status = notFound(op.key);
        return Status::ok();
      }
      if ((op.kind == WriteOp::Kind::kUpdate || op.expected != 0) && cur_id != op.expected) {
        out->status = conflict(op.key + ": expected revision " + std::to_string(op.expected) +
                               ", current revision " + std::to_string(cur_id));
        return Status::ok();
      }
      break;
    case WriteOp::Kind::kCompact:
      return internalError("compaction routed as a write");
  }

  const int64_t new_rev = *rev + 1;
  const bool is_create = op.kind == WriteOp::Kind::kCreate;
  const bool is_delete = op.kind == WriteOp::Kind::kRemove;
  const int64_t create_rev = is_create ? new_rev : cur_create;
  {
    StmtScope s(w_insert_);
    sqlite3_bind_int64(*s, 1, new_rev);
    bindText(*s, 2, op.key);
    sqlite3_bind_int(*s, 3, is_create ? 1 : 0);
    sqlite3_bind_int(*s, 4, is_delete ? 1 : 0);
    sqlite3_bind_int64(*s, 5, create_rev);
    sqlite3_bind_int64(*s, 6, cur_id);
    if (is_delete) {
      sqlite3_bind_zeroblob(*s, 7, 0);
    } else {
      bindBlob(*s, 7, op.value);
    }
    if (sqlite3_step(*s) != SQLITE_DONE) return sqliteError(wdb_, "insert");
  }
  *rev = new_rev;

  Event e;
  e.type = is_delete ? Event::Type::kDelete : Event::Type::kPut;
  e.kv.key = op.key;
  e.kv.create_revision = create_rev;
  e.kv.mod_revision = new_rev;
  if (!is_create) {
    KeyValue p;
    p.key = op.key;
    p.value = cur_value;
    p.create_revision = cur_create;
    p.mod_revision = cur_id;
    e.prev = std::move(p);
  }
  if (is_delete) {
    e.kv.value = std::move(cur_value);
    out->kv = e.kv;
  } else {
    e.kv.value = std::move(op.value);
  }
  out->revision = new_rev;
  events->push_back(std::move(e));
  return Status::ok();
}

Status SqliteStore::applyCompact(const WriteOp& op) {
  for (const Stmt* st : {&w_compact_superseded_, &w_compact_tombstones_}) {
    StmtScope s(*st);
    sqlite3_bind_int64(*s, 1, op.compact_lo);
    sqlite3_bind_int64(*s, 2, op.compact_hi);
    if (sqlite3_step(*s) != SQLITE_DONE) return sqliteError(wdb_, "compact");
  }
  StmtScope s(w_set_compact_);
  sqlite3_bind_int64(*s, 1, op.compact_hi);
  if (sqlite3_step(*s) != SQLITE_DONE) return sqliteError(wdb_, "record compact revision");
  return Status::ok();
}

void SqliteStore::processBatch(const std::vector<WriteOp*>& batch) {
  std::vector<OpOutcome> outs(batch.size());
  std::vector<Event> events;
  events.reserve(batch.size());
  const int64_t start_rev = committed_.load();
  const int64_t old_compacted = compacted_.load();
  int64_t rev = start_rev;
  bool checkpoint = false;

  auto step = [&](const Stmt& st) {
    StmtScope s(st);
    return sqlite3_step(*s) == SQLITE_DONE;
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto t_applied = t0;
  Status fatal;
  if (!step(w_begin_)) {
    fatal = sqliteError(wdb_, "begin");
  } else {
    for (size_t i = 0; i < batch.size() && fatal.isOk(); ++i) {
      WriteOp& op = *batch[i];
      if (op.kind == WriteOp::Kind::kCompact) {
        // Raise the mark before the rows go: a reader that sees the old mark after its
        // snapshot was taken cannot have missed the deletes (see checkRevision).
        if (op.compact_hi > compacted_.load()) compacted_.store(op.compact_hi);
        fatal = applyCompact(op);
        checkpoint = checkpoint || op.checkpoint;
      } else {
        fatal = applyWrite(op, &rev, &outs[i], &events);
      }
    }
    t_applied = std::chrono::steady_clock::now();
    if (fatal.isOk() && !step(w_commit_)) fatal = sqliteError(wdb_, "commit");
    if (!fatal.isOk()) step(w_rollback_);
  }
  // Like etcd's "apply request took too long": a slow commit is nearly always the disk's fsync
  // (commitUs), and it holds up every write queued behind it.
  if (auto total = std::chrono::steady_clock::now() - t0; total >= kSlowBatch / 5) {
    using std::chrono::microseconds;
    auto us = [](auto d) { return std::chrono::duration_cast<microseconds>(d).count(); };
    const bool warn = total >= kSlowBatch;
    if (warn || log::enabled(4)) {
      log::Line(warn ? log::Severity::kWarning : log::Severity::kInfo, __FILE__, __LINE__,
                "slow storage batch")
          .kv("ops", batch.size())
          .kv("totalUs", us(total))
          .kv("applyUs", us(t_applied - t0))
          .kv("commitUs", us(total - (t_applied - t0)));
    }
  }

  if (!fatal.isOk()) {
    BLOG_ERROR("storage batch failed").kv("ops", batch.size()).kv("error", fatal.message());
    compacted_.store(old_compacted);
    for (WriteOp* op : batch) op->out.status = fatal;
    return;
  }

  committed_.store(rev);
  // Publish before acknowledging: a client that sees its write acknowledged and then watches
  // from that revision finds the event in the ring.
  hub_->publish(std::move(events), rev);
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->out = std::move(outs[i]);

  if (checkpoint) {
    // The WAL is emptied after a compaction by the checkpointer thread, not here: a TRUNCATE
    // checkpoint holds off every writer while it copies the WAL, which after a large
    // compaction stalled all writes for about a second.
    std::lock_guard<std::mutex> lk(checkpoint_mu_);
    checkpoint_wanted_ = truncate_wanted_ = true;
    checkpoint_cv_.notify_one();
  }
}

// ---- compaction ----

Status SqliteStore::compact(int64_t revision) {
  if (closed_.load()) return Status(Code::kUnavailable, "store closed");
  if (revision > committed_.load()) {
    return badRequest("compact revision " + std::to_string(revision) + " is in the future");
  }
  std::lock_guard<std::mutex> lk(compact_mu_);
  int64_t lo = compacted_.load();
  if (revision <= lo) return Status::ok();
  auto started = std::chrono::steady_clock::now();
  while (lo < revision) {
    // A closing store stops between chunks; the next start compacts from where this stopped.
    if (closed_.load()) return Status(Code::kUnavailable, "store closed");
    auto op = std::make_unique<WriteOp>();
    op->kind = WriteOp::Kind::kCompact;
    op->compact_lo = lo;
    op->compact_hi = std::min(revision, lo + kCompactChunk);
    op->checkpoint = op->compact_hi == revision;
    int64_t hi = op->compact_hi;
    auto chunk_started = std::chrono::steady_clock::now();
    OpOutcome o = submit(std::move(op));
    if (!o.status.isOk()) return o.status.withContext("compact");
    lo = hi;
    if (lo < revision) {
      // As etcd between compaction batches: leave the writer to the writes for at least as
      // long as the chunk held it (10 ms at least), so a chain of dependent writes (a
      // Deployment's ReplicaSet, its pod, the binding) does not meet a chunk at every step.
      auto held = std::chrono::steady_clock::now() - chunk_started;
      std::this_thread::sleep_for(
          std::max<std::chrono::steady_clock::duration>(held, std::chrono::milliseconds(10)));
    }
  }
  BLOG(2, "compacted")
      .kv("revision", revision)
      .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count());
  return Status::ok();
}

int SqliteStore::walHook(void* self, sqlite3* db, const char*, int pages) {
  // Under steady writes a background checkpoint never catches up with the last frame, and the
  // WAL only restarts from its beginning once every frame is backfilled. So past twice the
  // threshold the committing leader finishes the job inline; the background pass has already
  // copied (and fsynced) most frames, leaving it little to do.
  auto* s = static_cast<SqliteStore*>(self);
  if (pages >= 2 * kCheckpointPages) {
    // Only one checkpoint runs at a time: wait for a background pass (back-pressure when the
    // background checkpointer falls behind), then copy the remainder.
    auto began = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> run(s->checkpoint_run_mu_);
    auto locked = std::chrono::steady_clock::now();
    int log_frames = 0, done_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &done_frames);
    using std::chrono::milliseconds;
    BLOG(4, "wal checkpoint by the writer")
        .kv("rc", rc)
        .kv("frames", log_frames)
        .kv("done", done_frames)
        .kv("waitedMs", std::chrono::duration_cast<milliseconds>(locked - began).count())
        .kv("ms", std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - locked)
                      .count());
    return SQLITE_OK;
  }
  if (pages >= kCheckpointPages) {
    std::lock_guard<std::mutex> lk(s->checkpoint_mu_);
    if (!s->checkpoint_wanted_) {
      s->checkpoint_wanted_ = true;
      s->checkpoint_cv_.notify_one();
    }
  }
  return SQLITE_OK;
}

void SqliteStore::checkpointLoop() {
  sqlite3* db = nullptr;
  std::unique_lock<std::mutex> lk(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lk, [&] { return checkpoint_wanted_ || checkpoint_stop_; });
    if (checkpoint_stop_) break;
    checkpoint_wanted_ = false;
    bool truncate = truncate_wanted_;
    truncate_wanted_ = false;
    lk.unlock();
    if (db == nullptr) {
      auto r = openConnection(options_.path, options_.sync_full, false);
      if (r.isOk()) {
        db = *r;
      } else {
        BLOG_WARN("checkpoint connection").kv("error", r.status().message());
      }
    }
    if (db != nullptr) {
      std::lock_guard<std::mutex> run(checkpoint_run_mu_);
      int log_frames = 0, done_frames = 0;
      auto began = std::chrono::steady_clock::now();
      int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                         &done_frames);
      BLOG(4, "wal checkpoint")
          .kv("rc", rc)
          .kv("frames", log_frames)
          .kv("done", done_frames)
          .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count());
      if (truncate) {
        // The PASSIVE pass above copied nearly every frame without blocking anyone; TRUNCATE
        // then holds writers off only for the few frames committed since, and empties the
        // file. Bounded wait for readers and the writer: a busy truncate is retried after
        // the next compaction, and the PASSIVE checkpoints keep the WAL in check meanwhile.
        auto started = std::chrono::steady_clock::now();
        sqlite3_busy_timeout(db, 200);
        rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                       &done_frames);
        sqlite3_busy_timeout(db, 5000);
        BLOG(4, "wal truncate")
            .kv("rc", rc)
            .kv("frames", log_frames)
            .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count());
      }
    }
    lk.lock();
  }
  lk.unlock();
  sqlite3_close(db);
}

void SqliteStore::compactorLoop() {
  std::unique_lock<std::mutex> lk(compactor_mu_);
  const auto interval = std::chrono::seconds(options_.compact_interval_seconds);
  for (;;) {
    if (compactor_cv_.wait_for(lk, interval, [&] { return compactor_stop_; })) return;
    lk.unlock();
    int64_t target = committed_.load() - options_.keep_revisions;
    if (target > compacted_.load()) {
      Status st = compact(target);
      if (!st.isOk()) BLOG_WARN("background compaction failed").kv("error", st.message());
    }
    lk.lock();
  }
}

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options) {
  if (options.path.empty()) return badRequest("sqlite store: empty path");
  auto store = std::make_unique<SqliteStore>(options);
  Status st = store->open();
  if (!st.isOk()) return st.withContext("open sqlite store " + options.path);
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace berth::storage
