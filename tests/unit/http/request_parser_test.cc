#include "apiserver/http/request_parser.h"

#include <gtest/gtest.h>

#include <random>

namespace berth::http {
namespace {

using State = RequestParser::State;

// Feeds `text` in pieces of `step` bytes, the way a socket might deliver it.
State feed(RequestParser& p, const std::string& text, size_t step, size_t* left = nullptr) {
  std::string buf;
  State s = State::kNeedMore;
  for (size_t i = 0; i < text.size(); i += step) {
    buf += text.substr(i, step);
    size_t used = 0;
    s = p.parse(buf, &used);
    buf.erase(0, used);
    if (s != State::kNeedMore) break;
  }
  if (left) *left = buf.size();
  return s;
}

TEST(RequestParserTest, ParsesRequestLineHeadersAndQueryInAnyPieces) {
  const std::string text =
      "GET /api/v1/name%20spaces?labelSelector=app%3Dweb&x=a+b&x=c HTTP/1.1\r\n"
      "Host: localhost\r\nAccept: a\r\nACCEPT: b\r\nX-Empty:\r\n\r\n";
  for (size_t step : {1, 2, 7, 1000}) {
    RequestParser p(1 << 20, 1 << 20);
    ASSERT_EQ(feed(p, text, step), State::kDone) << step;
    Request& r = p.request();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, "/api/v1/name spaces");
    EXPECT_EQ(r.raw_query, "labelSelector=app%3Dweb&x=a+b&x=c");
    EXPECT_EQ(r.param("labelSelector"), "app=web");
    EXPECT_EQ(r.params("x"), (std::vector<std::string>{"a b", "c"}));
    EXPECT_TRUE(r.hasParam("x"));
    EXPECT_FALSE(r.hasParam("y"));
    EXPECT_EQ(r.header("accept"), "a, b");
    EXPECT_EQ(r.header("host"), "localhost");
    EXPECT_TRUE(r.headers.count("x-empty"));
    EXPECT_TRUE(p.keepAlive());
  }
}

TEST(RequestParserTest, ContentLengthAndChunkedBodies) {
  RequestParser p(1 << 20, 1 << 20);
  size_t left = 0;
  ASSERT_EQ(feed(p, "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 3, &left),
            State::kDone);
  EXPECT_EQ(p.request().body, "hello");
  p.reset();
  ASSERT_EQ(feed(p, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\nA;name=v\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", 1),
            State::kDone);
  EXPECT_EQ(p.request().body, "abc0123456789");
}

TEST(RequestParserTest, OversizedBodiesAreCountedNotStored) {
  RequestParser p(1 << 20, 10);
  ASSERT_EQ(feed(p, "POST /x HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789", 4),
            State::kDone);
  EXPECT_TRUE(p.request().body_too_large);
  EXPECT_TRUE(p.request().body.empty());
  p.reset();
  ASSERT_EQ(feed(p, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n", 5),
            State::kDone);
  EXPECT_TRUE(p.request().body_too_large);
  EXPECT_TRUE(p.request().body.empty());
}

TEST(RequestParserTest, KeepAliveRules) {
  RequestParser p(1 << 20, 1 << 20);
  ASSERT_EQ(feed(p, "GET / HTTP/1.0\r\n\r\n", 100), State::kDone);
  EXPECT_FALSE(p.keepAlive());
  p.reset();
  ASSERT_EQ(feed(p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 100), State::kDone);
  EXPECT_TRUE(p.keepAlive());
  p.reset();
  ASSERT_EQ(feed(p, "GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", 100), State::kDone);
  EXPECT_FALSE(p.keepAlive());
}

TEST(RequestParserTest, ExpectContinueIsReportedUntilTheBodyStarts) {
  RequestParser p(1 << 20, 1 << 20);
  std::string head = "PUT /x HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(head, &used), State::kNeedMore);
  EXPECT_EQ(used, head.size());
  EXPECT_TRUE(p.wantsContinue());
  p.continueSent();
  EXPECT_FALSE(p.wantsContinue());
  ASSERT_EQ(p.parse("ok", &used), State::kDone);
  EXPECT_EQ(p.request().body, "ok");
}

TEST(RequestParserTest, RejectsMalformedInput) {
  struct Case {
    std::string text;
    int status;
  };
  std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 400},
      {"GE T / HTTP/1.1\r\n\r\n", 400},
      {"GET /a b HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: " + std::string(2000, 'x') + "\r\n\r\n", 431},
      {"GET /" + std::string(2000, 'x'), 431},
  };
  for (const auto& c : cases) {
    RequestParser p(1024, 1 << 20);
    EXPECT_EQ(feed(p, c.text, 1000), State::kError) << c.text.substr(0, 60);
    EXPECT_EQ(p.errorStatus(), c.status) << c.text.substr(0, 60);
  }
}

TEST(RequestParserTest, AbsoluteFormTargetKeepsThePath) {
  RequestParser p(1 << 20, 1 << 20);
  ASSERT_EQ(feed(p, "GET http://example.com/api?x=1 HTTP/1.1\r\n\r\n", 100), State::kDone);
  EXPECT_EQ(p.request().path, "/api");
  EXPECT_EQ(p.request().param("x"), "1");
}

TEST(RequestParserTest, RandomInputNeverCrashes) {
  std::mt19937 rng(1);
  const std::string alphabet = "GETPOST /?&=%:\r\n0123456789abcdefHTTP/1.1 chunked-Length";
  for (int i = 0; i < 5000; ++i) {
    RequestParser p(512, 512);
    std::string text;
    size_t n = rng() % 300;
    for (size_t j = 0; j < n; ++j) {
      text += (rng() % 4 == 0) ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    }
    feed(p, text, 1 + rng() % 50);
  }
}

}  // namespace
}  // namespace berth::http
