#include "apiserver/streaming/spdy.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace berth::streaming::spdy {
namespace {

std::vector<Frame> decodeAll(Decoder& d, const std::string& bytes, bool byte_by_byte) {
  std::vector<Frame> out;
  if (byte_by_byte) {
    for (char c : bytes) EXPECT_TRUE(d.feed(std::string_view(&c, 1), &out)) << d.error();
  } else {
    EXPECT_TRUE(d.feed(bytes, &out)) << d.error();
  }
  return out;
}

TEST(SpdyDictionary, MatchesTheSpecLengthAndChecksum) {
  // SPDY/3's dictionary is 1423 bytes; zlib names it in the stream header by its Adler-32
  // (0xe3c6a7c2, as SPDY/3 implementations know it), which is what a peer (kubectl's Go framer)
  // checks when it inflates our header blocks.
  const std::string& d = headerDictionary();
  EXPECT_EQ(d.size(), 1423u);
  uLong adler = adler32(adler32(0L, nullptr, 0), reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size()));
  EXPECT_EQ(adler, 0xE3C6A7C2u);
}

TEST(Spdy, HeaderBlocksRoundTripThroughOneCompressionContextPerDirection) {
  Encoder enc;
  Decoder dec;
  // One statement per frame: the compression context makes the order matter.
  std::string bytes = enc.synStream(1, {{"streamtype", "error"}, {"port", "8080"}, {"requestid", "0"}});
  bytes += enc.synStream(3, {{"streamtype", "data"}, {"port", "8080"}, {"requestid", "0"}});
  bytes += enc.synReply(1, {});
  bytes += enc.headers(3, {{"x", std::string("a\0b", 3)}}, kFlagFin);
  auto frames = decodeAll(dec, bytes, true);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type, FrameType::kSynStream);
  EXPECT_EQ(frames[0].stream_id, 1u);
  EXPECT_EQ(frames[0].header("streamtype"), "error");
  EXPECT_EQ(frames[1].header("streamtype"), "data");
  EXPECT_EQ(frames[1].header("port"), "8080");
  EXPECT_EQ(frames[1].stream_id, 3u);
  EXPECT_EQ(frames[2].type, FrameType::kSynReply);
  EXPECT_TRUE(frames[2].headers.empty());
  EXPECT_EQ(frames[3].type, FrameType::kHeaders);
  EXPECT_TRUE(frames[3].fin());
  EXPECT_EQ(frames[3].header("x"), "a");  // first of the NUL-separated values
}

TEST(Spdy, DataAndControlFramesRoundTrip) {
  Encoder enc;
  Decoder dec;
  std::string big(70000, 'z');
  std::string bytes = enc.data(5, "hello");
  bytes += enc.data(5, big, kFlagFin);
  bytes += enc.rstStream(7, kRstCancel);
  bytes += enc.ping(42);
  bytes += enc.goAway(9, 0);
  bytes += enc.windowUpdate(5, 1000);
  auto frames = decodeAll(dec, bytes, false);
  ASSERT_EQ(frames.size(), 6u);
  EXPECT_EQ(frames[0].type, FrameType::kData);
  EXPECT_EQ(frames[0].data, "hello");
  EXPECT_FALSE(frames[0].fin());
  EXPECT_EQ(frames[1].data, big);
  EXPECT_TRUE(frames[1].fin());
  EXPECT_EQ(frames[2].type, FrameType::kRstStream);
  EXPECT_EQ(frames[2].stream_id, 7u);
  EXPECT_EQ(frames[2].value, kRstCancel);
  EXPECT_EQ(frames[3].type, FrameType::kPing);
  EXPECT_EQ(frames[3].value, 42u);
  EXPECT_EQ(frames[4].type, FrameType::kGoAway);
  EXPECT_EQ(frames[4].stream_id, 9u);
  EXPECT_EQ(frames[5].type, FrameType::kWindowUpdate);
  EXPECT_EQ(frames[5].value, 1000u);
}

TEST(Spdy, WireFormatOfAControlFrame) {
  Encoder enc;
  // PING: 80 03 00 06 | flags 00, length 00 00 04 | id.
  EXPECT_EQ(enc.ping(1), std::string("\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", 12));
  // Data: stream id, flags FIN, length.
  EXPECT_EQ(enc.data(3, "ab", kFlagFin), std::string("\x00\x00\x00\x03\x01\x00\x00\x02" "ab", 10));
}

TEST(Spdy, UnknownControlFramesAreSkippedAndBadOnesFail) {
  Decoder dec;
  std::vector<Frame> out;
  // Type 0x0F, empty payload: ignored.
  EXPECT_TRUE(dec.feed(std::string("\x80\x03\x00\x0f\x00\x00\x00\x00", 8), &out));
  EXPECT_TRUE(out.empty());
  // SPDY/2 is refused.
  EXPECT_FALSE(dec.feed(std::string("\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", 12), &out));
  EXPECT_NE(dec.error().find("version"), std::string::npos);

  Decoder garbage;
  // A SYN_STREAM whose header block is not zlib data.
  std::string frame("\x80\x03\x00\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                    "junk", 22);
  EXPECT_FALSE(garbage.feed(frame, &out));
  EXPECT_TRUE(garbage.failed());
}

}  // namespace
}  // namespace berth::streaming::spdy
