// Fuzzes yamlToJson; the JSON it returns must serialize.
#include <cstdint>
#include <string_view>

#include "apiserver/schema/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto r = berth::apiserver::schema::yamlToJson(yaml);
  if (r.isOk()) (void)r->dump();  // throws (and so crashes) on invalid UTF-8
  return 0;
}
