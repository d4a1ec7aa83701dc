#include "common/mounts.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

// Lines in /proc/self/mountinfo's shape; the mount point is the fifth field.
const char* kMountinfo =
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "90 22 0:50 / /var/lib/berth/c1/agent/runc/containers/a/rootfs rw - overlay overlay rw\n"
    "91 22 0:51 / /var/lib/berth/c1/agent/runc/containers/a/rootfs/proc rw - proc proc rw\n"
    "92 22 0:52 / /var/lib/berth/c10/agent/rootfs rw - overlay overlay rw\n"
    "93 22 0:53 / /var/lib/berth/c1/with\\040space rw - tmpfs tmpfs rw\n"
    "94 22 0:54 / /var/lib/berth/c1 rw - tmpfs tmpfs rw\n";

TEST(MountsTest, FindsMountsAtAndBelowTheDirectoryDeepestFirst) {
  std::vector<std::string> got = mountsUnder(kMountinfo, "/var/lib/berth/c1/");
  std::vector<std::string> want = {
      "/var/lib/berth/c1/agent/runc/containers/a/rootfs/proc",
      "/var/lib/berth/c1/agent/runc/containers/a/rootfs",
      "/var/lib/berth/c1/with space",
      "/var/lib/berth/c1",
  };
  EXPECT_EQ(got, want);  // c10 is another cluster: a name prefix is not a path prefix
}

TEST(MountsTest, NothingBelowAnUnmountedDirectory) {
  EXPECT_TRUE(mountsUnder(kMountinfo, "/tmp/none").empty());
  EXPECT_TRUE(mountsUnder("garbage line\n\n", "/").empty());
}

}  // namespace
}  // namespace berth
