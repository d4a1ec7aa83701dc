// Fuzzes decodeKubernetesProtobuf; whatever decodes must re-encode and decode to the same JSON.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "apiserver/schema/protobuf.h"

using berth::apiserver::schema::decodeKubernetesProtobuf;
using berth::apiserver::schema::encodeKubernetesProtobuf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto decoded = decodeKubernetesProtobuf(body);
  if (!decoded.isOk()) return 0;
  (void)decoded->dump();  // must not throw (strings are valid UTF-8)
  auto encoded = encodeKubernetesProtobuf(*decoded);
  if (!encoded.isOk()) std::abort();
  auto again = decodeKubernetesProtobuf(*encoded);
  if (!again.isOk() || *again != *decoded) std::abort();
  return 0;
}
