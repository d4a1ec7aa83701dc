#include "apiserver/patch/patch.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/patch/schema_walk.h"
#include "common/strings.h"

namespace berth::apiserver::patch {

using nlohmann::json;
using internal::childOf;
using internal::elemOf;

namespace {

constexpr std::string_view kDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeletePrimitivePrefix = "$deleteFromPrimitiveList/";
// Nesting beyond this is refused rather than risking the stack on hostile input.
constexpr int kMaxDepth = 256;

Status tooDeep() { return badRequest("patch is nested too deeply"); }

std::string shortDump(const json& v) {
  std::string s = internal::dumpJson(v);
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

Status noMergeKey(const json& m, const std::string& key) {
  return badRequest("map: " + shortDump(m) + " does not contain declared merge key: " + key);
}

bool isDeleteElement(const json& v) {
  if (!v.is_object()) return false;
  auto it = v.find(kDirective);
  return it != v.end() && *it == "delete";
}

bool hasDirective(const json& v) { return v.is_object() && v.contains(kDirective); }

class Merger {
 public:
  // Merges `patch` (an object) into `original` (an object).
  Result<json> mergeMap(json original, const json& patch, const schema::Type* t, int depth) {
    if (depth > kMaxDepth) return tooDeep();
    if (auto it = patch.find(kDirective); it != patch.end()) {
      if (*it == "replace") {
        json copy = patch;
        copy.erase(std::string(kDirective));
        BERTH_ASSIGN_OR_RETURN(auto cleaned, cleanNew(copy, t, nullptr, depth + 1));
        return cleaned ? std::move(*cleaned) : json::object();
      }
      if (*it == "delete") return json::object();
      return badRequest("unknown patch type: " + shortDump(*it) + " in map: " + shortDump(patch));
    }
    if (!original.is_object()) original = json::object();

    BERTH_RETURN_IF_ERROR(applyRetainKeys(&original, patch));

    std::vector<std::string> handled;  // list keys already merged by $setElementOrder
    for (const auto& [key, value] : patch.items()) {
      if (!startsWith(key, "$setElementOrder")) continue;
      if (!startsWith(key, kSetOrderPrefix) || key.size() == kSetOrderPrefix.size()) {
        return badRequest("invalid patch format of setElementOrder list");
      }
      std::string list_key = key.substr(kSetOrderPrefix.size());
      BERTH_RETURN_IF_ERROR(setElementOrder(&original, patch, list_key, value, t, depth));
      handled.push_back(list_key);
    }

    std::vector<std::pair<std::string, const json*>> deletions;
    for (const auto& [key, value] : patch.items()) {
      if (key == kDirective || key == kRetainKeys || startsWith(key, "$setElementOrder")) continue;
      if (startsWith(key, "$deleteFromPrimitiveList")) {
        if (!startsWith(key, kDeletePrimitivePrefix) ||
            key.size() == kDeletePrimitivePrefix.size()) {
          return badRequest("invalid patch format of primitive list");
        }
        deletions.emplace_back(key.substr(kDeletePrimitivePrefix.size()), &value);
        continue;
      }
      if (std::find(handled.begin(), handled.end(), key) != handled.end()) continue;
      if (value.is_null()) {
        original.erase(key);
        continue;
      }
      internal::Child child = childOf(t, key);
      auto it = original.find(key);
      std::optional<json> merged;
      if (it == original.end() || it->type() != value.type() ||
          (!value.is_object() && !value.is_array())) {
        BERTH_ASSIGN_OR_RETURN(merged, cleanNew(value, child.type, child.field, depth + 1));
      } else if (value.is_object()) {
        BERTH_ASSIGN_OR_RETURN(merged, mergeMap(std::move(*it), value, child.type, depth + 1));
      } else {
        BERTH_ASSIGN_OR_RETURN(merged, mergeList(std::move(*it), value, child.field, child.type,
                                                 depth + 1));
      }
      if (merged) original[key] = std::move(*merged);
      else original.erase(key);
    }

    for (const auto& [list_key, values] : deletions) {
      if (!values->is_array()) return badRequest("invalid patch format of primitive list");
      auto it = original.find(list_key);
      if (it == original.end()) continue;
      if (!it->is_array()) {
        return badRequest("$deleteFromPrimitiveList/" + list_key + ": the field is not a list");
      }
      json kept = json::array();
      for (auto& v : *it) {
        if (v.is_object() || v.is_array()) {
          return badRequest("$deleteFromPrimitiveList/" + list_key +
                            ": the list does not hold primitives");
        }
        if (std::find(values->begin(), values->end(), v) == values->end()) kept.push_back(v);
      }
      *it = std::move(kept);
    }
    return original;
  }

  // A patch value for a place with no original value: directives and nulls are stripped.
  // nullopt means "leave the field out".
  Result<std::optional<json>> cleanNew(const json& value, const schema::Type* t,
                                       const schema::Field* f, int depth) {
    if (depth > kMaxDepth) return tooDeep();
    if (value.is_null()) return std::optional<json>();
    if (value.is_object()) {
      if (isDeleteElement(value)) return std::optional<json>();
      BERTH_ASSIGN_OR_RETURN(json m, mergeMap(json::object(), value, t, depth + 1));
      return std::optional<json>(std::move(m));
    }
    if (value.is_array()) {
      BERTH_ASSIGN_OR_RETURN(json l, mergeList(json::array(), value, f, t, depth + 1));
      return std::optional<json>(std::move(l));
    }
    return std::optional<json>(value);
  }

 private:
  Status applyRetainKeys(json* original, const json& patch) {
    auto it = patch.find(kRetainKeys);
    if (it == patch.end()) return Status::ok();
    if (!it->is_array()) return badRequest("invalid patch format of retainKeys");
    const json& keep = *it;
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null() || k == kDirective || k == kRetainKeys ||
          startsWith(k, kDeletePrimitivePrefix) || startsWith(k, kSetOrderPrefix)) {
        continue;
      }
      if (std::find(keep.begin(), keep.end(), json(k)) == keep.end()) {
        return badRequest("invalid patch format of retainKeys: field \"" + k +
                          "\" is in the patch but not in the $retainKeys list");
      }
    }
    for (auto o = original->begin(); o != original->end();) {
      if (std::find(keep.begin(), keep.end(), json(o.key())) == keep.end()) {
        o = original->erase(o);
      } else {
        ++o;
      }
    }
    return Status::ok();
  }

