// berth-runc-shim: the runc shim as a small executable of its own (see runc_shim.h). The
// runtime execs it once per container start; the full `berth` binary takes ~100 ms longer to
// start on a loaded machine, which was a sixth of a pod's startup.
#include <string>
#include <vector>

#include "kubelet-lite/runtime/runc_shim.h"

int main(int argc, char** argv) {
  return berth::kubelet::runc::runcShimMain(std::vector<std::string>(argv + 1, argv + argc));
}
