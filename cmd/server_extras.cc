#include "cmd/server_extras.h"

namespace berth::cmd {

void addServerExtras(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  // Modules append {name, factory, on_by_default} here, one block each.
  (void)co;
  (void)o;
}

}  // namespace berth::cmd
