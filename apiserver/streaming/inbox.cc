#include "apiserver/streaming/inbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace berth::streaming {

Inbox::Inbox() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Inbox::~Inbox() {
  if (fd_ >= 0) ::close(fd_);
}

void Inbox::push(std::string_view bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    buf_.append(bytes);
  }
  uint64_t one = 1;
  (void)!write(fd_, &one, sizeof one);
}

void Inbox::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  uint64_t one = 1;
  (void)!write(fd_, &one, sizeof one);
}

bool Inbox::take(std::string* out) {
  uint64_t count;
  (void)!read(fd_, &count, sizeof count);
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  out->swap(buf_);
  return !(closed_ && out->empty());
}

}  // namespace berth::streaming
