// Drives the real server over loopback with a real TLS client.
#include "apiserver/http/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "apiserver/http/pki.h"
#include "apiserver/http/websocket.h"
#include "common/strings.h"
#include "tests/unit/http/tls_client.h"

namespace berth::http {
namespace {

using testing::ClientOptions;
using testing::Millis;
using testing::TestClient;
using Clock = std::chrono::steady_clock;

// Waits for a condition with a deadline (no fixed sleeps: re-checks on every notification).
class Waiter {
 public:
  void notify() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  template <typename Pred>
  bool waitFor(Pred pred, Millis timeout = Millis(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, pred);
  }
  std::mutex mu_;
  std::condition_variable cv_;
};

// Polls a condition that no callback reports (e.g. the open-connection gauge) with a deadline.
template <typename Pred>
bool eventually(Pred pred, Millis timeout = Millis(10000)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(Millis(5));
  }
  return pred();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-http-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto pki = ensurePki(dir_ + "/pki", {});
    ASSERT_TRUE(pki.isOk()) << pki.status().toString();
    pki_ = *pki;
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  Options defaultOptions() {
    Options o;
    o.port = 0;
    o.tls = true;
    o.tls_options.cert_file = pki_.serving_cert;
    o.tls_options.key_file = pki_.serving_key;
    o.tls_options.client_ca_file = pki_.ca_cert;
    o.io_threads = 2;
    o.worker_threads = 4;
    return o;
  }

  void start(Options o = Options{}, bool use_defaults = true) {
    if (use_defaults) o = defaultOptions();
    auto s = Server::create(o, [this](Request& req, std::shared_ptr<ResponseWriter> w) {
      handle(req, std::move(w));
    });
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start().isOk());
    ASSERT_GT(server_->port(), 0);
  }

  // recv_buffer > 0: the client socket's SO_RCVBUF, set before connecting.
  std::unique_ptr<TestClient> connect(const std::string& cert = "", const std::string& key = "",
                                      int recv_buffer = 0) {
    ClientOptions o;
    o.ca_file = pki_.ca_cert;
    o.cert_pem = cert;
    o.key_pem = key;
    o.recv_buffer = recv_buffer;
    std::string err;
    auto c = TestClient::connect(server_->port(), o, &err);
    EXPECT_NE(c, nullptr) << err;
    return c;
  }

