#include "kubelet-lite/server/exec_transport.h"

#include <map>

#include "apiserver/http/websocket.h"
#include "apiserver/streaming/spdy.h"

namespace berth::kubelet {

namespace ws = http::ws;
namespace channel = streaming::channel;
namespace spdy = streaming::spdy;

namespace {

class WebSocketTransport : public ExecTransport {
 public:
  void decode(std::string_view bytes, ClientInput* in) override {
    std::vector<ws::Message> msgs;
    if (!decoder_.feed(bytes, &msgs)) {
      in->reply += ws::encodeClose(decoder_.errorCloseCode(), decoder_.error());
      in->gone = true;
      return;
    }
    for (const auto& m : msgs) {
      if (m.opcode == ws::Opcode::kPing) {
        in->reply += ws::encodeFrame(ws::Opcode::kPong, m.payload);
      } else if (m.opcode == ws::Opcode::kClose) {
        in->reply += ws::encodeClose(1000);
        in->gone = true;
      } else if (m.opcode == ws::Opcode::kBinary && !m.payload.empty()) {
        auto id = static_cast<uint8_t>(m.payload[0]);
        std::string_view data = std::string_view(m.payload).substr(1);
        channel::TerminalSize size;
        if (id == channel::kStdin) in->stdin_data.append(data);
        else if (id == channel::kResize && channel::parseResize(data, &size)) in->resizes.push_back(size);
        else if (id == channel::kClose && !data.empty() &&
                 static_cast<uint8_t>(data[0]) == channel::kStdin)
          in->stdin_eof = true;
      }
    }
  }
  bool ready() const override { return true; }
  std::string output(uint8_t stream, std::string_view data) override {
    return channel::frame(stream, data);
  }
  std::string finish(const std::string& status_json) override {
    return channel::frame(channel::kError, status_json) + ws::encodeClose(1000);
  }

 private:
  ws::FrameDecoder decoder_{true};
};

// Streams are named by their streamType header: error, stdin, stdout, stderr, resize.
class SpdyTransport : public ExecTransport {
 public:
  SpdyTransport(bool in, bool out, bool err, bool tty) {
    wanted_ = {"error"};
    if (in) wanted_.push_back("stdin");
    if (out) wanted_.push_back("stdout");
    if (err && !tty) wanted_.push_back("stderr");
    if (tty) wanted_.push_back("resize");
  }

  void decode(std::string_view bytes, ClientInput* in) override {
    std::vector<spdy::Frame> frames;
    if (!decoder_.feed(bytes, &frames)) {
      in->reply += encoder_.goAway(0, 1);
      in->gone = true;
    }
    for (auto& f : frames) {
      switch (f.type) {
        case spdy::FrameType::kSynStream:
          streams_[f.header("streamtype")] = f.stream_id;
          in->reply += encoder_.synReply(f.stream_id, {});
          break;
        case spdy::FrameType::kData:
          onData(f, in);
          break;
        case spdy::FrameType::kPing:
          in->reply += encoder_.ping(f.value);
          break;
        case spdy::FrameType::kGoAway:
          in->gone = true;
          break;
        default:
          break;
      }
    }
  }

  bool ready() const override {
    for (const auto& w : wanted_)
      if (!streams_.count(w)) return false;
    return true;
  }

  std::string output(uint8_t stream, std::string_view data) override {
    auto it = streams_.find(stream == channel::kStdout ? "stdout" : "stderr");
    return it == streams_.end() ? std::string() : encoder_.data(it->second, data);
  }

  std::string finish(const std::string& status_json) override {
    std::string out;
    if (auto it = streams_.find("error"); it != streams_.end())
      out += encoder_.data(it->second, status_json);
    for (const auto& [type, id] : streams_)
      if (type != "stdin" && type != "resize") out += encoder_.data(id, "", spdy::kFlagFin);
    return out;
  }

 private:
  void onData(const spdy::Frame& f, ClientInput* in) {
    std::string type;
    for (const auto& [t, id] : streams_)
      if (id == f.stream_id) type = t;
    if (type == "stdin") {
      in->stdin_data += f.data;
      if (f.fin()) in->stdin_eof = true;
    } else if (type == "resize") {
      // A sequence of JSON objects, one per resize.
      resize_buf_ += f.data;
      size_t end;
      while ((end = resize_buf_.find('}')) != std::string::npos) {
        channel::TerminalSize size;
        if (channel::parseResize(resize_buf_.substr(0, end + 1), &size)) in->resizes.push_back(size);
        resize_buf_.erase(0, end + 1);
      }
    }
  }

  std::vector<std::string> wanted_;
  std::map<std::string, uint32_t> streams_;
  spdy::Decoder decoder_;
  spdy::Encoder encoder_;
  std::string resize_buf_;
};

}  // namespace

std::unique_ptr<ExecTransport> webSocketTransport() {
  return std::make_unique<WebSocketTransport>();
}

std::unique_ptr<ExecTransport> spdyTransport(bool want_stdin, bool want_stdout, bool want_stderr,
                                             bool tty) {
  return std::make_unique<SpdyTransport>(want_stdin, want_stdout, want_stderr, tty);
}

}  // namespace berth::kubelet
