// Inbox: bytes handed over from an event loop (an UpgradedConnection's onData) to the one
// thread that runs a streaming session, which waits for them with poll() on fd().
// Thread-safety: push/close from any thread; take from the session thread.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

namespace berth::streaming {

class Inbox {
 public:
  Inbox();
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  void push(std::string_view bytes);
  // The producer is gone; take() reports it once the queued bytes are drained.
  void close();
  // Moves the queued bytes to *out (replacing it). Returns false once closed and drained.
  bool take(std::string* out);
  // Readable (eventfd) while bytes or the close are pending.
  int fd() const { return fd_; }

 private:
  int fd_;
  std::mutex mu_;
  std::string buf_;
  bool closed_ = false;
};

}  // namespace berth::streaming
