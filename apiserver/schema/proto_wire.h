// Protocol buffer wire encoding: the few writers Berth's encoders share (the Kubernetes
// protobuf envelope, the OpenAPI v2 document). Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::apiserver::schema::wire {

enum Type { kVarint = 0, kFixed64 = 1, kLength = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

inline void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline void putTag(std::string& out, int number, int type) {  // type: a wire::Type
  putVarint(out, (static_cast<uint64_t>(number) << 3) | static_cast<uint64_t>(type));
}

// A length-delimited field: a string, bytes or an embedded message already encoded.
inline void putBytes(std::string& out, int number, std::string_view data) {
  putTag(out, number, kLength);
  putVarint(out, data.size());
  out.append(data);
}

}  // namespace berth::apiserver::schema::wire
