// Fuzzes parseJsonStrict, then the validators on whatever parses, against the Deployment schema.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/schema/schema.h"
#include "apiserver/schema/validate.h"

namespace schema = berth::apiserver::schema;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> dups;
  auto parsed = schema::parseJsonStrict(body, &dups);
  if (!parsed.isOk()) return 0;
  static const schema::TypePtr type =
      schema::Registry::get().forKind({"apps", "v1", "Deployment"});
  (void)schema::unknownFields(*parsed, *type);
  (void)schema::typeErrors(*parsed, *type);
  return 0;
}
