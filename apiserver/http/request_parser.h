// RequestParser: an incremental HTTP/1.1 request parser (request line, headers, Content-Length
// and chunked bodies). The event loop feeds it whatever bytes arrived; it consumes what it can
// and says whether a request is complete. Bodies over the limit are counted and discarded so
// the connection stays usable; the request is then marked body_too_large.
// Thread-safety: none; one parser per connection, used on the connection's event loop.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "apiserver/http/server.h"

namespace berth::http {

class RequestParser {
 public:
  enum class State { kNeedMore, kDone, kError };

  RequestParser(size_t max_header_bytes, size_t max_body_bytes)
      : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

  // Consumes bytes from the front of `data`; sets *consumed to how many were used. On kDone
  // the request is in request(); call reset() before parsing the next one. On kError,
  // errorStatus() is the HTTP status to answer (400, 431, 501) and the connection must close.
  State parse(std::string_view data, size_t* consumed);

  // True once the header block is complete (the body may still be coming).
  bool headersComplete() const { return phase_ > Phase::kHeaders; }
  // True if the client sent `Expect: 100-continue` and the body has not started yet.
  bool wantsContinue() const { return expect_continue_ && headersComplete() && !body_started_; }
  void continueSent() { expect_continue_ = false; }

  Request& request() { return req_; }
  bool keepAlive() const { return keep_alive_; }
  bool http10() const { return http10_; }
  int errorStatus() const { return error_status_; }
  const std::string& errorMessage() const { return error_message_; }
  void reset();

 private:
  enum class Phase { kRequestLine, kHeaders, kBody, kChunkSize, kChunkData, kChunkDataEnd,
                     kTrailers, kDone };

  State fail(int status, std::string message);
  bool parseRequestLine(std::string_view line);
  bool parseHeaderLine(std::string_view line);
  State finishHeaders();
  void appendBody(std::string_view data);

  size_t max_header_bytes_;
  size_t max_body_bytes_;
  Phase phase_ = Phase::kRequestLine;
  Request req_;
  size_t header_bytes_ = 0;
  size_t body_remaining_ = 0;  // for Content-Length and the current chunk
  size_t body_seen_ = 0;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool expect_continue_ = false;
  bool body_started_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

// Parses "a=1&b=x+y" into decoded pairs ('+' is a space, %XX decoded).
void parseQuery(std::string_view raw, std::multimap<std::string, std::string>* out);

}  // namespace berth::http
