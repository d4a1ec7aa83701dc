// One port-forward session: a thread that runs the SPDY session (decoding the client's frames,
// answering streams) and polls the pod connections of every error/data stream pair.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <map>
#include <thread>
#include <vector>

#include "apiserver/http/websocket.h"
#include "apiserver/streaming/inbox.h"
#include "apiserver/streaming/spdy.h"
#include "common/log.h"
#include "kubelet-lite/server/sessions.h"

namespace berth::kubelet {

namespace ws = http::ws;
namespace spdy = streaming::spdy;

namespace {

// One forwarded connection: kubectl's error and data streams for one requestID.
struct Forward {
  uint32_t error_stream = 0;
  uint32_t data_stream = 0;
  int port = 0;
  int fd = -1;
  std::string to_pod;
  bool client_done = false;  // FIN on the data stream: half-close towards the pod
  bool shut_wr = false;
};

class PortForwardSession {
 public:
  PortForwardSession(std::shared_ptr<http::UpgradedConnection> conn, ContainerRuntime* runtime,
                     std::string sandbox_id, std::string pod, bool websocket,
                     std::shared_ptr<streaming::Inbox> inbox)
      : conn_(std::move(conn)), runtime_(runtime), sandbox_(std::move(sandbox_id)), pod_(std::move(pod)),
        websocket_(websocket), inbox_(std::move(inbox)) {}

  ~PortForwardSession() {
    for (auto& [id, f] : forwards_)
      if (f.fd >= 0) close(f.fd);
  }

  void run() {
    while (!done_) step();
    conn_->close();
  }

 private:
  void send(const std::string& spdy_bytes) {
    bool ok = websocket_ ? conn_->write(ws::encodeFrame(ws::Opcode::kBinary, spdy_bytes))
                         : conn_->write(spdy_bytes);
    if (!ok) done_ = true;
  }

  void step() {
    std::vector<pollfd> fds;
    fds.push_back({inbox_->fd(), POLLIN, 0});
    for (auto& [id, f] : forwards_) {
      if (f.fd < 0) continue;
      fds.push_back({f.fd, static_cast<short>(POLLIN | (f.to_pod.empty() ? 0 : POLLOUT)), 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno != EINTR) done_ = true;
      return;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      for (auto& [id, f] : forwards_) {
        if (f.fd != fds[i].fd) continue;
        if (fds[i].revents & POLLOUT) flushToPod(f);
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) readPod(f);
        break;
      }
    }
    reap();
    if (fds[0].revents) readClient();
  }

  void readClient() {
    std::string bytes;
    bool open = inbox_->take(&bytes);
    if (websocket_) {
      std::vector<ws::Message> msgs;
      if (!ws_decoder_.feed(bytes, &msgs)) {
        conn_->write(ws::encodeClose(ws_decoder_.errorCloseCode(), ws_decoder_.error()));
        done_ = true;
        return;
      }
      std::string spdy_bytes;
      for (auto& m : msgs) {
        if (m.opcode == ws::Opcode::kBinary) spdy_bytes += m.payload;
        else if (m.opcode == ws::Opcode::kPing)
          conn_->write(ws::encodeFrame(ws::Opcode::kPong, m.payload));
        else if (m.opcode == ws::Opcode::kClose) {
          conn_->write(ws::encodeClose(1000));
          done_ = true;
        }
      }
      feedSpdy(spdy_bytes);
    } else {
      feedSpdy(bytes);
    }
    if (!open) done_ = true;
  }

  void feedSpdy(std::string_view bytes) {
    std::vector<spdy::Frame> frames;
    if (!decoder_.feed(bytes, &frames)) {
      BLOG(2, "port-forward: bad SPDY stream").kv("pod", pod_).kv("err", decoder_.error());
      send(encoder_.goAway(last_stream_, 1));
      done_ = true;
    }
    for (auto& f : frames) handleFrame(f);
  }

  void handleFrame(spdy::Frame& f) {
    switch (f.type) {
      case spdy::FrameType::kSynStream:
        onSynStream(f);
        break;
      case spdy::FrameType::kData:
        onData(f);
        break;
      case spdy::FrameType::kRstStream:
        onReset(f.stream_id);
        break;
      case spdy::FrameType::kPing:
        send(encoder_.ping(f.value));
        break;
      case spdy::FrameType::kGoAway:
        done_ = true;
        break;
      default:
        break;
    }
  }

