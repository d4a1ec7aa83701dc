#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

const char* toString(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated: return "created";
    case ContainerState::kRunning: return "running";
    case ContainerState::kExited: return "exited";
    case ContainerState::kUnknown: break;
  }
  return "unknown";
}

}  // namespace berth::kubelet
