// Fuzzes yamlToJson; the JSON it returns must serialize.
#include <cstdint>
#include <string_view>

#include "apiserver/schema/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto r = berth::apiserver::schema::yamlToJson(yaml);
  if (r.isOk()) (void)r->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
