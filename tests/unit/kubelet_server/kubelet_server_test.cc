// KubeletServer end to end over TLS with a fake runtime whose exec runs host processes and whose
// port-forward dials 127.0.0.1: authentication, logs, exec over WebSocket, port-forward over
// SPDY inside WebSocket.
#include "kubelet-lite/server/kubelet_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "apiserver/http/pki.h"
#include "apiserver/http/websocket.h"
#include "apiserver/streaming/spdy.h"
#include "apiserver/streaming/tls_client.h"
#include "tests/fakes/host_runtime.h"

namespace berth::kubelet {
namespace {

namespace fs = std::filesystem;
namespace ws = http::ws;
using json = nlohmann::json;

class KubeletServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubelet-server-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    auto cluster = http::ensurePki((dir_ / "cluster-pki").string(), {});
    ASSERT_TRUE(cluster.isOk()) << cluster.status().message();
    auto ca = http::readFile(cluster->ca_cert);
    ASSERT_TRUE(ca.isOk());
    auto master = http::issueClientCert(*cluster, "kube-apiserver-kubelet-client", {"system:masters"});
    auto node = http::issueClientCert(*cluster, "system:node:n1", {"system:nodes"});
    ASSERT_TRUE(master.isOk() && node.isOk());
    master_ = {master->first, master->second, ""};
    node_ = {node->first, node->second, ""};
    fs::create_directories(dir_ / "pods" / "default_web_u1" / "app");
    std::ofstream(dir_ / "pods" / "default_web_u1" / "app" / "0.log")
        << "2026-11-27T10:00:00.000000000Z stdout F first\n"
        << "2026-11-27T10:00:01.000000000Z stdout F second\n"
        << "2026-11-27T10:00:02.000000000Z stderr F third\n";
    KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.state_dir = (dir_ / "state").string();
    o.pods_dir = (dir_ / "pods").string();
    o.client_ca_pem = *ca;
    auto srv = KubeletServer::create(o, &runtime_);
    ASSERT_TRUE(srv.isOk());
    server_ = std::move(srv).value();
    ASSERT_TRUE(server_->start().isOk());
  }
  void TearDown() override {
    if (server_) server_->stop();
    fs::remove_all(dir_);
  }

  std::unique_ptr<streaming::TlsConnection> dial(const streaming::TlsClientOptions& who) {
    auto c = streaming::TlsConnection::dial("127.0.0.1", server_->port(), who);
    EXPECT_TRUE(c.isOk()) << c.status().message();
    return c.isOk() ? std::move(c).value() : nullptr;
  }

  // A GET; returns {status, decoded body}.
  std::pair<int, std::string> get(const streaming::TlsClientOptions& who, const std::string& path) {
    auto c = dial(who);
    if (!c) return {0, ""};
    EXPECT_TRUE(c->writeAll("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").isOk());
    auto head = streaming::readResponseHead(*c, 5000);
    if (!head.isOk()) return {0, head.status().message()};
    std::string raw = head->rest;
    while (true) {
      auto more = c->readSome(5000);
      if (!more.isOk() || more->empty()) break;
      raw += *more;
    }
    if (head->header("transfer-encoding") == "chunked") {
      std::string body;
      streaming::ChunkedDecoder d;
      EXPECT_TRUE(d.feed(raw, &body));
      return {head->status, body};
    }
    return {head->status, raw};
  }