  void handle(Request& req, std::shared_ptr<ResponseWriter> w) {
    if (req.path == "/hello") {
      w->respond(200, {{"Content-Type", "text/plain"}, {"X-Remote", req.remote_addr}},
                 "hello " + req.param("name"));
    } else if (req.path == "/whoami") {
      w->respond(200, {}, req.client_cert_cn + "|" + join(req.client_cert_orgs, ","));
    } else if (req.path == "/params") {
      w->respond(200, {}, join(req.params("v"), "|") + "#" + req.header("x-multi"));
    } else if (req.path == "/echo") {
      w->respond(200, {{"X-Too-Large", req.body_too_large ? "true" : "false"}}, req.body);
    } else if (req.path == "/stream") {
      w->startStream(200, {{"Content-Type", "application/json"}});
      w->setOnClose([this] {
        closes_.fetch_add(1);
        waiter_.notify();
      });
      {
        std::lock_guard<std::mutex> lock(waiter_.mu_);
        streams_.push_back(w);
      }
      waiter_.notify();
    } else if (req.path == "/upgrade") {
      auto up = w->upgrade({{"Upgrade", "echo"}, {"Connection", "Upgrade"}});
      std::weak_ptr<UpgradedConnection> weak = up;
      up->setOnData([weak](std::string_view d) {
        if (auto u = weak.lock()) u->write(d);
      });
      up->setOnClose([this] {
        closes_.fetch_add(1);
        waiter_.notify();
      });
      std::lock_guard<std::mutex> lock(waiter_.mu_);
      upgraded_.push_back(up);
    } else if (req.path == "/big") {
      std::string body(std::stoul(req.param("n")), 'z');
      for (size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + (i / 4096) % 26);
      w->respond(200, {}, std::move(body));
    } else if (req.path == "/ws") {
      // A WebSocket echo built from websocket.h, the way exec/attach will use it.
      if (toLower(req.header("upgrade")) != "websocket") {
        w->respond(400, {}, "not a websocket request");
        return;
      }
      auto up = w->upgrade({{"Upgrade", "websocket"},
                            {"Connection", "Upgrade"},
                            {"Sec-WebSocket-Accept", ws::acceptKey(req.header("sec-websocket-key"))},
                            {"Sec-WebSocket-Protocol", "v4.channel.k8s.io"}});
      auto decoder = std::make_shared<ws::FrameDecoder>();
      std::weak_ptr<UpgradedConnection> weak = up;
      up->setOnData([weak, decoder](std::string_view d) {
        auto u = weak.lock();
        if (!u) return;
        std::vector<ws::Message> msgs;
        if (!decoder->feed(d, &msgs)) {
          u->write(ws::encodeClose(decoder->errorCloseCode()));
          u->close();
          return;
        }
        for (auto& m : msgs) {
          if (m.opcode == ws::Opcode::kPing) {
            u->write(ws::encodeFrame(ws::Opcode::kPong, m.payload));
          } else if (m.opcode == ws::Opcode::kClose) {
            u->write(ws::encodeClose(1000));
            u->close();
          } else {
            u->write(ws::encodeFrame(m.opcode, "echo:" + m.payload));
          }
        }
      });
      up->setOnClose([] {});
      std::lock_guard<std::mutex> lock(waiter_.mu_);
      upgraded_.push_back(up);
    } else if (req.path == "/streamed") {
      // n pieces of `size` bytes, piece i filled with 'a' + i % 26, produced on demand.
      auto pieces = std::make_shared<size_t>(std::stoul(req.param("n")));
      size_t size = std::stoul(req.param("size"));
      auto produced = std::make_shared<size_t>(0);
      w->respondStreamed(200, {{"Content-Type", "text/plain"}}, [pieces, size, produced](std::string* out) {
        if (*produced < *pieces) {
          out->append(size, static_cast<char>('a' + *produced % 26));
          ++*produced;
        }
        return *produced < *pieces;
      });
    } else if (req.path == "/block") {
      // Holds its worker until release_ is set.
      std::unique_lock<std::mutex> lock(waiter_.mu_);
      blocked_ = true;
      waiter_.cv_.notify_all();
      waiter_.cv_.wait(lock, [this] { return release_; });
      lock.unlock();
      w->respond(200, {}, "unblocked");
    } else if (req.path == "/inline/hello") {
      w->respond(200, {}, "inline " + req.client_cert_cn);
    } else if (req.path == "/inline/throw") {
      throw std::runtime_error("boom inline");
    } else if (req.path == "/inline/drop") {
      // returns without answering, on the event loop
    } else if (req.path == "/throw") {
      throw std::runtime_error("boom");
    } else if (req.path == "/drop") {
      // returns without answering: the server must still answer
    } else {
      w->respond(404, {}, "not found");
    }
  }

  size_t streamCount() {
    std::lock_guard<std::mutex> lock(waiter_.mu_);
    return streams_.size();
  }