  // The identity an element is ordered and matched by: its merge key value, or itself.
  static const json* identity(const json& item, const std::string& merge_key) {
    if (merge_key.empty()) return &item;
    if (!item.is_object()) return nullptr;
    auto it = item.find(merge_key);
    return it == item.end() ? nullptr : &*it;
  }

  static long indexIn(const json& list, const json& item, const std::string& merge_key) {
    const json* id = identity(item, merge_key);
    if (id == nullptr) return -1;
    for (size_t i = 0; i < list.size(); ++i) {
      const json* other = identity(list[i], merge_key);
      if (other != nullptr && *other == *id) return static_cast<long>(i);
    }
    return -1;
  }

  // Upstream's normalizeElementOrder + mergeSortedSlice: items from the patch sorted by the
  // patch (or $setElementOrder) order, server-only items by the live order, then interleaved
  // so each server-only item lands before the first patch item that follows it in live order.
  static json normalizeOrder(std::vector<json> patch_items, std::vector<json> server_only,
                             const json& patch_order, const json& server_order,
                             const std::string& merge_key) {
    auto sortBy = [&](std::vector<json>* v, const json& order) {
      std::stable_sort(v->begin(), v->end(), [&](const json& a, const json& b) {
        long ia = indexIn(order, a, merge_key);
        long ib = indexIn(order, b, merge_key);
        return (ia < 0 ? LONG_MAX : ia) < (ib < 0 ? LONG_MAX : ib);
      });
    };
    sortBy(&patch_items, patch_order);
    sortBy(&server_only, server_order);
    json out = json::array();
    size_t i = 0, j = 0;
    while (i < server_only.size() || j < patch_items.size()) {
      if (i >= server_only.size()) {
        out.push_back(std::move(patch_items[j++]));
      } else if (j >= patch_items.size()) {
        out.push_back(std::move(server_only[i++]));
      } else {
        long li = indexIn(server_order, server_only[i], merge_key);
        long ri = indexIn(server_order, patch_items[j], merge_key);
        if (li >= 0 && ri >= 0 && li < ri) out.push_back(std::move(server_only[i++]));
        else out.push_back(std::move(patch_items[j++]));
      }
    }
    return out;
  }