  // Opens a WebSocket; returns the connection after a 101 (else nullptr).
  std::unique_ptr<streaming::TlsConnection> openWs(const std::string& path, const std::string& proto,
                                                   std::string* leftover) {
    auto c = dial(master_);
    if (!c) return nullptr;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Protocol: " + proto + "\r\n\r\n";
    EXPECT_TRUE(c->writeAll(req).isOk());
    auto head = streaming::readResponseHead(*c, 5000);
    EXPECT_TRUE(head.isOk());
    if (!head.isOk() || head->status != 101) {
      ADD_FAILURE() << "status " << (head.isOk() ? head->status : 0);
      return nullptr;
    }
    EXPECT_EQ(head->header("sec-websocket-protocol"), proto);
    EXPECT_EQ(head->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    *leftover = head->rest;
    return c;
  }

  static std::string clientFrame(ws::Opcode op, const std::string& payload) {
    return ws::encodeFrame(op, payload, true, true, 0x11223344);
  }

  fs::path dir_;
  testing::HostRuntime runtime_{{{"default", "web", "app"}}};
  std::unique_ptr<KubeletServer> server_;
  streaming::TlsClientOptions master_, node_;
};

// Reads WebSocket messages until the close frame; returns per-channel output.
std::map<int, std::string> readChannels(streaming::TlsConnection& c, std::string leftover) {
  std::map<int, std::string> out;
  ws::FrameDecoder dec(false);
  std::vector<ws::Message> msgs;
  std::string bytes = std::move(leftover);
  while (true) {
    EXPECT_TRUE(dec.feed(bytes, &msgs));
    for (auto& m : msgs) {
      if (m.opcode == ws::Opcode::kClose) return out;
      if (m.opcode == ws::Opcode::kBinary && !m.payload.empty())
        out[static_cast<uint8_t>(m.payload[0])] += m.payload.substr(1);
    }
    msgs.clear();
    auto more = c.readSome(10000);
    if (!more.isOk() || more->empty()) {
      ADD_FAILURE() << "stream ended without a close frame";
      return out;
    }
    bytes = *more;
  }
}

TEST(NodeServerOptions, FollowTheAgentsDirectoryLayout) {
  auto o = nodeServerOptions("/var/lib/berth-agent", "n1", "10.0.0.5", 0, "CA");
  EXPECT_EQ(o.bind_address, "0.0.0.0");
  EXPECT_EQ(o.port, 0);
  // Logs are where podLogDir() puts them.
  EXPECT_EQ(o.pods_dir + "/default_web_uid",
            podLogDir("/var/lib/berth-agent", "n1", "default", "web", "uid"));
  EXPECT_EQ(o.state_dir, "/var/lib/berth-agent/n1/kubelet");
  EXPECT_EQ(o.client_ca_pem, "CA");
  EXPECT_EQ(o.sans, (std::vector<std::string>{"10.0.0.5", "n1"}));
}

TEST_F(KubeletServerTest, RefusesClientsWithoutTheApiServersCertificate) {
  streaming::TlsClientOptions anonymous;
  EXPECT_EQ(get(anonymous, "/containerLogs/default/web/app").first, 401);
  auto [code, body] = get(node_, "/containerLogs/default/web/app");
  EXPECT_EQ(code, 403);
  EXPECT_NE(body.find("system:node:n1"), std::string::npos);
  // A certificate from another CA fails the TLS handshake.
  auto other = http::ensurePki((dir_ / "other-pki").string(), {});
  ASSERT_TRUE(other.isOk());
  auto cert = http::issueClientCert(*other, "mallory", {"system:masters"});
  ASSERT_TRUE(cert.isOk());
  streaming::TlsClientOptions mallory{cert->first, cert->second, ""};
  auto c = streaming::TlsConnection::dial("127.0.0.1", server_->port(), mallory);
  if (c.isOk()) {
    // TLS 1.3 reports the rejected certificate on the first read.
    (void)(*c)->writeAll("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_FALSE(streaming::readResponseHead(**c, 5000).isOk());
  }
}

TEST_F(KubeletServerTest, ServesLogsWithTailAndTimestamps) {
  auto [code, body] = get(master_, "/containerLogs/default/web/app");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, "first\nsecond\nthird\n");
  EXPECT_EQ(get(master_, "/containerLogs/default/web/app?tailLines=1&timestamps=true").second,
            "2026-11-27T10:00:02.000000000Z third\n");
  EXPECT_EQ(get(master_, "/containerLogs/default/web/app?limitBytes=8").second, "first\nse");
  EXPECT_EQ(get(master_, "/containerLogs/default/web/nope").first, 404);
  EXPECT_EQ(get(master_, "/containerLogs/default/web/app?tailLines=x").first, 400);
}

TEST_F(KubeletServerTest, FollowedLogsStreamNewLinesAndEndWithTheContainer) {
  auto c = dial(master_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->writeAll("GET /containerLogs/default/web/app?follow=true&tailLines=1 HTTP/1.1\r\n"
                          "Host: x\r\n\r\n").isOk());
  auto head = streaming::readResponseHead(*c, 5000);
  ASSERT_TRUE(head.isOk());
  std::string raw = head->rest, body;
  streaming::ChunkedDecoder d;
  auto readUntil = [&](const std::string& want) {
    while (body.find(want) == std::string::npos) {
      ASSERT_TRUE(d.feed(raw, &body));
      raw.clear();
      if (body.find(want) != std::string::npos) break;
      auto more = c->readSome(10000);
      ASSERT_TRUE(more.isOk() && !more->empty()) << "waiting for " << want;
      raw = *more;
    }
  };
  readUntil("third\n");
  std::ofstream(dir_ / "pods" / "default_web_u1" / "app" / "0.log", std::ios::app)
      << "2026-11-27T10:00:03.000000000Z stdout F fourth\n";
  readUntil("fourth\n");
  EXPECT_EQ(body, "third\nfourth\n");
  runtime_.setRunning(false);
  while (!d.done()) {
    auto more = c->readSome(10000);
    ASSERT_TRUE(more.isOk() && !more->empty());
    ASSERT_TRUE(d.feed(*more, &body));
  }
}

TEST_F(KubeletServerTest, ExecReportsOutputAndTheExitCode) {
  std::string left;
  auto c = openWs("/exec/default/web/app?command=sh&command=-c&command=echo+out%3B+echo+err+%3E%262%3B+exit+3"
                  "&stdout=true&stderr=true",
                  "v5.channel.k8s.io", &left);
  ASSERT_TRUE(c);
  auto out = readChannels(*c, left);
  EXPECT_EQ(out[1], "out\n");
  EXPECT_EQ(out[2], "err\n");
  json status = json::parse(out[3]);
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "3");
}

