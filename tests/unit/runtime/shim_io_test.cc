// The shims' attach protocol (kubelet-lite/runtime/shim_io.h) with pipes standing in for the
// container's stdin and terminal: stdin reaches the target, stdinOnce closes it at the end of
// the first attachment (never with a tty), tty.sock hands out the master, and the agent's side
// names what is wrong.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "kubelet-lite/runtime/cri_log.h"
#include "kubelet-lite/runtime/shim_io.h"

namespace berth::kubelet {
namespace {

class ShimIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shim-io-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::pipe2(stdin_, O_CLOEXEC), 0);
    ::fcntl(stdin_[0], F_SETFL, O_NONBLOCK);
  }
  void TearDown() override {
    server_.reset();
    for (int fd : stdin_)
      if (fd >= 0) ::close(fd);
    std::filesystem::remove_all(dir_);
  }
  void start(bool once, bool tty) {
    AttachServer::Options o;
    std::string err;
    o.attach_listen = listenShimSocket(dir_, kAttachSocketName, &err);
    ASSERT_GE(o.attach_listen, 0) << err;
    if (tty) {
      o.tty_listen = listenShimSocket(dir_, kTtySocketName, &err);
      ASSERT_GE(o.tty_listen, 0) << err;
      o.tty_master = stdin_[1];
    }
    o.target = stdin_[1];
    o.once = once;
    o.tty = tty;
    server_ = std::make_unique<AttachServer>(o);
    if (!tty) stdin_[1] = -1;  // the server owns a stdin pipe
  }
  // Runs the server's loop (as the shim's would) until `done` or 5 s.
  bool pumpUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::vector<pollfd> fds;
      server_->fill(&fds);
      if (::poll(fds.data(), fds.size(), 20) > 0)
        for (const auto& p : fds) server_->handle(p);
    }
    return true;
  }
  // What the container read from its stdin so far; `eof` set once the pipe is closed.
  std::string readStdin(bool* eof = nullptr) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(stdin_[0], buf, sizeof buf)) > 0) got_.append(buf, static_cast<size_t>(n));
    if (eof) *eof = n == 0;
    out = got_;
    return out;
  }
  int attach() {
    auto s = attachShimStdin(dir_, "app");
    EXPECT_TRUE(s.isOk()) << s.status().message();
    return s.isOk() ? *s : -1;
  }
  // The shim's first byte on an attachment: whether its end closes the container's stdin.
  char fate(int sock) {
    char c = 0;
    EXPECT_TRUE(pumpUntil([&] { return ::recv(sock, &c, 1, MSG_DONTWAIT) == 1; }));
    return c;
  }

  std::string dir_;
  int stdin_[2] = {-1, -1};
  std::unique_ptr<AttachServer> server_;
  std::string got_;
};

TEST_F(ShimIoTest, StdinReachesTheContainerFromEachAttachment) {
  start(/*once=*/false, /*tty=*/false);
  int a = attach();
  EXPECT_EQ(fate(a), kStdinStaysOpen);
  ASSERT_EQ(::write(a, "one\n", 4), 4);
  ASSERT_TRUE(pumpUntil([&] { return readStdin() == "one\n"; }));
  ::close(a);
  ASSERT_TRUE(pumpUntil([&] { return server_->clients() == 0; }));
  // Without stdinOnce the container's stdin stays open for the next attachment.
  EXPECT_TRUE(server_->stdinOpen());
  int b = attach();
  ASSERT_EQ(::write(b, "two\n", 4), 4);
  ASSERT_TRUE(pumpUntil([&] { return readStdin() == "one\ntwo\n"; }));
  bool eof = true;
  readStdin(&eof);
  EXPECT_FALSE(eof);
  ::close(b);
}

TEST_F(ShimIoTest, StdinOnceClosesTheContainersStdinWhenTheFirstAttachmentEnds) {
  start(/*once=*/true, /*tty=*/false);
  int a = attach();
  EXPECT_EQ(fate(a), kStdinClosesAtEnd);
  ASSERT_EQ(::write(a, "only\n", 5), 5);
  ::close(a);
  bool eof = false;
  ASSERT_TRUE(pumpUntil([&] {
    readStdin(&eof);
    return eof;
  }));
  EXPECT_EQ(readStdin(), "only\n");  // the input before the end is delivered first
  EXPECT_FALSE(server_->stdinOpen());
  auto again = attachShimStdin(dir_, "app");
  ASSERT_FALSE(again.isOk());
  EXPECT_NE(again.status().message().find("app's stdin is closed"), std::string::npos) << again.status().message();
}

TEST_F(ShimIoTest, StdinOnceKeepsATerminal) {
  start(/*once=*/true, /*tty=*/true);
  int a = attach();
  EXPECT_EQ(fate(a), kStdinStaysOpen);
  ASSERT_EQ(::write(a, "typed\n", 6), 6);
  ASSERT_TRUE(pumpUntil([&] { return readStdin() == "typed\n"; }));
  ::close(a);
  ASSERT_TRUE(pumpUntil([&] { return server_->clients() == 0; }));
  // The terminal is the container's output too: still open, and a new attachment types into it.
  EXPECT_TRUE(server_->stdinOpen());
  int b = attach();
  ASSERT_EQ(::write(b, "more\n", 5), 5);
  ASSERT_TRUE(pumpUntil([&] { return readStdin() == "typed\nmore\n"; }));
  ::close(b);
}

TEST_F(ShimIoTest, TtySocketHandsOutTheMaster) {
  start(/*once=*/false, /*tty=*/true);
  // attachShimTerminal blocks until the server answers: serve from a thread.
  std::atomic<bool> stop{false};
  std::thread loop([&] { pumpUntil([&] { return stop.load(); }); });
  auto master = attachShimTerminal(dir_, "app");
  stop = true;
  loop.join();
  ASSERT_TRUE(master.isOk()) << master.status().message();
  // The descriptor received is the stand-in master: what is written to it arrives.
  ASSERT_EQ(::write(*master, "via-fd", 6), 6);
  EXPECT_EQ(readStdin(), "via-fd");
  EXPECT_NE(::fcntl(*master, F_GETFD) & FD_CLOEXEC, 0);
  ::close(*master);
}

TEST_F(ShimIoTest, TheAgentSideNamesWhatIsMissing) {
  // Nothing listens: the container was not created with stdin: true, nor with a tty.
  auto in = attachShimStdin(dir_, "app");
  ASSERT_FALSE(in.isOk());
  EXPECT_EQ(in.status().code(), Code::kBadRequest);
  EXPECT_NE(in.status().message().find("container app was not started with stdin: true"), std::string::npos)
      << in.status().message();
  auto term = attachShimTerminal(dir_, "app");
  ASSERT_FALSE(term.isOk());
  EXPECT_EQ(term.status().code(), Code::kNotFound);
  EXPECT_NE(term.status().message().find("has no terminal"), std::string::npos) << term.status().message();
}

TEST(CriLogWriterTest, FlushPartialWritesAPartialRecord) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  CriLogWriter w(p[1], "stdout");
  w.write("line\n/ # ");
  w.flushPartial();
  w.write("ls\n");
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  EXPECT_NE(out.find(" stdout F line\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" stdout P / # \n"), std::string::npos) << out;
  EXPECT_NE(out.find(" stdout F ls\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::kubelet