  // Starts the server and opens one /stream through `*c`: the head has arrived and `*w` is the
  // handler's writer.
  void openStream(std::unique_ptr<TestClient>* c, std::shared_ptr<ResponseWriter>* w,
                  int recv_buffer = 0) {
    start();
    *c = connect("", "", recv_buffer);
    ASSERT_TRUE(*c);
    ASSERT_TRUE((*c)->send("GET /stream HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE((*c)->readHead());
    ASSERT_TRUE(waiter_.waitFor([&] { return streams_.size() == 1; }));
    *w = streams_[0];
  }

  std::string dir_;
  PkiFiles pki_;
  std::unique_ptr<Server> server_;
  Waiter waiter_;
  std::vector<std::shared_ptr<ResponseWriter>> streams_;
  std::vector<std::shared_ptr<UpgradedConnection>> upgraded_;
  std::atomic<int> closes_{0};
  bool blocked_ = false;  // guarded by waiter_.mu_
  bool release_ = false;  // guarded by waiter_.mu_
};

TEST_F(ServerTest, PlainRequestResponse) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello?name=a+b%21 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello a b!");
  EXPECT_EQ(r->header("content-length"), "10");
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_FALSE(r->header("date").empty());
}

TEST_F(ServerTest, AlpnPicksHttp11WhenOffered) {
  start();
  ClientOptions o;
  o.ca_file = pki_.ca_cert;
  o.alpn = "h2,http/1.1";
  auto c = TestClient::connect(server_->port(), o);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->alpnSelected(), "http/1.1");
  o.alpn = "h2";
  auto c2 = TestClient::connect(server_->port(), o);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->alpnSelected(), "");
}

TEST_F(ServerTest, KeepAliveReusesOneConnection) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  std::string remote;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c->send("GET /hello?name=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c->readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello " + std::to_string(i));
    if (i == 0) remote = r->header("x-remote");
    EXPECT_EQ(r->header("x-remote"), remote);
  }
  EXPECT_EQ(server_->openConnections(), 1u);
}

// Connections are dealt to the event loops in turn, whichever loop accepted them: watches
// opened in a burst would otherwise pile onto the loop that happened to wake first.
TEST_F(ServerTest, ConnectionsAreSpreadEvenlyOverTheLoops) {
  Options o = defaultOptions();
  o.io_threads = 3;
  start(o, false);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 9; ++i) {
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send("GET /hello?name=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c->readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello " + std::to_string(i));  // a handed-over connection still serves
    clients.push_back(std::move(c));
  }
  EXPECT_EQ(server_->openConnections(), 9u);
  EXPECT_EQ(server_->connectionsPerLoop(), (std::vector<size_t>{3, 3, 3}));
  clients.clear();
  EXPECT_TRUE(eventually([&] {
    return server_->connectionsPerLoop() == std::vector<size_t>{0, 0, 0};
  }));
}

TEST_F(ServerTest, PipelinedRequestsAnswerInOrder) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  std::string batch;
  for (int i = 0; i < 10; ++i) batch += "GET /hello?name=" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(c->send(batch));
  for (int i = 0; i < 10; ++i) {
    auto r = c->readResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "hello " + std::to_string(i));
  }
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, QueryAndRepeatedHeaders) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /params?v=1&v=a%2Cb&v=x+y HTTP/1.1\r\nX-Multi: a\r\nx-multi: b\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "1|a,b|x y#a, b");
}

TEST_F(ServerTest, ClientCertificateIdentity) {
  start();
  auto cert = issueClientCert(pki_, "alice", {"dev", "system:masters"});
  ASSERT_TRUE(cert.isOk()) << cert.status().toString();
  auto c = connect(cert->first, cert->second);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /whoami HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "alice|dev,system:masters");
}

TEST_F(ServerTest, AdminCertificateFromPki) {
  start();
  auto cert = readFile(pki_.admin_cert);
  auto key = readFile(pki_.admin_key);
  ASSERT_TRUE(cert.isOk() && key.isOk());
  auto c = connect(*cert, *key);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /whoami HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "admin|system:masters");
}

TEST_F(ServerTest, NoClientCertificateMeansNoIdentity) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /whoami HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "|");
}