TEST_F(KubeletServerTest, ExecPipesStdinUntilTheCloseSignal) {
  std::string left;
  auto c = openWs("/exec/default/web/app?command=cat&stdin=true&stdout=true", "v5.channel.k8s.io", &left);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->writeAll(clientFrame(ws::Opcode::kBinary, std::string("\x00hello ", 7)) +
                          clientFrame(ws::Opcode::kBinary, std::string("\x00world", 6)) +
                          clientFrame(ws::Opcode::kBinary, std::string("\xff\x00", 2))).isOk());
  auto out = readChannels(*c, left);
  EXPECT_EQ(out[1], "hello world");
  EXPECT_EQ(json::parse(out[3])["status"], "Success");
}

TEST_F(KubeletServerTest, ExecInAnUnknownContainerFailsOnTheErrorChannel) {
  std::string left;
  auto c = openWs("/exec/default/web/ghost?command=true&stdout=true", "v4.channel.k8s.io", &left);
  ASSERT_TRUE(c);
  auto out = readChannels(*c, left);
  json status = json::parse(out[3]);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_NE(status["message"].get<std::string>().find("ghost"), std::string::npos);
}

TEST_F(KubeletServerTest, ExecOverSpdyWaitsForTheStreamsThenReportsTheExit) {
  auto c = dial(master_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->writeAll("POST /exec/default/web/app?command=sh&command=-c&command=cat%3B+exit+5"
                          "&stdin=true&stdout=true HTTP/1.1\r\nHost: x\r\nUpgrade: SPDY/3.1\r\n"
                          "Connection: Upgrade\r\nX-Stream-Protocol-Version: v5.channel.k8s.io, "
                          "v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n").isOk());
  auto head = streaming::readResponseHead(*c, 5000);
  ASSERT_TRUE(head.isOk());
  ASSERT_EQ(head->status, 101);
  EXPECT_EQ(head->header("x-stream-protocol-version"), "v4.channel.k8s.io");
  streaming::spdy::Encoder enc;
  std::string out = enc.synStream(1, {{"streamtype", "error"}});
  out += enc.synStream(3, {{"streamtype", "stdin"}});
  out += enc.data(3, "echoed", streaming::spdy::kFlagFin);
  out += enc.synStream(5, {{"streamtype", "stdout"}});
  ASSERT_TRUE(c->writeAll(out).isOk());
  streaming::spdy::Decoder dec;
  std::map<uint32_t, std::string> data;
  std::string bytes = head->rest;
  while (true) {
    std::vector<streaming::spdy::Frame> frames;
    ASSERT_TRUE(dec.feed(bytes, &frames)) << dec.error();
    bool error_done = false;
    for (auto& f : frames)
      if (f.type == streaming::spdy::FrameType::kData) {
        data[f.stream_id] += f.data;
        error_done |= f.stream_id == 1 && f.fin();
      }
    if (error_done) break;
    auto more = c->readSome(10000);
    ASSERT_TRUE(more.isOk() && !more->empty());
    bytes = *more;
  }
  EXPECT_EQ(data[5], "echoed");
  EXPECT_EQ(json::parse(data[1])["details"]["causes"][0]["message"], "5");
}