  static Result<json> partitionAndOrder(const json& merged, const json& order,
                                        const json& server_order, const std::string& merge_key) {
    std::vector<json> in_order, server_only;
    for (const auto& item : merged) {
      if (!merge_key.empty() && identity(item, merge_key) == nullptr) {
        return noMergeKey(item, merge_key);
      }
      if (indexIn(order, item, merge_key) >= 0) in_order.push_back(item);
      else server_only.push_back(item);
    }
    return normalizeOrder(std::move(in_order), std::move(server_only), order, server_order,
                          merge_key);
  }

  // All elements must share a kind: scalars, or objects. Lists of lists are refused.
  static Status checkElementKinds(const json& a, const json& b, bool* objects) {
    std::optional<json::value_t> seen;
    for (const json* l : {&a, &b}) {
      for (const auto& v : *l) {
        if (v.is_array()) return badRequest("lists of lists are not supported");
        json::value_t k = v.type();
        // Numbers of any representation are one kind.
        if (v.is_number()) k = json::value_t::number_float;
        if (seen && *seen != k) {
          return badRequest("list element types are not identical: " + shortDump(a) + ", " +
                            shortDump(b));
        }
        seen = k;
      }
    }
    *objects = seen && *seen == json::value_t::object;
    return Status::ok();
  }

  Result<json> mergeList(json original, const json& patch, const schema::Field* f,
                         const schema::Type* list_type, int depth) {
    if (depth > kMaxDepth) return tooDeep();
    const schema::Type* elem = elemOf(list_type);
    if (f == nullptr || !f->patch_merge) {
      // Atomic: the patch replaces the list; directive elements are dropped.
      json out = json::array();
      for (const auto& v : patch) {
        if (v.is_null()) {
          out.push_back(v);
          continue;
        }
        if (hasDirective(v)) continue;
        BERTH_ASSIGN_OR_RETURN(auto c, cleanNew(v, elem, nullptr, depth + 1));
        if (c) out.push_back(std::move(*c));
      }
      return out;
    }
    if (original.empty() && patch.empty()) return original;
    bool objects = false;
    BERTH_RETURN_IF_ERROR(checkElementKinds(original, patch, &objects));

    if (!objects) {
      // A set of primitives: union, first occurrence wins.
      json merged = json::array();
      for (const json* l : {static_cast<const json*>(&original), &patch}) {
        for (const auto& v : *l) {
          if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
        }
      }
      return partitionAndOrder(merged, patch, original, "");
    }

    const std::string& key = f->patch_merge_key;
    if (key.empty()) {
      return badRequest("cannot merge lists without merge key for " + f->name);
    }
    json items = json::array();  // patch elements without directives
    bool replace = false;
    for (const auto& v : patch) {
      auto d = v.find(kDirective);
      if (d == v.end()) {
        items.push_back(v);
        continue;
      }
      if (*d == "delete") {
        auto kv = v.find(key);
        if (kv == v.end()) return noMergeKey(v, key);
        json kept = json::array();
        for (auto& o : original) {
          if (!o.is_object()) return badRequest("value in list " + f->name + " is not a map");
          auto ok = o.find(key);
          if (ok != o.end() && *ok == *kv) continue;
          kept.push_back(std::move(o));
        }
        original = std::move(kept);
      } else if (*d == "replace") {
        replace = true;
      } else if (*d == "merge") {
        return badRequest("merging lists cannot yet be specified in the patch");
      } else {
        return badRequest("unknown patch type: " + shortDump(*d) + " in map: " + shortDump(v));
      }
    }
    if (replace) {
      json out = json::array();
      for (const auto& v : items) {
        BERTH_ASSIGN_OR_RETURN(auto c, cleanNew(v, elem, nullptr, depth + 1));
        if (c) out.push_back(std::move(*c));
      }
      return out;
    }

    json merged = original;
    for (const auto& v : items) {
      auto kv = v.find(key);
      if (kv == v.end()) return noMergeKey(v, key);
      bool found = false;
      for (auto& o : merged) {
        if (!o.is_object()) return badRequest("value in list " + f->name + " is not a map");
        auto ok = o.find(key);
        if (ok != o.end() && *ok == *kv) {
          BERTH_ASSIGN_OR_RETURN(o, mergeMap(std::move(o), v, elem, depth + 1));
          found = true;
          break;
        }
      }
      if (!found) {
        BERTH_ASSIGN_OR_RETURN(auto c, cleanNew(v, elem, nullptr, depth + 1));
        if (c) merged.push_back(std::move(*c));
      }
    }
    return partitionAndOrder(merged, items, original, key);
  }

