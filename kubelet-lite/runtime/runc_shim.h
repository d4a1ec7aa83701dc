// The runc shim (`berth-runc-shim`, or `berth runc-shim`): one small process per container that
// outlives the agent, as containerd's shim does, so containers keep running and logging while
// the agent restarts. The runtime starts it when it starts the container.
//
//   berth-runc-shim --runc PATH --root STATE_DIR --bundle DIR --id ID --log FILE
//                   [--stdin none|open|once] [--tty true|false]
//
// 1. Starts a session of its own and becomes a child subreaper.
// 2. Runs `runc run --detach` with stdout/stderr on two pipes it owns (runc's own error text,
//    if it fails, and the container's output land there). With --tty true (the spec has
//    process.terminal) it passes --console-socket and receives the terminal's master from
//    runc (SCM_RIGHTS); the container's stdio is then the terminal.
// 3. Reports on descriptor 3: "ok <init pid>\n", or "error <message>\n" and exits 1.
// 4. Copies the pipes (or the terminal, as stream stdout, writing what came without a newline
//    at once as a partial record) into FILE in the CRI log format ("<RFC3339Nano>
//    stdout|stderr F|P <text>", lines over 16 KiB split with P tags).
// 4b. With --stdin open|once the container's stdin (a pipe the shim holds, or the terminal)
//    is fed from DIR/attach.sock, and with --tty DIR/tty.sock hands out the terminal's master
//    for resizes: see shim_io.h (kubectl attach -i / -t through the agent).
// 5. The container's init is re-parented to the shim (subreaper), so it reaps it and writes
//    DIR/exit.json {"exitCode", "signal", "finishedAt"} (temp file + rename) before exiting.
// Thread-safety: single-threaded process.
#pragma once

#include <string>
#include <vector>

namespace berth::kubelet::runc {

int runcShimMain(const std::vector<std::string>& args);

// One CRI log line for `text` (without its newline): `partial` selects the P tag.
std::string criLogLine(const std::string& timestamp, const char* stream, bool partial,
                       const std::string& text);

}  // namespace berth::kubelet::runc
