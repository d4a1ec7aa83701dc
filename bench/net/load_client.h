// The load generator: C connections, each on its own thread, send `GET /` to one address for a
// fixed time and time every full response. HTTP/1.1 keep-alive is used when the server allows
// it (a Content-Length and no "Connection: close"); otherwise each request opens a new TCP
// connection, so the same server is driven the same way on every path. Latency is from the
// start of the request (including the connect when there is one) to the last byte of the body.
// Requests that start in the warm-up are not counted.
// Thread-safety: runLoad is self-contained; call it from one thread at a time.
#pragma once

#include <string>

namespace berth::bench::net {

struct LoadResult {
  long requests = 0;  // completed with status 200 after the warm-up
  long errors = 0;    // refused, reset, timed out or not 200
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  bool keepalive = false;  // the server kept connections open
  std::string first_error;

  double rate() const { return seconds > 0 ? requests / seconds : 0; }
};

LoadResult runLoad(const std::string& ip, int port, int conns, double seconds, double warmup);

// One line of JSON (what the client prints when run inside a namespace) and back.
std::string toJsonLine(const LoadResult& r);
bool fromJsonLine(const std::string& line, LoadResult* r);

}  // namespace berth::bench::net