  // Checks that the patch list's items appear in the same relative order in the
  // $setElementOrder list (delete elements and other directives aside).
  static Status validateSetOrder(const json& patch_list, const json& order,
                                 const std::string& key) {
    if (order.empty() || patch_list.empty()) return Status::ok();
    std::vector<const json*> items;
    for (const auto& v : patch_list) {
      if (!key.empty() && hasDirective(v)) continue;
      items.push_back(&v);
    }
    size_t pi = 0, oi = 0;
    while (pi < items.size() && oi < order.size()) {
      bool equal;
      if (key.empty()) {
        equal = *items[pi] == order[oi];
      } else {
        const json* a = identity(*items[pi], key);
        const json* b = identity(order[oi], key);
        if (a == nullptr) return noMergeKey(*items[pi], key);
        if (b == nullptr) return noMergeKey(order[oi], key);
        equal = *a == *b;
      }
      if (equal) ++pi;
      ++oi;
    }
    if (pi < items.size()) {
      return badRequest("The order in patch list:\n" + shortDump(patch_list) +
                        "\n doesn't match $setElementOrder list:\n" + shortDump(order) + "\n");
    }
    return Status::ok();
  }

  Status setElementOrder(json* original, const json& patch, const std::string& list_key,
                         const json& order, const schema::Type* t, int depth) {
    if (!order.is_array()) return badRequest("invalid patch format of setElementOrder list");
    internal::Child child = childOf(t, list_key);
    auto oit = original->find(list_key);
    auto pit = patch.find(list_key);
    bool has_original = oit != original->end() && !oit->is_null();
    bool has_patch = pit != patch.end() && !pit->is_null();
    if (has_original && !oit->is_array()) {
      return badRequest("$setElementOrder/" + list_key + ": the field is not a list");
    }
    if (has_patch && !pit->is_array()) {
      return badRequest("$setElementOrder/" + list_key + ": the patch value is not a list");
    }
    if (pit != patch.end() && pit->is_null()) {
      original->erase(list_key);
      return Status::ok();
    }
    bool merge_list = child.field != nullptr && child.field->patch_merge;
    const std::string key = merge_list ? child.field->patch_merge_key : "";
    if (merge_list) {
      BERTH_RETURN_IF_ERROR(validateSetOrder(has_patch ? *pit : json::array(), order, key));
    }
    if (!has_original && !has_patch) return Status::ok();
    json live = has_original ? *oit : json::array();
    json merged;
    if (!has_patch) {
      merged = live;
    } else {
      BERTH_ASSIGN_OR_RETURN(merged, mergeList(live, *pit, child.field, child.type, depth + 1));
    }
    if (merge_list) {
      bool objects = false;
      BERTH_RETURN_IF_ERROR(checkElementKinds(merged, order, &objects));
      BERTH_ASSIGN_OR_RETURN(merged, partitionAndOrder(merged, order, live, objects ? key : ""));
    }
    (*original)[list_key] = std::move(merged);
    return Status::ok();
  }
};

// ---- JSON merge patch ---------------------------------------------------------------------

Result<json> mergePatch(const json& target, const json& patch, int depth) {
  if (depth > kMaxDepth) return tooDeep();
  if (!patch.is_object()) return patch;
  json out = target.is_object() ? target : json::object();
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      out.erase(k);
      continue;
    }
    auto it = out.find(k);
    BERTH_ASSIGN_OR_RETURN(json merged,
                           mergePatch(it == out.end() ? json() : *it, v, depth + 1));
    out[k] = std::move(merged);
  }
  return out;
}

