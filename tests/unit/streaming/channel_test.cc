#include "apiserver/streaming/channel.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "apiserver/http/websocket.h"
#include "apiserver/streaming/tls_client.h"

namespace berth::streaming {
namespace {

using json = nlohmann::json;

TEST(Channel, NegotiatePrefersTheServersOrder) {
  std::vector<std::string_view> ours = {channel::kV5, channel::kV4};
  EXPECT_EQ(channel::negotiate("v5.channel.k8s.io", ours), "v5.channel.k8s.io");
  EXPECT_EQ(channel::negotiate("v4.channel.k8s.io, v5.channel.k8s.io", ours), "v5.channel.k8s.io");
  EXPECT_EQ(channel::negotiate("v4.channel.k8s.io,channel.k8s.io", ours), "v4.channel.k8s.io");
  EXPECT_EQ(channel::negotiate("channel.k8s.io", ours), "");
  EXPECT_EQ(channel::negotiate("", ours), "");
}

TEST(Channel, FramesCarryTheStreamIdFirst) {
  http::ws::FrameDecoder dec(false);
  std::vector<http::ws::Message> msgs;
  ASSERT_TRUE(dec.feed(channel::frame(channel::kStderr, "oops"), &msgs));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].opcode, http::ws::Opcode::kBinary);
  EXPECT_EQ(msgs[0].payload, std::string("\x02oops", 5));
}

TEST(Channel, ExitStatusIsWhatKubectlReadsTheExitCodeFrom) {
  json ok = json::parse(channel::exitStatus(0));
  EXPECT_EQ(ok["status"], "Success");
  json failed = json::parse(channel::exitStatus(3));
  EXPECT_EQ(failed["status"], "Failure");
  EXPECT_EQ(failed["reason"], "NonZeroExitCode");
  EXPECT_EQ(failed["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(failed["details"]["causes"][0]["message"], "3");
  json err = json::parse(channel::failureStatus("no such container"));
  EXPECT_EQ(err["status"], "Failure");
  EXPECT_EQ(err["message"], "no such container");
}

TEST(Channel, ParseResize) {
  channel::TerminalSize s;
  ASSERT_TRUE(channel::parseResize(R"({"Width":120,"Height":40})", &s));
  EXPECT_EQ(s.width, 120);
  EXPECT_EQ(s.height, 40);
  EXPECT_FALSE(channel::parseResize(R"({"Width":-1,"Height":40})", &s));
  EXPECT_FALSE(channel::parseResize(R"({"Width":70000,"Height":40})", &s));
  EXPECT_FALSE(channel::parseResize("not json", &s));
  EXPECT_FALSE(channel::parseResize(R"({"Height":40})", &s));
}

TEST(ChunkedDecoder, DecodesAcrossArbitrarySplits) {
  std::string body = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
  for (size_t split = 0; split <= body.size(); ++split) {
    ChunkedDecoder d;
    std::string out;
    ASSERT_TRUE(d.feed(body.substr(0, split), &out));
    ASSERT_TRUE(d.feed(body.substr(split), &out));
    EXPECT_EQ(out, "hello, world");
    EXPECT_TRUE(d.done());
  }
  ChunkedDecoder bad;
  std::string out;
  EXPECT_FALSE(bad.feed("zz\r\n", &out));
}

}  // namespace
}  // namespace berth::streaming
