// Pipes an upgraded client connection (kubectl's exec / attach / port-forward stream, after
// the API server answered 101) and the matching upgraded connection to a kubelet, byte for
// byte in both directions, like upstream's upgrade-aware proxy: the API server never decodes
// the WebSocket or SPDY framing it carries.
// Thread-safety: starts one thread per piped pair; it ends when either side closes.
#pragma once

#include <memory>
#include <string>

#include "apiserver/http/server.h"
#include "apiserver/streaming/tls_client.h"

namespace berth::streaming {

// Call from the handler that upgraded `client` (before it returns, so no byte is lost).
// `backend_leftover` are bytes already read from the backend past its 101 head.
void pipeUpgraded(std::shared_ptr<http::UpgradedConnection> client,
                  std::unique_ptr<TlsConnection> backend, std::string backend_leftover);

}  // namespace berth::streaming
