// `runc exec` as an ExecProcess. Without tty the caller's descriptors become the process's
// stdio directly (runc passes its own through). With tty, runc gets the slave side of a
// pseudo-terminal pair as its stdio and controlling terminal: runc makes the container's
// terminal and relays between the two, and a TIOCSWINSZ on our master reaches it as SIGWINCH
// (runc then resizes the container's terminal). Threads copy stdin_fd -> master and
// master -> stdout_fd. kill() SIGKILLs the process in the container (its pid from --pid-file)
// and runc. The process runtime's tty exec uses it too (argv is then the command itself, with
// no pid file). The pid file and `process_file` (runc's --process, when given) are removed
// once the process is reaped.
// Thread-safety: resize/kill may be called from any thread while another waits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::runc {

Result<std::unique_ptr<ExecProcess>> startExec(const std::vector<std::string>& argv,
                                               const std::string& pid_file,
                                               const ExecRequest& request,
                                               std::string process_file = {});

}  // namespace berth::kubelet::runc
