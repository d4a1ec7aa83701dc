// The stdio a container shim holds for `kubectl attach` (stdin: true / tty: true), shared by
// the runc shim and the process runtime's shim, and the agent's end of it. The shim outlives
// the agent, so an agent that restarts and adopts its containers attaches again the same way.
//
// In a container's state directory (runc: its bundle; process runtime: its container dir) the
// shim serves two unix sockets:
//   attach.sock  (stdin: true) - each connection's bytes go to the container's stdin: the write
//                end of its stdin pipe, or its terminal's master with tty. With stdinOnce and no
//                tty, the end of the first connection closes the container's stdin for good
//                (no more connections are accepted); with a tty stdinOnce changes nothing (the
//                terminal is the container's output too), as containerd's CRI does. The
//                shim's first byte on each connection says which: kStdinClosesAtEnd or
//                kStdinStaysOpen (the agent then ends that attachment's output when the
//                client's input ends, as containerd does).
//   tty.sock     (tty: true) - each connection receives the terminal's master descriptor
//                (SCM_RIGHTS) and is closed, so the agent sets the window size (TIOCSWINSZ)
//                itself.
// The container's output (the terminal's, with tty, as stream "stdout") goes to its CRI log;
// attach follows the log.
// Thread-safety: AttachServer is single-threaded (the shim's poll loop); the free functions are
// safe from any thread.
#pragma once

#include <poll.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace berth::kubelet {

inline constexpr char kAttachSocketName[] = "attach.sock";
inline constexpr char kTtySocketName[] = "tty.sock";
inline constexpr char kStdinClosesAtEnd = 'c';
inline constexpr char kStdinStaysOpen = 'k';

// Listens on `dir`/`name` (through /proc/self/fd, so long directories fit sockaddr_un), the
// socket non-blocking and close-on-exec. Returns -1 with `err` set on failure.
int listenShimSocket(const std::string& dir, const char* name, std::string* err);
// Connects to `dir`/`name`; the caller owns the descriptor. The error's errno text is in the
// message (ENOENT: nothing listens there).
Result<int> connectShimSocket(const std::string& dir, const char* name);

// A new pseudo-terminal: its master and slave (both close-on-exec, the slave not yet anyone's
// controlling terminal).
Status openTerminalPair(int* master, int* slave);

// Passes `fd` over the connected unix socket `sock` (one byte of payload).
bool sendFd(int sock, int fd);
// Receives a descriptor sent with sendFd (close-on-exec); the caller owns it.
Result<int> receiveFd(int sock);

// The agent's side, with the error messages kubectl shows. `container` names it in them.
// attach -i: a descriptor whose writes reach the container's stdin (see attach.sock above).
Result<int> attachShimStdin(const std::string& dir, const std::string& container);
// attach -t: the container's terminal master (see tty.sock above); kNotFound without a tty.
Result<int> attachShimTerminal(const std::string& dir, const std::string& container);

// The shim's side: serves attach.sock (when `attach_listen` >= 0) into `target` and tty.sock
// (when `tty_listen` >= 0) with `tty_master`. Owns every descriptor given (`tty_master` and
// `target` may be the same: the terminal). Writes never block the shim's loop: input waits in a
// buffer until the target takes it, and clients are not read meanwhile.
class AttachServer {
 public:
  struct Options {
    int target = -1;         // the container's stdin: pipe write end or terminal master
    int attach_listen = -1;  // attach.sock, -1: none
    int tty_listen = -1;     // tty.sock, -1: none
    int tty_master = -1;     // handed out on tty.sock (not owned)
    bool once = false;       // stdinOnce
    bool tty = false;        // target is the terminal: never closed here
  };
  explicit AttachServer(Options o);
  ~AttachServer() { closeAll(); }
  AttachServer(const AttachServer&) = delete;
  AttachServer& operator=(const AttachServer&) = delete;

  // Appends the descriptors to poll, with the events wanted.
  void fill(std::vector<pollfd>* fds) const;
  // Handles one polled entry (ignores descriptors that are not its own).
  void handle(const pollfd& p);
  // Closes the sockets and the stdin pipe (the container is gone).
  void closeAll();

  bool stdinOpen() const { return o_.target >= 0; }
  size_t clients() const { return clients_.size(); }

 private:
  void flush();
  void drop(int fd);
  void closeStdin();

  Options o_;
  bool closing_ = false;
  std::vector<int> clients_;
  std::string pending_;
};

}  // namespace berth::kubelet
