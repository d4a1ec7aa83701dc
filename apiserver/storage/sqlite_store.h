// The embedded SQLite backend of Store: a revisioned, append-only log in the spirit of kine.
//
// Layout: one table `kv` whose INTEGER PRIMARY KEY `id` is the global revision. Every create,
// update and delete appends a row (name, created, deleted, create_revision, prev_revision,
// value); a delete appends a tombstone (deleted=1). The latest row of a name is its current
// state. An index on (name, id) serves point reads, history reads and key-ordered lists. A
// `meta` table holds the compacted revision so it survives restarts.
//
// Writes (group commit): callers queue their requests; the one at the front leads, running
// everything queued in one BEGIN IMMEDIATE..COMMIT on the only writing connection (one fsync
// for the batch) while the others wait on a condition variable. Each request's compare-and-swap
// is checked inside the transaction, so a failed CAS fails only its own request. Because one
// batch at a time writes, no UNIQUE(name, prev_revision) index is needed to serialise CAS.
//
// Durability: WAL mode with synchronous=FULL by default, so a write is acknowledged only after
// its commit is fsynced to the WAL; it survives kill -9 and power loss. Group commit pays that
// fsync once per batch, which is why FULL is affordable. SqliteOptions::sync_full=false picks
// NORMAL (survives a process crash, since the WAL pages are in the OS cache, but not power loss).
//
// Reads: a pool of read connections (WAL readers never wait for the writer), every statement
// prepared once per connection.
//
// Watch: after a batch commits the writer publishes its events to a WatchHub (ring of recent
// events + per-watcher queues + one delivery thread). Replays older than the ring read `kv`.
//
// Compaction: a background thread wakes every compact_interval_seconds (condition variable) and
// compacts to current - keep_revisions. Compaction goes through the write queue in chunks (so
// writes interleave), deletes rows replaced by a row at or below the target and tombstones at or
// below it, records the compacted revision, then runs wal_checkpoint(TRUNCATE).
//
// Thread-safety: as Store (all methods from any thread).
#pragma once

#include <string>

#include "apiserver/storage/store.h"

namespace berth::storage {

// The smallest string greater than every string that starts with `prefix`; empty when there is
// none (prefix empty or all 0xff bytes).
std::string prefixRangeEnd(const std::string& prefix);

}  // namespace berth::storage