TEST_F(ServerTest, CertificateFromAnotherCaIsRejected) {
  start();
  auto other = ensurePki(dir_ + "/other", {});
  ASSERT_TRUE(other.isOk());
  auto cert = issueClientCert(*other, "mallory", {"system:masters"});
  ASSERT_TRUE(cert.isOk());
  ClientOptions o;
  o.ca_file = pki_.ca_cert;
  o.cert_pem = cert->first;
  o.key_pem = cert->second;
  auto c = TestClient::connect(server_->port(), o);
  // TLS 1.3 reports the rejection after the handshake: the first request fails.
  if (c) {
    c->send("GET /whoami HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(c->readResponse(Millis(3000)));
  }
}

TEST_F(ServerTest, StreamChunksFromAnotherThreadArriveInOrder) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /stream HTTP/1.1\r\n\r\n"));
  auto head = c->readHead();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("transfer-encoding"), "chunked");
  ASSERT_TRUE(waiter_.waitFor([&] { return streams_.size() == 1; }));
  auto w = streams_[0];
  std::thread producer([w] {
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(w->writeChunk("event-" + std::to_string(i) + "\n"));
  });
  for (int i = 0; i < 200; ++i) {
    auto chunk = c->readChunk();
    ASSERT_TRUE(chunk) << i;
    EXPECT_EQ(*chunk, "event-" + std::to_string(i) + "\n");
  }
  producer.join();
  // Each chunk is flushed promptly: a single chunk arrives without any further writes.
  ASSERT_TRUE(w->writeChunk("last"));
  auto last = c->readChunk(Millis(2000));
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, "last");
  w->endStream();
  auto end = c->readChunk();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, "");
  EXPECT_FALSE(w->writeChunk("after end"));
  // The connection is reusable after the stream ended.
  ASSERT_TRUE(c->send("GET /hello?name=again HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello again");
}

