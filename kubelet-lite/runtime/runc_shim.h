// The runc shim (`berth-runc-shim`, or `berth runc-shim`): one small process per container that
// outlives the agent, as containerd's shim does, so containers keep running and logging while
// the agent restarts. The runtime starts it when it starts the container.
//
//   berth-runc-shim --runc PATH --root STATE_DIR --bundle DIR --id ID --log FILE
//                   [--stdin none|open|once]
//
// 1. Starts a session of its own and becomes a child subreaper.
// 2. Runs `runc run --detach` with stdout/stderr on two pipes it owns (runc's own error text,
//    if it fails, and the container's output land there).
// 3. Reports on descriptor 3: "ok <init pid>\n", or "error <message>\n" and exits 1.
// 4. Copies the pipes into FILE in the CRI log format ("<RFC3339Nano> stdout|stderr F|P <text>",
//    lines over 16 KiB split with P tags).
// 4b. With --stdin open|once the container's stdin is a pipe the shim holds; it listens on
//    DIR/attach.sock and copies what connections send into it (kubectl attach -i). "once"
//    (stdinOnce) closes the container's stdin when the first connection ends.
// 5. The container's init is re-parented to the shim (subreaper), so it reaps it and writes
//    DIR/exit.json {"exitCode", "signal", "finishedAt"} (temp file + rename) before exiting.
// Thread-safety: single-threaded process.
#pragma once

#include <string>
#include <vector>

namespace berth::kubelet::runc {

int runcShimMain(const std::vector<std::string>& args);

// The attach socket's name inside the container's bundle directory.
inline constexpr char kAttachSocketName[] = "attach.sock";

// One CRI log line for `text` (without its newline): `partial` selects the P tag.
std::string criLogLine(const std::string& timestamp, const char* stream, bool partial,
                       const std::string& text);

}  // namespace berth::kubelet::runc
