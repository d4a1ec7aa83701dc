// The local cloud's test server: a tiny HTTP/1.0 server that answers every request (or bare
// TCP connection) with "client=<source ip>:<port> server=<local ip>:<port>\n". It stands at
// 203.0.113.10:80 in the internet namespace, so tests see which address a NAT gateway gives
// private instances, and serves as a load-balancer target in instance namespaces.
// Thread-safety: runEchoServer blocks the caller and serves from a few threads of its own.
#pragma once

#include <string>

#include "common/status.h"

namespace berth::networking {

// Listens on "ADDR:PORT" and serves until the process is killed. Returns only on error.
Status runEchoServer(const std::string& listen, int threads = 4);

}  // namespace berth::networking