// ---- JSON patch -----------------------------------------------------------------------------

Result<std::vector<std::string>> parsePointer(const std::string& ptr) {
  std::vector<std::string> tokens;
  if (ptr.empty()) return tokens;
  if (ptr[0] != '/') return badRequest("JSON pointer must be empty or start with '/': " + ptr);
  size_t start = 1;
  while (true) {
    size_t slash = ptr.find('/', start);
    std::string raw = ptr.substr(start, slash == std::string::npos ? std::string::npos
                                                                   : slash - start);
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        tok += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '0') tok += '~';
      else if (i + 1 < raw.size() && raw[i + 1] == '1') tok += '/';
      else return badRequest("invalid escape in JSON pointer: " + ptr);
      ++i;
    }
    tokens.push_back(std::move(tok));
    if (slash == std::string::npos) return tokens;
    start = slash + 1;
  }
}

// An array index token: digits without leading zeros; `allow_end` accepts "-" (one past the
// end) and size() itself.
std::optional<size_t> arrayIndex(const std::string& tok, size_t size, bool allow_end) {
  if (tok == "-") return allow_end ? std::optional<size_t>(size) : std::nullopt;
  if (tok.empty() || tok.size() > 9) return std::nullopt;
  if (tok.size() > 1 && tok[0] == '0') return std::nullopt;
  for (char c : tok) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  size_t i = std::stoul(tok);
  if (i > size || (i == size && !allow_end)) return std::nullopt;
  return i;
}

// Why an operation failed, before the op index and path are added.
struct OpError {
  std::string reason;
};