TEST_F(ServerTest, SharedChunkStreamWhoseClientDoesNotReadIsCutOff) {
  std::unique_ptr<TestClient> c;
  std::shared_ptr<ResponseWriter> w;
  ASSERT_NO_FATAL_FAILURE(openStream(&c, &w));
  // The client reads nothing more. Well before the 64 MiB any stream may queue, a stream of
  // shared chunks (a watch) is closed, and its writer sees it.
  auto chunk = std::make_shared<const std::string>(frameChunk(std::string(64 * 1024, 'x')));
  int written = 0;
  while (written < 640 && w->writeSharedChunk(chunk)) {  // 640 x 64 KiB = 40 MiB
    ++written;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_LT(written, 640);
  ASSERT_TRUE(waiter_.waitFor([&] { return closes_.load() == 1; }));
  EXPECT_TRUE(w->closed());
}

TEST_F(ServerTest, SharedChunksFillingTheSocketArriveWholeAndInOrder) {
  // A small receive window, so that the socket takes only part of what is written below.
  std::unique_ptr<TestClient> c;
  std::shared_ptr<ResponseWriter> w;
  ASSERT_NO_FATAL_FAILURE(openStream(&c, &w, 16 * 1024));
  // 6 MiB of shared chunks, each filled with its own letter, written before the client reads:
  // records beyond what the socket takes wait in the connection and go out behind the ones
  // sent at once, in order (under the backlog at which a shared stream is cut off).
  constexpr int kChunks = 192;
  constexpr size_t kSize = 32 * 1024;
  for (int i = 0; i < kChunks; ++i) {
    auto chunk = std::make_shared<const std::string>(
        frameChunk(std::string(kSize, static_cast<char>('a' + i % 26))));
    ASSERT_TRUE(w->writeSharedChunk(chunk)) << i;
    if (i == 0) {
      ASSERT_TRUE(w->writeChunk("own"));  // a chunk of its own between shared ones
    }
  }
  ASSERT_TRUE(w->writeChunk("tail"));
  for (int i = 0; i < kChunks; ++i) {
    auto chunk = c->readChunk(Millis(20000));
    ASSERT_TRUE(chunk) << i;
    ASSERT_EQ(*chunk, std::string(kSize, static_cast<char>('a' + i % 26))) << i;
    if (i == 0) {
      auto own = c->readChunk();
      ASSERT_TRUE(own);
      ASSERT_EQ(*own, "own");
    }
  }
  auto tail = c->readChunk();
  ASSERT_TRUE(tail);
  EXPECT_EQ(*tail, "tail");
  EXPECT_FALSE(w->closed());
}

TEST(ChunkFraming, FrameChunkAndChunkDataRoundTrip) {
  EXPECT_EQ(frameChunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(frameChunk(std::string(26, 'z')).substr(0, 4), "1a\r\n");
  EXPECT_EQ(frameChunk(""), "");  // an empty chunk would end the body
  for (std::string d :
       {std::string("a"), std::string("line\r\nwith crlf\r\n"), std::string(70000, 'q')})
    EXPECT_EQ(chunkData(frameChunk(d)), d);
  EXPECT_EQ(chunkData("garbage"), "");
}

TEST_F(ServerTest, ClientDisconnectFiresOnClose) {
  std::unique_ptr<TestClient> c;
  std::shared_ptr<ResponseWriter> w;
  ASSERT_NO_FATAL_FAILURE(openStream(&c, &w));
  EXPECT_FALSE(w->closed());
  EXPECT_EQ(closes_.load(), 0);
  c->close();
  ASSERT_TRUE(waiter_.waitFor([&] { return closes_.load() == 1; }));
  EXPECT_TRUE(w->closed());
  EXPECT_FALSE(w->writeChunk("nobody listens"));
  EXPECT_TRUE(eventually([&] { return server_->openConnections() == 0; }));
}

TEST_F(ServerTest, SetOnCloseAfterCloseStillFires) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /stream HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(waiter_.waitFor([&] { return streams_.size() == 1; }));
  c->close();
  ASSERT_TRUE(waiter_.waitFor([&] { return closes_.load() == 1; }));
  std::atomic<bool> late{false};
  streams_[0]->setOnClose([&] {
    late = true;
    waiter_.notify();
  });
  EXPECT_TRUE(waiter_.waitFor([&] { return late.load(); }));
}

TEST_F(ServerTest, StopClosesOpenStreams) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /stream HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(waiter_.waitFor([&] { return streams_.size() == 1; }));
  server_->stop();
  EXPECT_EQ(closes_.load(), 1);
  EXPECT_TRUE(streams_[0]->closed());
  EXPECT_FALSE(streams_[0]->writeChunk("x"));
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, TwoHundredStreamsDoNotHoldWorkerThreads) {
  start();  // worker_threads = 4
  constexpr int kStreams = 200;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kStreams; ++i) {
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send("GET /stream HTTP/1.1\r\n\r\n"));
    clients.push_back(std::move(c));
  }
  ASSERT_TRUE(waiter_.waitFor([&] { return streams_.size() == kStreams; }))
      << "only " << streamCount() << " streams reached the handler";
  {
    std::lock_guard<std::mutex> lock(waiter_.mu_);
    for (auto& w : streams_) ASSERT_TRUE(w->writeChunk("broadcast"));
  }
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(clients[i]->readHead()) << i;
    auto chunk = clients[i]->readChunk();
    ASSERT_TRUE(chunk) << i;
    EXPECT_EQ(*chunk, "broadcast");
  }
  // A plain request still gets a worker while all 200 streams stay open.
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, UpgradeHandsOverRawBytesBothWays) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  // Bytes that follow the request in the same write belong to the upgraded stream.
  ASSERT_TRUE(c->send(
      "GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly-bytes"));
  auto head = c->readHead();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 101);
  EXPECT_EQ(head->header("upgrade"), "echo");
  auto early = c->readBytes(11);
  ASSERT_TRUE(early);
  EXPECT_EQ(*early, "early-bytes");
  std::string binary("\x00\x01\xff\r\n\r\nGET / HTTP/1.1\r\n\r\n", 24);
  ASSERT_TRUE(c->send(binary));
  auto echoed = c->readBytes(binary.size());
  ASSERT_TRUE(echoed);
  EXPECT_EQ(*echoed, binary);
  // A server-initiated write from this thread.
  ASSERT_TRUE(waiter_.waitFor([&] { return upgraded_.size() == 1; }));
  ASSERT_TRUE(upgraded_[0]->write("from-server"));
  auto pushed = c->readBytes(11);
  ASSERT_TRUE(pushed);
  EXPECT_EQ(*pushed, "from-server");
  c->close();
  ASSERT_TRUE(waiter_.waitFor([&] { return closes_.load() == 1; }));
  EXPECT_TRUE(upgraded_[0]->closed());
  EXPECT_FALSE(upgraded_[0]->write("gone"));
}