  void onSynStream(const spdy::Frame& f) {
    last_stream_ = f.stream_id;
    std::string type = f.header("streamtype");
    std::string request_id = f.header("requestid");
    std::string port_text = f.header("port");
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if ((type != "error" && type != "data") || ec != std::errc() ||
        end != port_text.data() + port_text.size() || port <= 0 || port > 65535) {
      send(encoder_.rstStream(f.stream_id, spdy::kRstProtocolError));
      return;
    }
    send(encoder_.synReply(f.stream_id, {}));
    Forward& fw = forwards_[request_id];
    fw.port = port;
    (type == "error" ? fw.error_stream : fw.data_stream) = f.stream_id;
    stream_owner_[f.stream_id] = request_id;
    if (fw.error_stream && fw.data_stream && fw.fd < 0) connect(request_id, fw);
  }

  void connect(const std::string& request_id, Forward& fw) {
    auto fd = runtime_->portForward(sandbox_, fw.port);
    if (!fd.isOk()) {
      std::string msg = "error forwarding port " + std::to_string(fw.port) + " to pod " + pod_ +
                        ": " + fd.status().message();
      send(encoder_.data(fw.error_stream, msg, spdy::kFlagFin));
      send(encoder_.data(fw.data_stream, "", spdy::kFlagFin));
      dropForward(request_id);
      return;
    }
    fw.fd = *fd;
    fcntl(fw.fd, F_SETFL, fcntl(fw.fd, F_GETFL) | O_NONBLOCK);
    BLOG(4, "port-forward: connected").kv("pod", pod_).kv("port", fw.port);
  }

  void onData(const spdy::Frame& f) {
    auto it = stream_owner_.find(f.stream_id);
    if (it == stream_owner_.end()) return;
    auto fit = forwards_.find(it->second);
    if (fit == forwards_.end()) return;
    Forward& fw = fit->second;
    if (f.stream_id != fw.data_stream) return;  // the client only half-closes its error stream
    fw.to_pod += f.data;
    if (f.fin()) fw.client_done = true;
    if (fw.fd >= 0) flushToPod(fw);
  }

  void flushToPod(Forward& fw) {
    while (!fw.to_pod.empty()) {
      ssize_t n = ::send(fw.fd, fw.to_pod.data(), fw.to_pod.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) {
        fw.to_pod.clear();
        break;
      }
      fw.to_pod.erase(0, static_cast<size_t>(n));
    }
    if (fw.client_done && !fw.shut_wr) {
      shutdown(fw.fd, SHUT_WR);
      fw.shut_wr = true;
    }
  }

  void readPod(Forward& fw) {
    char buf[32 * 1024];
    ssize_t n = recv(fw.fd, buf, sizeof buf, 0);
    if (n > 0) {
      send(encoder_.data(fw.data_stream, std::string_view(buf, static_cast<size_t>(n))));
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // The pod side ended: finish both streams.
    send(encoder_.data(fw.data_stream, "", spdy::kFlagFin));
    send(encoder_.data(fw.error_stream, "", spdy::kFlagFin));
    close(fw.fd);
    fw.fd = -2;  // finished; reaped after the poll loop
  }

  void reap() {
    for (auto it = forwards_.begin(); it != forwards_.end();) {
      if (it->second.fd == -2) {
        stream_owner_.erase(it->second.error_stream);
        stream_owner_.erase(it->second.data_stream);
        it = forwards_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void onReset(uint32_t stream_id) {
    auto it = stream_owner_.find(stream_id);
    if (it != stream_owner_.end()) dropForward(it->second);
  }

  void dropForward(const std::string& request_id) {
    auto it = forwards_.find(request_id);
    if (it == forwards_.end()) return;
    if (it->second.fd >= 0) close(it->second.fd);
    it->second.fd = -2;
  }

  std::shared_ptr<http::UpgradedConnection> conn_;
  ContainerRuntime* runtime_;
  std::string sandbox_, pod_;  // pod: ns/name, for messages
  bool websocket_;
  std::shared_ptr<streaming::Inbox> inbox_;
  ws::FrameDecoder ws_decoder_{true};
  spdy::Decoder decoder_;
  spdy::Encoder encoder_;
  std::map<std::string, Forward> forwards_;           // by requestID
  std::map<uint32_t, std::string> stream_owner_;     // stream id -> requestID
  uint32_t last_stream_ = 0;
  bool done_ = false;
};

}  // namespace

void startPortForwardSession(std::shared_ptr<http::UpgradedConnection> conn,
                             ContainerRuntime* runtime, std::string sandbox_id, std::string pod,
                             bool websocket, SessionToken token) {
  auto inbox = std::make_shared<streaming::Inbox>();
  conn->setOnData([inbox](std::string_view b) { inbox->push(b); });
  conn->setOnClose([inbox] { inbox->close(); });
  auto session = std::make_shared<PortForwardSession>(std::move(conn), runtime,
                                                      std::move(sandbox_id), std::move(pod),
                                                      websocket, inbox);
  std::thread([session, token = std::move(token)] { session->run(); }).detach();
}

}  // namespace berth::kubelet