TEST_F(KubeletServerTest, StopEndsRunningSessions) {
  std::string pid_file = (dir_ / "exec.pid").string();
  std::string left;
  auto c = openWs("/exec/default/web/app?command=sh&command=-c&command=echo+%24%24+%3E" + pid_file +
                      "%3B+echo+started%3B+exec+sleep+600&stdout=true",
                  "v5.channel.k8s.io", &left);
  ASSERT_TRUE(c);
  std::string seen = left;
  while (seen.find("started") == std::string::npos) {
    auto more = c->readSome(10000);
    ASSERT_TRUE(more.isOk() && !more->empty());
    seen += *more;
  }
  std::ifstream in(pid_file);
  pid_t pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  server_->stop();
  // stop() returned after the session killed and reaped its command.
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// A one-connection echo server on a free loopback port.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 4);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n;
      while ((n = read(c, buf, sizeof buf)) > 0) (void)!write(c, buf, static_cast<size_t>(n));
      close(c);
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
  std::thread thread_;
};

TEST_F(KubeletServerTest, PortForwardOverSpdyInsideWebSocket) {
  EchoServer echo;
  std::string left;
  auto c = openWs("/portForward/default/web", "SPDY/3.1+portforward.k8s.io", &left);
  ASSERT_TRUE(c);
  streaming::spdy::Encoder enc;
  std::string port = std::to_string(echo.port());
  // One statement per frame: the header compressor is stateful, so the order matters.
  std::string out = enc.synStream(1, {{"streamtype", "error"}, {"port", port}, {"requestid", "0"}});
  out += enc.synStream(3, {{"streamtype", "data"}, {"port", port}, {"requestid", "0"}});
  out += enc.data(3, "ping");
  out += enc.data(3, "", streaming::spdy::kFlagFin);
  ASSERT_TRUE(c->writeAll(clientFrame(ws::Opcode::kBinary, out)).isOk());
  ws::FrameDecoder wsd(false);
  streaming::spdy::Decoder sd;
  std::vector<streaming::spdy::Frame> frames;
  std::string data;
  bool data_fin = false, error_fin = false;
  int replies = 0;
  std::string bytes = left;
  while (!(data_fin && error_fin)) {
    std::vector<ws::Message> msgs;
    ASSERT_TRUE(wsd.feed(bytes, &msgs));
    for (auto& m : msgs) ASSERT_TRUE(sd.feed(m.payload, &frames)) << sd.error();
    for (auto& f : frames) {
      if (f.type == streaming::spdy::FrameType::kSynReply) ++replies;
      if (f.type != streaming::spdy::FrameType::kData) continue;
      if (f.stream_id == 3) {
        data += f.data;
        data_fin |= f.fin();
      } else if (f.stream_id == 1) {
        EXPECT_EQ(f.data, "");
        error_fin |= f.fin();
      }
    }
    frames.clear();
    if (data_fin && error_fin) break;
    auto more = c->readSome(10000);
    ASSERT_TRUE(more.isOk() && !more->empty());
    bytes = *more;
  }
  EXPECT_EQ(replies, 2);
  EXPECT_EQ(data, "ping");
}

TEST_F(KubeletServerTest, PortForwardToAClosedPortReportsOnTheErrorStream) {
  std::string left;
  auto c = openWs("/portForward/default/web", "SPDY/3.1+portforward.k8s.io", &left);
  ASSERT_TRUE(c);
  streaming::spdy::Encoder enc;
  std::string out = enc.synStream(1, {{"streamtype", "error"}, {"port", "1"}, {"requestid", "7"}});
  out += enc.synStream(3, {{"streamtype", "data"}, {"port", "1"}, {"requestid", "7"}});
  ASSERT_TRUE(c->writeAll(clientFrame(ws::Opcode::kBinary, out)).isOk());
  ws::FrameDecoder wsd(false);
  streaming::spdy::Decoder sd;
  std::string error;
  bool fin = false;
  std::string bytes = left;
  while (!fin) {
    std::vector<ws::Message> msgs;
    std::vector<streaming::spdy::Frame> frames;
    ASSERT_TRUE(wsd.feed(bytes, &msgs));
    for (auto& m : msgs) ASSERT_TRUE(sd.feed(m.payload, &frames));
    for (auto& f : frames)
      if (f.type == streaming::spdy::FrameType::kData && f.stream_id == 1) {
        error += f.data;
        fin |= f.fin();
      }
    if (fin) break;
    auto more = c->readSome(10000);
    ASSERT_TRUE(more.isOk() && !more->empty());
    bytes = *more;
  }
  EXPECT_NE(error.find("connection refused"), std::string::npos) << error;
}

}  // namespace
}  // namespace berth::kubelet