json* resolve(json* doc, const std::vector<std::string>& toks, size_t n) {
  json* cur = doc;
  for (size_t i = 0; i < n; ++i) {
    if (cur->is_object()) {
      auto it = cur->find(toks[i]);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      auto idx = arrayIndex(toks[i], cur->size(), false);
      if (!idx) return nullptr;
      cur = &(*cur)[*idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::optional<OpError> opAdd(json* doc, const std::vector<std::string>& toks, json value) {
  if (toks.empty()) {
    *doc = std::move(value);
    return std::nullopt;
  }
  json* parent = resolve(doc, toks, toks.size() - 1);
  if (parent == nullptr) return OpError{"doc is missing path"};
  const std::string& last = toks.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return std::nullopt;
  }
  if (parent->is_array()) {
    auto idx = arrayIndex(last, parent->size(), true);
    if (!idx) return OpError{"index out of bounds or invalid: " + last};
    parent->insert(parent->begin() + static_cast<long>(*idx), std::move(value));
    return std::nullopt;
  }
  return OpError{"parent is not a container"};
}

std::optional<OpError> opRemove(json* doc, const std::vector<std::string>& toks, json* removed) {
  if (toks.empty()) return OpError{"cannot remove the whole document"};
  json* parent = resolve(doc, toks, toks.size() - 1);
  if (parent == nullptr) return OpError{"doc is missing path"};
  const std::string& last = toks.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return OpError{"doc is missing key"};
    if (removed) *removed = std::move(*it);
    parent->erase(it);
    return std::nullopt;
  }
  if (parent->is_array()) {
    auto idx = arrayIndex(last, parent->size(), false);
    if (!idx) return OpError{"index out of bounds or invalid: " + last};
    if (removed) *removed = std::move((*parent)[*idx]);
    parent->erase(parent->begin() + static_cast<long>(*idx));
    return std::nullopt;
  }
  return OpError{"doc is missing path"};
}

}  // namespace

Result<json> applyStrategicMergePatch(const json& original, const json& patch,
                                      const schema::Type* type) {
  if (!patch.is_object()) return badRequest("strategic merge patch must be a JSON object");
  if (!original.is_object() && !original.is_null()) {
    return badRequest("strategic merge patch target must be a JSON object");
  }
  Merger m;
  return m.mergeMap(original.is_null() ? json::object() : original, patch, type, 0);
}

Result<json> applyJsonMergePatch(const json& original, const json& patch) {
  return mergePatch(original, patch, 0);
}

Result<json> applyJsonPatch(const json& original, const json& ops) {
  if (!ops.is_array()) return badRequest("json patch must be a JSON array of operations");
  json doc = original;
  for (size_t i = 0; i < ops.size(); ++i) {
    const json& op = ops[i];
    std::string where = "json patch operation #" + std::to_string(i);
    if (!op.is_object()) return badRequest(where + ": an operation must be an object");
    auto oit = op.find("op");
    auto pit = op.find("path");
    if (oit == op.end() || !oit->is_string()) return badRequest(where + ": missing \"op\"");
    if (pit == op.end() || !pit->is_string()) return badRequest(where + ": missing \"path\"");
    const std::string name = oit->get<std::string>();
    const std::string path = pit->get<std::string>();
    where += " (" + name + " \"" + path + "\")";
    auto toks = parsePointer(path);
    if (!toks.isOk()) return badRequest(where + ": " + toks.status().message());

    auto needValue = [&]() -> Result<json> {
      auto v = op.find("value");
      if (v == op.end()) return badRequest(where + ": missing \"value\"");
      return *v;
    };
    auto needFrom = [&]() -> Result<std::vector<std::string>> {
      auto f = op.find("from");
      if (f == op.end() || !f->is_string()) return badRequest(where + ": missing \"from\"");
      auto ft = parsePointer(f->get<std::string>());
      if (!ft.isOk()) return badRequest(where + ": " + ft.status().message());
      return ft;
    };

    std::optional<OpError> err;
    if (name == "add") {
      BERTH_ASSIGN_OR_RETURN(json v, needValue());
      err = opAdd(&doc, *toks, std::move(v));
    } else if (name == "remove") {
      err = opRemove(&doc, *toks, nullptr);
    } else if (name == "replace") {
      BERTH_ASSIGN_OR_RETURN(json v, needValue());
      json* target = resolve(&doc, *toks, toks->size());
      if (target == nullptr) err = OpError{"doc is missing key"};
      else *target = std::move(v);
    } else if (name == "move") {
      BERTH_ASSIGN_OR_RETURN(auto from, needFrom());
      bool into_child = from.size() < toks->size() &&
                        std::equal(from.begin(), from.end(), toks->begin());
      if (into_child) {
        err = OpError{"cannot move a value into one of its children"};
      } else if (from != *toks) {
        json moved;
        err = opRemove(&doc, from, &moved);
        if (!err) err = opAdd(&doc, *toks, std::move(moved));
      } else if (resolve(&doc, from, from.size()) == nullptr) {
        err = OpError{"doc is missing from path"};
      }
    } else if (name == "copy") {
      BERTH_ASSIGN_OR_RETURN(auto from, needFrom());
      json* src = resolve(&doc, from, from.size());
      if (src == nullptr) err = OpError{"doc is missing from path"};
      else err = opAdd(&doc, *toks, *src);
    } else if (name == "test") {
      BERTH_ASSIGN_OR_RETURN(json v, needValue());
      json* target = resolve(&doc, *toks, toks->size());
      if (target == nullptr) {
        if (!v.is_null()) err = OpError{"test failed: doc is missing path"};
      } else if (*target != v) {
        err = OpError{"test failed: value is " + shortDump(*target)};
      }
    } else {
      return badRequest(where + ": unsupported operation");
    }
    // The reason rides in a cause too: kubectl prints an Invalid error's causes, not its
    // message.
    if (err) {
      return invalid(where + ": " + err->reason)
          .withCause({"UnexpectedServerResponse", where + ": " + err->reason, ""});
    }
  }
  return doc;
}

}  // namespace berth::apiserver::patch