TEST_F(ServerTest, WebSocketEchoOverTls) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"));
  auto head = c->readHead();
  ASSERT_TRUE(head);
  ASSERT_EQ(head->status, 101);
  EXPECT_EQ(head->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // A fragmented message with a ping in between, sent in one write.
  ASSERT_TRUE(c->send(ws::encodeFrame(ws::Opcode::kBinary, "\x01std", false, true, 0x11223344) +
                      ws::encodeFrame(ws::Opcode::kPing, "hb", true, true, 0x55667788) +
                      ws::encodeFrame(ws::Opcode::kContinuation, "in", true, true, 0x99aabbcc)));
  ws::FrameDecoder client_side(/*require_masked=*/false);
  std::vector<ws::Message> got;
  while (got.size() < 2) {
    auto bytes = c->readBytes(1);
    ASSERT_TRUE(bytes);
    ASSERT_TRUE(client_side.feed(*bytes, &got));
  }
  EXPECT_EQ(got[0].opcode, ws::Opcode::kPong);
  EXPECT_EQ(got[0].payload, "hb");
  EXPECT_EQ(got[1].opcode, ws::Opcode::kBinary);
  EXPECT_EQ(got[1].payload, "echo:\x01stdin");
  ASSERT_TRUE(c->send(ws::encodeFrame(ws::Opcode::kClose, std::string("\x03\xe8", 2), true, true, 1)));
  got.clear();
  while (got.empty()) {
    auto bytes = c->readBytes(1);
    ASSERT_TRUE(bytes);
    ASSERT_TRUE(client_side.feed(*bytes, &got));
  }
  EXPECT_EQ(got[0].opcode, ws::Opcode::kClose);
  EXPECT_EQ(got[0].closeCode(), 1000);
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, UpgradedConnectionServerClose) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"));
  ASSERT_TRUE(c->readHead());
  ASSERT_TRUE(waiter_.waitFor([&] { return upgraded_.size() == 1; }));
  upgraded_[0]->write("bye");
  upgraded_[0]->close();
  auto bye = c->readBytes(3);
  ASSERT_TRUE(bye);
  EXPECT_EQ(*bye, "bye");
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, BodiesAndLimits) {
  Options o = defaultOptions();
  o.max_body_bytes = 1024;
  start(o, false);
  auto c = connect();
  ASSERT_TRUE(c);
  std::string small(1000, 'a');
  ASSERT_TRUE(c->send("POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + small));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-too-large"), "false");
  EXPECT_EQ(r->body, small);

  std::string big(5000, 'b');
  ASSERT_TRUE(c->send("POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + big));
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-too-large"), "true");
  EXPECT_EQ(r->body, "");

  // Chunked: small, then over the limit; the connection stays in sync throughout.
  ASSERT_TRUE(c->send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"));
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello world");
  std::string chunked = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) chunked += "200\r\n" + std::string(512, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  ASSERT_TRUE(c->send(chunked));
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-too-large"), "true");
  ASSERT_TRUE(c->send("GET /hello?name=still HTTP/1.1\r\n\r\n"));
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello still");
}

TEST_F(ServerTest, LargeBodiesBothWaysOverTls) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  // Larger than the socket buffers: the server must wait for EPOLLOUT and retry SSL_write.
  constexpr size_t kBig = 8 * 1024 * 1024;
  ASSERT_TRUE(c->send("GET /big?n=" + std::to_string(kBig) + " HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse(Millis(20000));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->body.size(), kBig);
  for (size_t i = 0; i < kBig; i += 4096) {
    ASSERT_EQ(r->body[i], static_cast<char>('a' + (i / 4096) % 26)) << i;
  }
  std::string upload(2 * 1024 * 1024, 'u');
  ASSERT_TRUE(c->send("POST /echo HTTP/1.1\r\nContent-Length: " + std::to_string(upload.size()) +
                      "\r\n\r\n" + upload));
  r = c->readResponse(Millis(20000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-too-large"), "false");
  EXPECT_EQ(r->body, upload);
}

TEST_F(ServerTest, PipelinedLargeAndSmallResponsesKeepTheirOrderOverTls) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  // Large bodies are queued as their own output segments, small ones join the last segment:
  // the bytes must still leave in request order.
  constexpr size_t kBig = 3 * 1024 * 1024 + 17;
  std::string reqs;
  for (int i = 0; i < 3; ++i) {
    reqs += "GET /big?n=" + std::to_string(kBig + i) + " HTTP/1.1\r\n\r\n";
    reqs += "GET /hello?name=n" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  }
  ASSERT_TRUE(c->send(reqs));
  for (int i = 0; i < 3; ++i) {
    auto r = c->readResponse(Millis(20000));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->body.size(), kBig + i);
    for (size_t at = 0; at < r->body.size(); at += 4096)
      ASSERT_EQ(r->body[at], static_cast<char>('a' + (at / 4096) % 26)) << at;
    EXPECT_EQ(r->body.back(), 'z');
    r = c->readResponse(Millis(20000));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello n" + std::to_string(i));
  }
}

TEST_F(ServerTest, StreamedBodyIsProducedAsTheSocketDrainsThenTheConnectionIsReused) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  // 40 pieces of 300 KiB (12 MB: more than the socket buffers and several low-water refills),
  // an empty streamed body, and pipelined requests behind them, answered in order.
  constexpr size_t kPiece = 300 * 1024;
  ASSERT_TRUE(c->send("GET /streamed?n=40&size=" + std::to_string(kPiece) + " HTTP/1.1\r\n\r\n"
                      "GET /hello?name=after HTTP/1.1\r\n\r\n"
                      "GET /streamed?n=0&size=1 HTTP/1.1\r\n\r\n"
                      "GET /hello?name=last HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse(Millis(20000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("transfer-encoding"), "chunked");
  EXPECT_EQ(r->header("content-length"), "");
  ASSERT_EQ(r->body.size(), 40 * kPiece);
  for (size_t i = 0; i < 40; ++i) {
    ASSERT_EQ(r->body[i * kPiece], static_cast<char>('a' + i % 26)) << i;
    ASSERT_EQ(r->body[(i + 1) * kPiece - 1], static_cast<char>('a' + i % 26)) << i;
  }
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello after");
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello last");
}

TEST_F(ServerTest, ExpectContinue) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("PUT /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto cont = c->readHead();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c->send("data"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "data");
}

TEST_F(ServerTest, MalformedRequestLineGets400AndClose) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("THIS IS NOT HTTP\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  Options o = defaultOptions();
  o.max_header_bytes = 4096;
  start(o, false);
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nX-Big: " + std::string(8000, 'x') + "\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(ServerTest, HandlerThatThrowsOrDropsTheWriterStillAnswers) {
  start();
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /throw HTTP/1.1\r\n\r\nGET /drop HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST_F(ServerTest, InlineRequestsAreAnsweredWhileEveryWorkerIsBusy) {
  Options o = defaultOptions();
  o.worker_threads = 1;
  o.run_inline = [](const Request& req) { return startsWith(req.path, "/inline/"); };
  start(o, false);
  auto blocker = connect();
  ASSERT_TRUE(blocker);
  ASSERT_TRUE(blocker->send("GET /block HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(waiter_.waitFor([this] { return blocked_; }));
  // The only worker is held: these are answered on the event loop, in order, including a
  // handler that throws and one that drops its writer.
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /inline/hello HTTP/1.1\r\n\r\nGET /inline/throw HTTP/1.1\r\n\r\n"
                      "GET /inline/drop HTTP/1.1\r\n\r\nGET /inline/hello HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "inline ");
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "inline ");
  {
    std::lock_guard<std::mutex> lock(waiter_.mu_);
    release_ = true;
  }
  waiter_.notify();
  r = blocker->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "unblocked");
  // A request the predicate refuses still goes to the (now free) pool.
  ASSERT_TRUE(c->send("GET /hello?name=pool HTTP/1.1\r\n\r\n"));
  r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello pool");
}

TEST_F(ServerTest, GarbageDoesNotCrashTheServer) {
  start();
  std::mt19937 rng(42);
  for (int i = 0; i < 50; ++i) {
    int fd = testing::rawConnect(server_->port());
    ASSERT_GE(fd, 0);
    std::string junk(1 + rng() % 4000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 5 == 0) junk[0] = 0x16;  // looks like a TLS handshake record, then nonsense
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    if (i % 2) ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
  // Garbage inside a valid TLS session.
  for (int i = 0; i < 20; ++i) {
    auto c = connect();
    ASSERT_TRUE(c);
    std::string junk(1 + rng() % 3000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    junk += "\r\n\r\n";
    c->send(junk);
    auto r = c->readResponse(Millis(3000));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello?name=ok HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello ok");
}

TEST_F(ServerTest, PlainHttpGarbageGets400) {
  Options o = defaultOptions();
  o.tls = false;
  start(o, false);
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    ClientOptions co;
    co.tls = false;
    auto c = TestClient::connect(server_->port(), co);
    ASSERT_TRUE(c);
    std::string junk(1 + rng() % 2000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    junk += "\r\n\r\n";
    c->send(junk);
    auto r = c->readResponse(Millis(3000));
    if (r) {
      EXPECT_GE(r->status, 400);
    }
  }
  ClientOptions co;
  co.tls = false;
  auto c = TestClient::connect(server_->port(), co);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello?name=plain HTTP/1.1\r\n\r\n"));
  auto r = c->readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello plain");
}

TEST_F(ServerTest, RapidConnectsAndDisconnectsLeaveNoConnections) {
  start();
  for (int i = 0; i < 1000; ++i) {
    int fd = testing::rawConnect(server_->port());
    ASSERT_GE(fd, 0) << i;
    if (i % 3 == 0) ::send(fd, "\x16\x03\x01", 3, MSG_NOSIGNAL);  // a TLS record header, cut short
    ::close(fd);
  }
  for (int i = 0; i < 20; ++i) {
    auto c = connect();
    ASSERT_TRUE(c);
    if (i % 2) c->send("GET /hello HTTP/1.1\r\n");  // half a request
  }
  EXPECT_TRUE(eventually([&] { return server_->openConnections() == 0; }))
      << server_->openConnections() << " connections still open";
}

TEST_F(ServerTest, IdleKeepAliveConnectionsAreClosed) {
  Options o = defaultOptions();
  o.idle_timeout_seconds = 1;
  start(o, false);
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(c->readResponse());
  EXPECT_TRUE(c->waitClosed(Millis(5000)));
  EXPECT_TRUE(eventually([&] { return server_->openConnections() == 0; }));
}

}  // namespace
}  // namespace berth::http
