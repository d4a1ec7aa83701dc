#include "apiserver/http/websocket.h"

#include <gtest/gtest.h>

#include <random>

namespace berth::http::ws {
namespace {

TEST(WebSocketTest, AcceptKeyMatchesRfc6455Sample) {
  EXPECT_EQ(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, ServerFrameHeaders) {
  EXPECT_EQ(encodeFrame(Opcode::kText, "Hello"), std::string("\x81\x05Hello", 7));
  std::string mid = encodeFrame(Opcode::kBinary, std::string(256, 'x'));
  EXPECT_EQ(mid.substr(0, 4), std::string("\x82\x7e\x01\x00", 4));
  std::string big = encodeFrame(Opcode::kBinary, std::string(65536, 'x'));
  EXPECT_EQ(big.substr(0, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  // RFC 6455 5.7: a masked "Hello" from a client.
  EXPECT_EQ(encodeFrame(Opcode::kText, "Hello", true, true, 0x37fa213d),
            std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
}

TEST(WebSocketTest, RoundTripsAllLengthClassesByteByByteAndWhole) {
  std::mt19937 rng(3);
  for (size_t len : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
    std::string payload(len, '\0');
    for (auto& c : payload) c = static_cast<char>(rng());
    std::string frame = encodeFrame(Opcode::kBinary, payload, true, true, rng());
    for (size_t step : {size_t{1}, size_t{7}, frame.size()}) {
      if (step == 1 && len > 1000) continue;
      FrameDecoder d;
      std::vector<Message> out;
      for (size_t i = 0; i < frame.size(); i += step) {
        ASSERT_TRUE(d.feed(std::string_view(frame).substr(i, step), &out)) << d.error();
      }
      ASSERT_EQ(out.size(), 1u) << len;
      EXPECT_EQ(out[0].opcode, Opcode::kBinary);
      EXPECT_EQ(out[0].payload, payload);
    }
  }
}

TEST(WebSocketTest, ReassemblesFragmentsAroundControlFrames) {
  std::string stream = encodeFrame(Opcode::kText, "Hel", false, true, 1) +
                       encodeFrame(Opcode::kPing, "p", true, true, 2) +
                       encodeFrame(Opcode::kContinuation, "lo", false, true, 3) +
                       encodeFrame(Opcode::kContinuation, "!", true, true, 4) +
                       encodeFrame(Opcode::kClose, std::string("\x03\xe8ok", 4), true, true, 5);
  FrameDecoder d;
  std::vector<Message> out;
  ASSERT_TRUE(d.feed(stream, &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].opcode, Opcode::kPing);
  EXPECT_EQ(out[0].payload, "p");
  EXPECT_EQ(out[1].opcode, Opcode::kText);
  EXPECT_EQ(out[1].payload, "Hello!");
  EXPECT_EQ(out[2].opcode, Opcode::kClose);
  EXPECT_EQ(out[2].closeCode(), 1000);
}

TEST(WebSocketTest, CloseFrameEncoding) {
  FrameDecoder d(false);
  std::vector<Message> out;
  ASSERT_TRUE(d.feed(encodeClose(1001, "going away"), &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].closeCode(), 1001);
  EXPECT_EQ(out[0].payload.substr(2), "going away");
  Message empty{Opcode::kClose, ""};
  EXPECT_EQ(empty.closeCode(), 1005);
}

TEST(WebSocketTest, ProtocolViolations) {
  struct Case {
    std::string bytes;
    uint16_t code;
  };
  std::vector<Case> cases = {
      {encodeFrame(Opcode::kText, "x"), 1002},                          // unmasked client frame
      {encodeFrame(Opcode::kPing, std::string(126, 'x'), true, true, 1), 1002},  // long control
      {encodeFrame(Opcode::kPing, "x", false, true, 1), 1002},          // fragmented control
      {encodeFrame(Opcode::kContinuation, "x", true, true, 1), 1002},   // nothing to continue
      {encodeFrame(Opcode::kText, "a", false, true, 1) + encodeFrame(Opcode::kText, "b", true, true, 1),
       1002},                                                            // interleaved data
      {std::string("\x83\x80\0\0\0\0", 6), 1002},                      // unknown opcode
      {std::string("\xc1\x80\0\0\0\0", 6), 1002},                      // RSV1 without extension
      {encodeFrame(Opcode::kBinary, std::string(2000, 'x'), true, true, 1), 1009},  // too big
  };
  for (const auto& c : cases) {
    FrameDecoder d(true, 1024);
    std::vector<Message> out;
    EXPECT_FALSE(d.feed(c.bytes, &out));
    EXPECT_TRUE(d.failed());
    EXPECT_EQ(d.errorCloseCode(), c.code) << d.error();
    EXPECT_FALSE(d.feed("more", &out));
  }
}

}  // namespace
}  // namespace berth::http::ws
