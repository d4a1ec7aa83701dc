// libFuzzer target: label and field selector parsing must never crash, and a parsed label
// selector's canonical string must parse again to the same selector.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "apiserver/patch/selectors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  namespace p = berth::apiserver::patch;
  auto ls = p::LabelSelector::parse(in);
  if (ls.isOk()) {
    auto again = p::LabelSelector::parse(ls->toString());
    if (!again.isOk() || again->toString() != ls->toString()) std::abort();
    (void)ls->matches(nlohmann::json{{"app", std::string(in.substr(0, 10))}});
  }
  auto fs = p::FieldSelector::parse(in);
  if (fs.isOk()) {
    auto again = p::FieldSelector::parse(fs->toString());
    if (!again.isOk() || again->requirements().size() != fs->requirements().size()) std::abort();
  }
  (void)p::validateLabelKey(in);
  (void)p::validateLabelValue(in);
  return 0;
}
