// libFuzzer target: strategic merge patch, JSON merge patch and JSON patch must never crash,
// whatever the input. The input is split at the first NUL into original and patch documents.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "apiserver/patch/apply.h"
#include "apiserver/patch/patch.h"

namespace {

// A small schema so the merge-key and retainKeys paths are exercised too.
const berth::apiserver::schema::Type* fuzzType() {
  using namespace berth::apiserver::schema;
  static const auto* type = [] {
    auto str = std::make_shared<Type>();
    str->kind = TypeKind::kString;
    auto item = std::make_shared<Type>();
    item->kind = TypeKind::kObject;
    Field name;
    name.name = "name";
    name.type = str;
    item->fields.push_back(name);
    auto list = std::make_shared<Type>();
    list->kind = TypeKind::kArray;
    list->elem = item;
    auto strlist = std::make_shared<Type>();
    strlist->kind = TypeKind::kArray;
    strlist->elem = str;
    auto* root = new Type;
    root->kind = TypeKind::kObject;
    Field items;
    items.name = "items";
    items.type = list;
    items.patch_merge = true;
    items.patch_merge_key = "name";
    items.list_type = "map";
    items.list_map_keys = {"name"};
    Field set;
    set.name = "set";
    set.type = strlist;
    set.patch_merge = true;
    set.list_type = "set";
    Field keep;  // an object field with the retainKeys strategy; its own type is unknown
    keep.name = "keep";
    keep.patch_retain_keys = true;
    root->fields = {items, set, keep};
    return root;
  }();
  return type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  if (nul == std::string_view::npos) return 0;
  nlohmann::json original = nlohmann::json::parse(in.substr(0, nul), nullptr, false);
  nlohmann::json patch = nlohmann::json::parse(in.substr(nul + 1), nullptr, false);
  if (original.is_discarded() || patch.is_discarded()) return 0;
  namespace p = berth::apiserver::patch;
  (void)p::applyStrategicMergePatch(original, patch, fuzzType());
  (void)p::applyStrategicMergePatch(original, patch, nullptr);
  (void)p::applyJsonMergePatch(original, patch);
  (void)p::applyJsonPatch(original, patch);
  if (original.is_object() && patch.is_object()) {
    auto first = p::serverSideApply(nullptr, original, "a", false, fuzzType(), "t", "v1");
    if (first.isOk()) {
      (void)p::serverSideApply(&first.value(), patch, "b", false, fuzzType(), "t", "v1");
      nlohmann::json updated = patch;
      p::recordUpdate(&updated, &first.value(), "c", "t", "v1", fuzzType());
    }
  }
  return 0;
}
