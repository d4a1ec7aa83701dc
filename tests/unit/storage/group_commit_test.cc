// GroupCommit: every submitted op is processed exactly once, by one leader at a time, in
// batches when submitters overlap; close() drains the queue and refuses later submissions.
#include "apiserver/storage/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace berth::storage {
namespace {

struct TestOp {
  int id = 0;
  int result = 0;  // set by process
};

TEST(GroupCommitTest, LoneSubmitterProcessesItsOwnOp) {
  std::vector<std::thread::id> ran_on;
  GroupCommit<TestOp> gc(16, [&](const std::vector<TestOp*>& batch) {
    ran_on.push_back(std::this_thread::get_id());
    for (TestOp* op : batch) op->result = op->id * 10;
  });
  TestOp op{7, 0};
  ASSERT_TRUE(gc.submit(op));
  EXPECT_EQ(op.result, 70);
  ASSERT_EQ(ran_on.size(), 1u);
  EXPECT_EQ(ran_on[0], std::this_thread::get_id());
  EXPECT_EQ(gc.batches(), 1u);
}

TEST(GroupCommitTest, ConcurrentSubmittersAreBatchedAndEachProcessedOnce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::atomic<int> in_process{0};
  std::atomic<bool> overlapped{false};
  std::vector<int> seen(kThreads * kPerThread, 0);  // written only inside process
  GroupCommit<TestOp> gc(64, [&](const std::vector<TestOp*>& batch) {
    if (in_process.fetch_add(1) != 0) overlapped = true;
    EXPECT_LE(batch.size(), 64u);
    for (TestOp* op : batch) {
      ++seen[op->id];
      op->result = op->id + 1;
    }
    // Hold the "commit" a moment so later arrivals queue up behind this batch.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    in_process.fetch_sub(1);
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        TestOp op{t * kPerThread + i, 0};
        if (!gc.submit(op) || op.result != op.id + 1) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_FALSE(overlapped.load()) << "two leaders processed at once";
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "op " << i;
  EXPECT_EQ(gc.processedOps(), static_cast<size_t>(kThreads * kPerThread));
  // With 8 submitters and a 200 us commit, ops must share batches.
  EXPECT_LT(gc.batches(), static_cast<size_t>(kThreads * kPerThread) / 2);
}

TEST(GroupCommitTest, MaxBatchBoundsEachBatch) {
  std::atomic<size_t> largest{0};
  GroupCommit<TestOp> gc(2, [&](const std::vector<TestOp*>& batch) {
    size_t cur = largest.load();
    while (batch.size() > cur && !largest.compare_exchange_weak(cur, batch.size())) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        TestOp op;
        gc.submit(op);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(largest.load(), 2u);
  EXPECT_EQ(gc.processedOps(), 300u);
}

TEST(GroupCommitTest, CloseDrainsQueuedOpsThenRefuses) {
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<int> processed{0};
  GroupCommit<TestOp> gc(16, [&](const std::vector<TestOp*>& batch) {
    entered = true;
    while (!release.load()) std::this_thread::yield();
    processed += static_cast<int>(batch.size());
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      TestOp op;
      if (gc.submit(op)) ++ok;
    });
  }
  while (!entered.load()) std::this_thread::yield();
  // The leader is blocked in process; close() must wait for it and for whoever queued.
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    gc.close();
    closed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(closed.load()) << "close() returned while a batch was still being processed";
  release = true;
  closer.join();
  for (auto& th : threads) th.join();
  // Every submission that was accepted was processed; the ones after close() were refused.
  EXPECT_GE(ok.load(), 1);
  EXPECT_EQ(ok.load(), processed.load());
  TestOp late;
  EXPECT_FALSE(gc.submit(late));
  EXPECT_EQ(processed.load(), ok.load());
}

TEST(GroupCommitTest, AsyncOpOnAnIdleQueueCompletesBeforeSubmitReturns) {
  GroupCommit<TestOp> gc(16, [&](const std::vector<TestOp*>& batch) {
    for (TestOp* op : batch) op->result = op->id * 10;
  });
  int got = 0;
  auto op = std::make_unique<TestOp>();
  op->id = 4;
  ASSERT_TRUE(gc.submitAsync(std::move(op), [&](TestOp& o) { got = o.result; }));
  EXPECT_EQ(got, 40);
  EXPECT_EQ(gc.batches(), 1u);
}

// Blocking and asynchronous submitters mixed: every op is processed and completed exactly
// once, blocking submitters return with their result even when asynchronous ops queue behind
// them (the helper thread leads those), and close() waits for every completion.
TEST(GroupCommitTest, MixedBlockingAndAsyncSubmittersAllComplete) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 300;
  std::vector<int> processed(kThreads * kPerThread, 0);  // written only inside process
  std::vector<std::atomic<int>> completed(kThreads * kPerThread);
  auto gc = std::make_unique<GroupCommit<TestOp>>(32, [&](const std::vector<TestOp*>& batch) {
    for (TestOp* op : batch) {
      ++processed[static_cast<size_t>(op->id)];
      op->result = op->id + 1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // an fsync's worth of overlap
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int id = t * kPerThread + i;
        if (t % 2 == 0) {
          TestOp op{id, 0};
          if (!gc->submit(op) || op.result != id + 1) wrong.fetch_add(1);
          completed[static_cast<size_t>(id)].fetch_add(1);
        } else {
          auto op = std::make_unique<TestOp>();
          op->id = id;
          bool queued = gc->submitAsync(std::move(op), [&, id](TestOp& o) {
            if (o.result != id + 1) wrong.fetch_add(1);
            completed[static_cast<size_t>(id)].fetch_add(1);
          });
          if (!queued) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  gc->close();
  for (size_t i = 0; i < processed.size(); ++i) {
    EXPECT_EQ(processed[i], 1) << "op " << i;
    EXPECT_EQ(completed[i].load(), 1) << "op " << i;
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(gc->processedOps(), static_cast<size_t>(kThreads * kPerThread));
  gc.reset();  // joins the helper thread, if it ran
}

TEST(GroupCommitTest, AsyncSubmitAfterCloseIsRefusedWithoutCallback) {
  GroupCommit<TestOp> gc(16, [](const std::vector<TestOp*>&) {});
  gc.close();
  bool called = false;
  EXPECT_FALSE(gc.submitAsync(std::make_unique<TestOp>(), [&](TestOp&) { called = true; }));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace berth::storage
