// Mount points of this process's mount namespace, read from /proc/self/mountinfo, and the
// lazy unmount of everything below a directory (what a state directory must lose before it can
// be removed: container root filesystems a crashed or killed agent left mounted).
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace berth {

// Mount points equal to `dir` or below it, deepest first (the order to unmount them in).
// `mountinfo` is the text of /proc/self/mountinfo (octal escapes such as \040 decoded).
std::vector<std::string> mountsUnder(const std::string& mountinfo, const std::string& dir);

// Detaches (umount2 MNT_DETACH) every mount at or below `dir`; ok when there are none. The
// error names the first mount point that could not be detached.
Status unmountUnder(const std::string& dir);

}  // namespace berth
