#include "apiserver/patch/apply.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <optional>
#include <set>

#include "apiserver/patch/schema_walk.h"
#include "common/strings.h"

namespace berth::apiserver::patch {

using nlohmann::json;
using internal::childOf;
using internal::elemOf;

namespace {

constexpr int kMaxDepth = 256;

// ---- schema questions -------------------------------------------------------------------------

enum class ListKind { kAtomic, kMap, kSet };

ListKind listKind(const schema::Field* f, std::vector<std::string>* keys) {
  if (f == nullptr) return ListKind::kAtomic;
  if (f->list_type == "map") {
    *keys = f->list_map_keys;
    if (keys->empty() && !f->patch_merge_key.empty()) keys->push_back(f->patch_merge_key);
    return keys->empty() ? ListKind::kAtomic : ListKind::kMap;
  }
  if (f->list_type == "set") return ListKind::kSet;
  if (f->list_type == "atomic") return ListKind::kAtomic;
  // No +listType: fall back to the strategic-merge tags, which name the same keys upstream.
  if (f->patch_merge && !f->patch_merge_key.empty()) {
    *keys = {f->patch_merge_key};
    return ListKind::kMap;
  }
  if (f->patch_merge) return ListKind::kSet;
  return ListKind::kAtomic;
}

bool atomicObject(const schema::Field* f) { return f != nullptr && f->map_type == "atomic"; }

bool isMapType(const schema::Type* t) { return t != nullptr && t->kind == schema::TypeKind::kMap; }

// The path element naming a list item ("k:{...}" or "v:..."), or nullopt when it can't be named.
std::optional<std::string> itemKey(const json& item, ListKind kind,
                                   const std::vector<std::string>& keys) {
  if (kind == ListKind::kSet) {
    if (item.is_object() || item.is_array()) return std::nullopt;
    return "v:" + internal::dumpJson(item);
  }
  if (!item.is_object()) return std::nullopt;
  json k = json::object();
  for (const auto& name : keys) {
    auto it = item.find(name);
    if (it != item.end() && !it->is_null()) {
      k[name] = *it;
    } else if (name == "protocol") {
      // Upstream's schema defaults every protocol list key to TCP.
      k[name] = "TCP";
    }
  }
  if (k.empty()) return std::nullopt;
  return "k:" + internal::dumpJson(k);
}

Status unnamedItem(const std::vector<std::string>& keys, size_t index) {
  std::string key = keys.empty() ? "" : keys.front();
  return invalid("element " + std::to_string(index) +
                 ": associative list with keys has an element that omits key field \"" + key +
                 "\"");
}

// ---- FieldSet algebra -------------------------------------------------------------------------

void pruneEmpty(FieldSet* s) {
  for (auto it = s->children.begin(); it != s->children.end();) {
    pruneEmpty(&it->second);
    if (it->second.empty()) it = s->children.erase(it);
    else ++it;
  }
}

void unionInto(FieldSet* a, const FieldSet& b) {
  a->member = a->member || b.member;
  for (const auto& [k, c] : b.children) unionInto(&a->children[k], c);
}

// Members of `a` that are also members of `b`.
FieldSet intersection(const FieldSet& a, const FieldSet& b) {
  FieldSet out;
  out.member = a.member && b.member;
  for (const auto& [k, c] : a.children) {
    auto it = b.children.find(k);
    if (it == b.children.end()) continue;
    FieldSet sub = intersection(c, it->second);
    if (!sub.empty()) out.children[k] = std::move(sub);
  }
  return out;
}

// Members of `a` that are not members of `b`.
// Removes `b`'s members from `a`; true when `a` changed.
bool subtract(FieldSet* a, const FieldSet& b) {
  bool changed = false;
  if (b.member && a->member) {
    a->member = false;
    changed = true;
  }
  for (const auto& [k, c] : b.children) {
    auto it = a->children.find(k);
    if (it == a->children.end()) continue;
    changed = subtract(&it->second, c) || changed;
    if (it->second.empty()) {
      a->children.erase(it);
      changed = true;
    }
  }
  return changed;
}

// "f:spec" -> ".spec", "k:{\"name\":\"a\"}" -> "[name=\"a\"]", "v:\"x\"" -> "[=\"x\"]".
std::string displayElement(const std::string& pe) {
  if (startsWith(pe, "f:")) return "." + pe.substr(2);
  if (startsWith(pe, "i:")) return "[" + pe.substr(2) + "]";
  if (startsWith(pe, "v:")) return "[=" + pe.substr(2) + "]";
  if (startsWith(pe, "k:")) {
    json k = json::parse(pe.substr(2), nullptr, false);
    if (!k.is_object()) return "[" + pe.substr(2) + "]";
    std::vector<std::string> parts;
    for (const auto& [name, v] : k.items()) {
      parts.push_back(name + "=" + internal::dumpJson(v));
    }
    return "[" + join(parts, ",") + "]";
  }
  return pe;
}

void collectPaths(const FieldSet& s, const std::string& prefix, std::vector<std::string>* out) {
  if (s.member) out->push_back(prefix);
  for (const auto& [k, c] : s.children) collectPaths(c, prefix + displayElement(k), out);
}

// ---- building field sets ----------------------------------------------------------------------

Status walkObject(const json& v, const schema::Type* t, const schema::Field* f, FieldSet* node,
                  int depth) {
  if (depth > kMaxDepth) return invalid("object is nested too deeply");
  if (v.is_object()) {
    if (atomicObject(f)) {
      node->member = true;
      return Status::ok();
    }
    for (const auto& [k, val] : v.items()) {
      FieldSet* child = &node->children["f:" + k];
      internal::Child c = childOf(t, k);
      if (val.is_null() || (val.is_object() && val.empty())) child->member = true;
      BERTH_RETURN_IF_ERROR(walkObject(val, c.type, c.field, child, depth + 1));
      if (c.field == nullptr) child->member = true;
    }
    return Status::ok();
  }
  if (v.is_array()) {
    std::vector<std::string> keys;
    ListKind kind = listKind(f, &keys);
    if (kind == ListKind::kAtomic) {
      node->member = true;
      return Status::ok();
    }
    std::map<std::string, int> seen;
    std::vector<std::string> pes;
    for (size_t i = 0; i < v.size(); ++i) {
      auto pe = itemKey(v[i], kind, keys);
      if (!pe) return unnamedItem(keys, i);
      seen[*pe]++;
      pes.push_back(*pe);
    }
    const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
    for (size_t i = 0; i < v.size(); ++i) {
      FieldSet* child = &node->children[pes[i]];
      child->member = true;
      if (seen[pes[i]] > 1) continue;  // duplicates are owned as a whole
      BERTH_RETURN_IF_ERROR(walkObject(v[i], elem, nullptr, child, depth + 1));
    }
    return Status::ok();
  }
  node->member = true;
  return Status::ok();
}

// What no write owns: the object's type, its status (its own subresource's), and the
// metadata the server sets.
constexpr const char* kUnownedTopLevel[] = {"apiVersion", "kind", "status"};
constexpr const char* kUnownedMetadata[] = {"f:name",
                                            "f:namespace",
                                            "f:creationTimestamp",
                                            "f:selfLink",
                                            "f:uid",
                                            "f:clusterName",
                                            "f:generation",
                                            "f:managedFields",
                                            "f:resourceVersion",
                                            "f:deletionTimestamp",
                                            "f:deletionGracePeriodSeconds"};

// Removes what no manager may own. `status_only`: the status subresource, where only status is.
void stripIgnored(FieldSet* s, bool status_only) {
  s->member = false;
  if (status_only) {
    for (auto it = s->children.begin(); it != s->children.end();) {
      if (it->first != "f:status") it = s->children.erase(it);
      else ++it;
    }
    return;
  }
  for (const char* k : kUnownedTopLevel) s->children.erase(std::string("f:") + k);
  auto md = s->children.find("f:metadata");
  if (md != s->children.end()) {
    md->second.member = false;
    for (const char* k : kUnownedMetadata) md->second.children.erase(k);
    if (md->second.empty()) s->children.erase(md);
  }
}

// ---- merging (apply) --------------------------------------------------------------------------

Result<json> mergeValues(const json* live, const json& config, const schema::Type* t,
                         const schema::Field* f, int depth);

Result<json> mergeLists(const json& live, const json& config, const schema::Field* f,
                        ListKind kind, const std::vector<std::string>& keys, int depth) {
  const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
  struct Item {
    std::string pe;
    const json* value;
  };
  auto index = [&](const json& list, std::vector<Item>* items,
                   std::map<std::string, const json*>* by_pe) -> Status {
    for (size_t i = 0; i < list.size(); ++i) {
      auto pe = itemKey(list[i], kind, keys);
      if (!pe) return unnamedItem(keys, i);
      if (by_pe->count(*pe)) continue;  // later duplicates are ignored for matching
      by_pe->emplace(*pe, &list[i]);
      items->push_back({*pe, &list[i]});
    }
    return Status::ok();
  };
  std::vector<Item> lhs, rhs;
  std::map<std::string, const json*> lhs_by, rhs_by;
  BERTH_RETURN_IF_ERROR(index(live, &lhs, &lhs_by));
  BERTH_RETURN_IF_ERROR(index(config, &rhs, &rhs_by));

  // Walk both lists as structured-merge-diff does: live-only items keep their place, items in
  // the configuration follow its order.
  std::vector<std::string> shared;
  for (const auto& r : rhs) {
    if (lhs_by.count(r.pe)) shared.push_back(r.pe);
  }
  size_t next_shared = 0;
  std::set<std::string> merged;
  json out = json::array();
  auto emit = [&](const std::string& pe) -> Status {
    auto l = lhs_by.find(pe);
    auto r = rhs_by.find(pe);
    if (r == rhs_by.end()) {
      out.push_back(*l->second);
      return Status::ok();
    }
    BERTH_ASSIGN_OR_RETURN(
        json v, mergeValues(l == lhs_by.end() ? nullptr : l->second, *r->second, elem, nullptr,
                            depth + 1));
    if (!v.is_null() || r->second->is_null()) out.push_back(std::move(v));
    return Status::ok();
  };
  auto advanceShared = [&](const std::string& pe) {
    if (next_shared < shared.size() && shared[next_shared] == pe) ++next_shared;
  };
  size_t li = 0, ri = 0;
  while (li < lhs.size() || ri < rhs.size()) {
    if (li < lhs.size() && ri < rhs.size()) {
      const std::string& lpe = lhs[li].pe;
      if (lpe == rhs[ri].pe) {
        merged.insert(lpe);
        BERTH_RETURN_IF_ERROR(emit(lpe));
        ++li;
        ++ri;
        advanceShared(lpe);
        continue;
      }
      if (rhs_by.count(lpe) && next_shared < shared.size() && shared[next_shared] != lpe) {
        ++li;  // a shared item, emitted when the configuration reaches it
        continue;
      }
    }
    if (li < lhs.size()) {
      const std::string& lpe = lhs[li].pe;
      if (!rhs_by.count(lpe)) {
        BERTH_RETURN_IF_ERROR(emit(lpe));
        ++li;
        continue;
      }
      if (merged.count(lpe)) ++li;
    }
    if (ri < rhs.size()) {
      const std::string& rpe = rhs[ri].pe;
      if (!merged.count(rpe)) {
        merged.insert(rpe);
        BERTH_RETURN_IF_ERROR(emit(rpe));
      }
      ++ri;
      advanceShared(rpe);
    }
  }
  return out;
}

Result<json> mergeValues(const json* live, const json& config, const schema::Type* t,
                         const schema::Field* f, int depth) {
  if (depth > kMaxDepth) return invalid("object is nested too deeply");
  if (live == nullptr || live->is_null()) {
    if (config.is_object() && !atomicObject(f)) {
      return mergeValues(&config, config, t, f, depth);  // normalises nested nulls away
    }
    return config;
  }
  if (config.is_object() && live->is_object() && !atomicObject(f)) {
    json out = *live;
    for (const auto& [k, v] : config.items()) {
      internal::Child c = childOf(t, k);
      if (v.is_null()) {
        out.erase(k);
        continue;
      }
      auto it = live->find(k);
      BERTH_ASSIGN_OR_RETURN(
          json m, mergeValues(it == live->end() || &*it == &v ? nullptr : &*it, v, c.type,
                              c.field, depth + 1));
      out[k] = std::move(m);
    }
    return out;
  }
  if (config.is_array() && live->is_array()) {
    std::vector<std::string> keys;
    ListKind kind = listKind(f, &keys);
    if (kind != ListKind::kAtomic && live != &config) {
      return mergeLists(*live, config, f, kind, keys, depth);
    }
  }
  return config;
}

// ---- comparing (ownership of changes) ---------------------------------------------------------

struct Comparison {
  FieldSet added, modified, removed;
  bool same() const { return added.empty() && modified.empty() && removed.empty(); }
};

class Comparer {
 public:
  Comparison result;

  void compare(const json* l, const json* r, const schema::Type* t, const schema::Field* f,
               std::vector<std::string>* path, int depth) {
    if (depth > kMaxDepth) return;
    if (!l && r && !path->empty()) {
      // Only on the right (a create, or a new subtree): all of it is added.
      FieldSet* node = &result.added;
      for (const auto& pe : *path) node = &node->children[pe];
      addAll(*r, t, f, node, depth);
      return;
    }
    bool l_obj = l && l->is_object() && !atomicObject(f);
    bool r_obj = r && r->is_object() && !atomicObject(f);
    std::vector<std::string> keys;
    ListKind kind = listKind(f, &keys);
    bool l_list = l && l->is_array() && kind != ListKind::kAtomic;
    bool r_list = r && r->is_array() && kind != ListKind::kAtomic;
    bool granular_obj = (l_obj || !l) && (r_obj || !r) && (l_obj || r_obj) &&
                        !((!l || l->empty()) && (!r || r->empty()));
    bool granular_list = (l_list || !l) && (r_list || !r) && (l_list || r_list) &&
                         !((!l || l->empty()) && (!r || r->empty()));
    if (!granular_obj && !granular_list) {
      leaf(l, r, *path);
      return;
    }
    if (granular_obj) {
      if (isMapType(t)) {
        if (!l) insert(&result.added, *path);
        if (!r) insert(&result.removed, *path);
      }
      std::set<std::string> all;
      if (l) for (const auto& [k, v] : l->items()) all.insert(k);
      if (r) for (const auto& [k, v] : r->items()) all.insert(k);
      for (const auto& k : all) {
        const json* lc = nullptr;
        const json* rc = nullptr;
        if (l) if (auto it = l->find(k); it != l->end()) lc = &*it;
        if (r) if (auto it = r->find(k); it != r->end()) rc = &*it;
        internal::Child c = childOf(t, k);
        path->push_back("f:" + k);
        compare(lc, rc, c.type, c.field, path, depth + 1);
        path->pop_back();
      }
      return;
    }
    // A granular list: items matched by key (or value); unnameable items make it a leaf.
    const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
    std::map<std::string, std::vector<const json*>> lm, rm;
    std::vector<std::string> order;
    auto index = [&](const json* list, std::map<std::string, std::vector<const json*>>* m) {
      if (!list) return true;
      for (const auto& item : *list) {
        auto pe = itemKey(item, kind, keys);
        if (!pe) return false;
        if (!lm.count(*pe) && !rm.count(*pe)) order.push_back(*pe);
        (*m)[*pe].push_back(&item);
      }
      return true;
    };
    if (!index(l, &lm) || !index(r, &rm)) {
      leaf(l, r, *path);
      return;
    }
    for (const auto& pe : order) {
      auto li = lm.find(pe);
      auto ri = rm.find(pe);
      size_t ln = li == lm.end() ? 0 : li->second.size();
      size_t rn = ri == rm.end() ? 0 : ri->second.size();
      path->push_back(pe);
      if (ln <= 1 && rn <= 1) {
        const json* lv = ln ? li->second[0] : nullptr;
        const json* rv = rn ? ri->second[0] : nullptr;
        if (!lv) insert(&result.added, *path);
        if (!rv) insert(&result.removed, *path);
        compare(lv, rv, elem, nullptr, path, depth + 1);
      } else {
        // Duplicated items are compared as a whole.
        bool equal = ln == rn;
        for (size_t i = 0; equal && i < ln; ++i) equal = *li->second[i] == *ri->second[i];
        if (!equal) insert(ln == 0 ? &result.added : (rn == 0 ? &result.removed : &result.modified), *path);
      }
      path->pop_back();
    }
  }

 private:
  // compare(nullptr, &r, ...) for the node `node` of the added set: the same set, built in
  // one walk of `r` instead of inserting each leaf's path from the root.
  void addAll(const json& r, const schema::Type* t, const schema::Field* f, FieldSet* node,
              int depth) {
    if (depth > kMaxDepth) return;
    std::vector<std::string> keys;
    ListKind kind = listKind(f, &keys);
    if (r.is_object() && !atomicObject(f) && !r.empty()) {
      if (isMapType(t)) node->member = true;
      for (const auto& [k, v] : r.items()) {
        internal::Child c = childOf(t, k);
        // r's keys arrive sorted, so "f:"+k does too: hint each insert at the end.
        auto it = node->children.emplace_hint(node->children.end(), "f:" + k, FieldSet{});
        addAll(v, c.type, c.field, &it->second, depth + 1);
      }
      return;
    }
    if (r.is_array() && kind != ListKind::kAtomic && !r.empty()) {
      std::vector<std::pair<std::string, const json*>> items;
      std::map<std::string, int> count;
      for (const auto& item : r) {
        auto pe = itemKey(item, kind, keys);
        if (!pe) {  // an unnameable item makes the whole list a leaf
          node->member = true;
          return;
        }
        ++count[*pe];
        items.emplace_back(std::move(*pe), &item);
      }
      const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
      for (const auto& [pe, item] : items) {
        FieldSet* child = &node->children[pe];
        child->member = true;
        if (count[pe] == 1) addAll(*item, elem, nullptr, child, depth + 1);  // duplicates: whole
      }
      return;
    }
    node->member = true;
  }

  void leaf(const json* l, const json* r, const std::vector<std::string>& path) {
    if (path.empty()) return;
    if (!l && r) insert(&result.added, path);
    else if (l && !r) insert(&result.removed, path);
    else if (l && r && *l != *r) insert(&result.modified, path);
  }

  static void insert(FieldSet* s, const std::vector<std::string>& path) {
    if (path.empty()) return;
    FieldSet* n = s;
    for (const auto& pe : path) n = &n->children[pe];
    n->member = true;
  }
};

Comparison compareObjects(const json& l, const json& r, const schema::Type* t) {
  Comparer c;
  std::vector<std::string> path;
  c.compare(&l, &r, t, nullptr, &path, 0);
  return c.result;
}

// ---- removing fields --------------------------------------------------------------------------

// Removes from `obj` every path of `last` that no node of `owned` covers.
void pruneUnowned(json* obj, const FieldSet& last, const FieldSet* owned, const schema::Type* t,
                  const schema::Field* f, int depth) {
  if (depth > kMaxDepth || last.children.empty()) return;
  if (obj->is_object()) {
    for (const auto& [pe, sub] : last.children) {
      if (!startsWith(pe, "f:")) continue;
      std::string key = pe.substr(2);
      auto it = obj->find(key);
      if (it == obj->end()) continue;
      const FieldSet* o = nullptr;
      if (owned) {
        auto oi = owned->children.find(pe);
        if (oi != owned->children.end()) o = &oi->second;
      }
      if (o == nullptr) {
        obj->erase(it);
        continue;
      }
      // Owned, but maybe not all of it: what only this manager set below goes. (A member
      // that is a leaf has no children in `sub` either.)
      internal::Child c = childOf(t, key);
      pruneUnowned(&*it, sub, o, c.type, c.field, depth + 1);
    }
    return;
  }
  if (obj->is_array()) {
    std::vector<std::string> keys;
    ListKind kind = listKind(f, &keys);
    if (kind == ListKind::kAtomic) return;
    const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
    json out = json::array();
    for (auto& item : *obj) {
      auto pe = itemKey(item, kind, keys);
      auto li = pe ? last.children.find(*pe) : last.children.end();
      if (li == last.children.end()) {
        out.push_back(std::move(item));
        continue;
      }
      const FieldSet* o = nullptr;
      if (owned) {
        auto oi = owned->children.find(*pe);
        if (oi != owned->children.end()) o = &oi->second;
      }
      if (o == nullptr) continue;  // dropped
      // The item is kept ("." owned); its fields only this manager set go.
      pruneUnowned(&item, li->second, o, elem, nullptr, depth + 1);
      out.push_back(std::move(item));
    }
    *obj = std::move(out);
  }
}

// ---- managedFields ----------------------------------------------------------------------------

struct Entry {
  std::string manager;
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string time;
  std::string subresource;
  FieldSet set;
  bool touched = false;

  bool sameIdentity(const Entry& o) const {
    return manager == o.manager && operation == o.operation && subresource == o.subresource &&
           (operation == "Apply" || api_version == o.api_version);
  }
  // upstream's printManager
  std::string describe() const {
    std::string s = internal::dumpJson(json(manager));
    if (!subresource.empty()) s += " with subresource " + internal::dumpJson(json(subresource));
    if (operation == "Update") s += " using " + api_version;
    return s;
  }
};

Result<std::vector<Entry>> decodeManagedFields(const json& mf) {
  std::vector<Entry> out;
  if (mf.is_null()) return out;
  if (!mf.is_array()) return badRequest("metadata.managedFields must be a list");
  for (const auto& e : mf) {
    if (!e.is_object()) return badRequest("metadata.managedFields entries must be objects");
    Entry en;
    en.manager = internal::stringField(e, "manager");
    en.operation = internal::stringField(e, "operation");
    en.api_version = internal::stringField(e, "apiVersion");
    en.time = internal::stringField(e, "time");
    en.subresource = internal::stringField(e, "subresource");
    if (en.operation != "Apply" && en.operation != "Update") {
      return badRequest("metadata.managedFields: operation must be Apply or Update");
    }
    if (auto fv = e.find("fieldsV1"); fv != e.end()) {
      BERTH_ASSIGN_OR_RETURN(en.set, fieldSetFromFieldsV1(*fv));
    }
    out.push_back(std::move(en));
  }
  return out;
}

// One managedFields entry as it is stored.
json entryJson(const std::string& manager, const std::string& operation,
               const std::string& api_version, const std::string& time,
               const std::string& subresource, json fields_v1) {
  json j = {{"manager", manager}, {"operation", operation}, {"apiVersion", api_version}};
  if (!time.empty()) j["time"] = time;
  j["fieldsType"] = "FieldsV1";
  j["fieldsV1"] = std::move(fields_v1);
  if (!subresource.empty()) j["subresource"] = subresource;
  return j;
}

json encodeManagedFields(std::vector<Entry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& p, const Entry& q) {
    if (p.operation != q.operation) return p.operation < q.operation;
    if (p.time != q.time) return p.time < q.time;
    if (p.manager != q.manager) return p.manager < q.manager;
    if (p.api_version != q.api_version) return p.api_version < q.api_version;
    return p.subresource < q.subresource;
  });
  json out = json::array();
  for (const auto& e : entries) {
    if (e.set.empty()) continue;
    out.push_back(entryJson(e.manager, e.operation, e.api_version, e.time, e.subresource,
                            fieldSetToFieldsV1(e.set)));
  }
  return out;
}

// Sets a non-empty managedFields list on `obj`, making metadata if it has none.
void putManagedFields(json* obj, json mf) {
  auto md = obj->find("metadata");
  if (md == obj->end() || md->is_null()) {
    (*obj)["metadata"] = json::object();
    md = obj->find("metadata");
  }
  if (!md->is_object()) return;  // malformed metadata is validation's to report
  (*md)["managedFields"] = std::move(mf);
}

void writeManagedFields(json* obj, const std::vector<Entry>& entries) {
  json mf = encodeManagedFields(entries);
  if (!obj->is_object()) return;
  if (mf.empty()) {
    if (auto md = obj->find("metadata"); md != obj->end() && md->is_object()) {
      md->erase("managedFields");
    }
    return;
  }
  putManagedFields(obj, std::move(mf));
}

const json* managedFieldsOf(const json* obj) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  auto md = obj->find("metadata");
  if (md == obj->end() || !md->is_object()) return nullptr;
  auto mf = md->find("managedFields");
  return mf == md->end() ? nullptr : &*mf;
}

// The object without the fields ownership never covers, for "did anything change" checks.
json withoutManagedFields(json obj) {
  if (obj.is_object()) {
    if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
      md->erase("managedFields");
    }
  }
  return obj;
}

// Takes the changed fields away from other managers: those in `take` (added or modified by
// this write) and those removed from the object.
void disown(std::vector<Entry>* entries, const Entry& self, const FieldSet& take,
            const FieldSet& removed) {
  for (auto& e : *entries) {
    if (e.sameIdentity(self)) continue;
    bool changed = subtract(&e.set, take);
    changed = subtract(&e.set, removed) || changed;
    if (changed) e.touched = true;
  }
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------

std::vector<std::string> FieldSet::paths() const {
  std::vector<std::string> out;
  collectPaths(*this, "", &out);
  return out;
}

Result<FieldSet> fieldSetFromObject(const json& obj, const schema::Type* type) {
  FieldSet s;
  BERTH_RETURN_IF_ERROR(walkObject(obj, type, nullptr, &s, 0));
  s.member = false;
  pruneEmpty(&s);
  return s;
}

json fieldSetToFieldsV1(const FieldSet& set) {
  // Both maps order keys alike (and "." sorts before "f:", "i:", "k:", "v:"): each insert is
  // hinted at the end instead of searched for.
  json out = json::object();
  auto& obj = out.get_ref<json::object_t&>();
  for (const auto& [k, c] : set.children) {
    json child = fieldSetToFieldsV1(c);
    if (c.member && !c.children.empty()) {
      auto& sub = child.get_ref<json::object_t&>();
      sub.emplace_hint(sub.begin(), ".", json::object());
    }
    obj.emplace_hint(obj.end(), k, std::move(child));
  }
  return out;
}

namespace {
Status parseFieldsV1(const json& j, FieldSet* s, int depth) {
  if (depth > kMaxDepth) return badRequest("fieldsV1 is nested too deeply");
  if (!j.is_object()) return badRequest("fieldsV1 must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k == ".") {
      s->member = true;
      continue;
    }
    if (k.size() < 2 || k[1] != ':' || (k[0] != 'f' && k[0] != 'k' && k[0] != 'v' && k[0] != 'i')) {
      return badRequest("fieldsV1: invalid path element \"" + k + "\"");
    }
    std::string pe = k;
    if (k[0] == 'k' || k[0] == 'v') {
      // Re-serialise so keys written by other clients compare equal to ours.
      json parsed = json::parse(k.substr(2), nullptr, false);
      if (parsed.is_discarded() || (k[0] == 'k' && !parsed.is_object())) {
        return badRequest("fieldsV1: invalid path element \"" + k + "\"");
      }
      pe = k.substr(0, 2) + internal::dumpJson(parsed);
    }
    FieldSet& c = s->children[pe];
    if (!v.is_object()) return badRequest("fieldsV1 must be an object");
    if (v.empty()) {
      c.member = true;
      continue;
    }
    BERTH_RETURN_IF_ERROR(parseFieldsV1(v, &c, depth + 1));
  }
  return Status::ok();
}
}  // namespace

Result<FieldSet> fieldSetFromFieldsV1(const json& fields_v1) {
  FieldSet s;
  BERTH_RETURN_IF_ERROR(parseFieldsV1(fields_v1, &s, 0));
  pruneEmpty(&s);
  return s;
}

Result<ApplyResult> serverSideApplyDetailed(const json* live, const json& applied,
                                            const std::string& manager, bool force,
                                            const schema::Type* type,
                                            const std::string& now_rfc3339,
                                            const std::string& api_version,
                                            const std::string& subresource) {
  if (!applied.is_object()) return badRequest("the applied configuration must be an object");
  const bool status_only = subresource == "status";
  if (live != nullptr && !live->is_object()) return internalError("live object is not an object");
  if (manager.empty()) {
    return badRequest("PATCH requests with Content-Type application/apply-patch+yaml must "
                      "specify a fieldManager");
  }

  // What the applier may set: no server-owned metadata, no status on the main resource.
  json config = applied;
  if (auto md = config.find("metadata"); md != config.end() && md->is_object()) {
    for (const char* k : {"managedFields", "resourceVersion", "uid", "creationTimestamp",
                          "generation", "selfLink", "deletionTimestamp",
                          "deletionGracePeriodSeconds"}) {
      md->erase(k);
    }
  }
  if (status_only) {
    // Only the status is applied through /status.
    for (auto it = config.begin(); it != config.end();) {
      if (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata" ||
          it.key() == "status")
        ++it;
      else
        it = config.erase(it);
    }
  } else {
    config.erase("status");
  }

  json base = live ? *live : json::object();
  std::vector<Entry> entries;
  if (const json* mf = managedFieldsOf(live)) {
    // Unreadable stored ownership is dropped, as upstream resets it, rather than wedging
    // every later apply.
    auto d = decodeManagedFields(*mf);
    if (d.isOk()) entries = std::move(d).value();
  }

  BERTH_ASSIGN_OR_RETURN(FieldSet config_set, fieldSetFromObject(config, type));
  stripIgnored(&config_set, status_only);
  pruneEmpty(&config_set);

  BERTH_ASSIGN_OR_RETURN(json merged, mergeValues(&base, config, type, nullptr, 0));

  Entry self{manager, "Apply", api_version, now_rfc3339, subresource, {}, true};
  FieldSet last;
  auto self_it = std::find_if(entries.begin(), entries.end(),
                              [&](const Entry& e) { return e.sameIdentity(self); });
  bool set_changed = true;
  if (self_it != entries.end()) {
    last = self_it->set;
    set_changed = !(last == config_set);
    self_it->set = config_set;
    self_it->api_version = api_version;
  } else {
    self.set = config_set;
    entries.push_back(self);
  }

  // Prune what this manager applied before, omits now, and nobody else owns.
  if (!last.empty()) {
    FieldSet owned;
    for (const auto& e : entries) unionInto(&owned, e.set);
    pruneUnowned(&merged, last, &owned, type, nullptr, 0);
  }

  Comparison cmp = compareObjects(withoutManagedFields(base), withoutManagedFields(merged), type);
  stripIgnored(&cmp.added, status_only);
  stripIgnored(&cmp.modified, status_only);
  stripIgnored(&cmp.removed, status_only);
  bool same = cmp.same();
  FieldSet changed = std::move(cmp.added);
  unionInto(&changed, cmp.modified);

  ApplyResult result;
  std::vector<std::pair<std::string, std::string>> conflicts;  // (describe, path)
  std::map<std::string, std::vector<std::string>> by_manager;
  for (const auto& e : entries) {
    if (e.sameIdentity(self)) continue;
    FieldSet c = intersection(e.set, changed);
    for (const auto& p : c.paths()) {
      conflicts.emplace_back(e.describe(), p);
      by_manager[e.describe()].push_back(p);
    }
  }
  for (const auto& [who, path] : conflicts) {
    result.conflicts.push_back({"FieldManagerConflict", "conflict with " + who, path});
  }
  if (!conflicts.empty() && !force) {
    std::string msg;
    if (conflicts.size() == 1) {
      msg = "Apply failed with 1 conflict: conflict with " + conflicts[0].first + ": " +
            conflicts[0].second;
    } else {
      std::vector<std::string> lines;
      for (const auto& [who, paths] : by_manager) {
        lines.push_back("conflicts with " + who + ":");
        for (const auto& p : paths) lines.push_back("- " + p);
      }
      msg = "Apply failed with " + std::to_string(conflicts.size()) +
            " conflicts: " + join(lines, "\n");
    }
    Status st(Code::kConflict, msg);
    for (const auto& c : result.conflicts) st = st.withCause(c);
    return st;
  }

  disown(&entries, self, changed, cmp.removed);
  for (auto& e : entries) {
    if (!e.sameIdentity(self)) continue;
    if (set_changed || !same || e.time.empty()) e.time = now_rfc3339;
  }
  writeManagedFields(&merged, entries);
  result.object = std::move(merged);
  return result;
}

Result<json> serverSideApply(const json* live, const json& applied, const std::string& manager,
                             bool force, const schema::Type* type, const std::string& now_rfc3339,
                             const std::string& api_version, const std::string& subresource) {
  BERTH_ASSIGN_OR_RETURN(ApplyResult r,
                         serverSideApplyDetailed(live, applied, manager, force, type, now_rfc3339,
                                                 api_version, subresource));
  return std::move(r.object);
}

namespace {

// Comparer::addAll for a create, writing FieldsV1 straight into `node` (the path's object)
// instead of building a FieldSet and converting it: every field of `r` is added. `member`
// says the caller already counts the path itself in the set (a list item). Returns false when
// the path ends up neither a member nor holding anything, and the caller drops it (as
// pruneEmpty would).
bool addAllFieldsV1(const json& r, const schema::Type* t, const schema::Field* f, bool member,
                    json::object_t* node, int depth) {
  if (depth > kMaxDepth) return member;
  std::vector<std::string> keys;
  ListKind kind = listKind(f, &keys);
  if (r.is_object() && !atomicObject(f) && !r.empty()) {
    member = member || isMapType(t);
    for (const auto& [k, v] : r.items()) {
      internal::Child c = childOf(t, k);
      // r's keys arrive sorted, so "f:"+k does too: hint each insert at the end.
      auto it = node->emplace_hint(node->end(), "f:" + k, json::object());
      if (!addAllFieldsV1(v, c.type, c.field, false, it->second.get_ptr<json::object_t*>(),
                          depth + 1)) {
        node->erase(it);
      }
    }
  } else if (r.is_array() && kind != ListKind::kAtomic && !r.empty()) {
    std::vector<std::pair<std::string, const json*>> items;
    std::map<std::string, int> count;
    for (const auto& item : r) {
      auto pe = itemKey(item, kind, keys);
      if (!pe) return true;  // an unnameable item makes the whole list a leaf
      ++count[*pe];
      items.emplace_back(std::move(*pe), &item);
    }
    const schema::Type* elem = elemOf(f ? f->type.get() : nullptr);
    for (const auto& [pe, item] : items) {
      // Each item is a member; a duplicated one is owned as a whole.
      auto* child = node->emplace(pe, json::object()).first->second.get_ptr<json::object_t*>();
      if (count[pe] == 1) addAllFieldsV1(*item, elem, nullptr, true, child, depth + 1);
    }
  } else {
    return true;  // a leaf
  }
  if (member && !node->empty()) node->emplace_hint(node->begin(), ".", json::object());
  return member || !node->empty();
}

// recordUpdate for an object created without managedFields of its own: one entry, this
// manager's, owning every field but those stripIgnored drops.
void recordCreate(json* created, const std::string& manager, const std::string& now_rfc3339,
                  const std::string& api_version, const schema::Type* type) {
  json fields = json::object();
  auto* root = fields.get_ptr<json::object_t*>();
  for (const auto& [k, v] : created->items()) {
    if (std::find(std::begin(kUnownedTopLevel), std::end(kUnownedTopLevel), k) !=
        std::end(kUnownedTopLevel))
      continue;
    internal::Child c = childOf(type, k);
    auto it = root->emplace_hint(root->end(), "f:" + k, json::object());
    auto* node = it->second.get_ptr<json::object_t*>();
    bool keep = addAllFieldsV1(v, c.type, c.field, false, node, 1);
    if (keep && k == "metadata") {
      node->erase(".");
      for (const char* m : kUnownedMetadata) node->erase(m);
      keep = !node->empty();
    }
    if (!keep) root->erase(it);
  }
  if (root->empty()) return;  // nothing to own: no entry (and no managedFields were given)
  json list = json::array();
  list.push_back(entryJson(manager, "Update", api_version, now_rfc3339, "", std::move(fields)));
  putManagedFields(created, std::move(list));
}

}  // namespace

void recordUpdate(json* updated, const json* old, const std::string& manager,
                  const std::string& now_rfc3339, const std::string& api_version,
                  const schema::Type* type, const std::string& subresource) {
  if (updated == nullptr || !updated->is_object()) return;
  bool status_only = subresource == "status";
  const std::string who = manager.empty() ? "unknown" : manager;
  if (old == nullptr && subresource.empty() && managedFieldsOf(updated) == nullptr) {
    return recordCreate(updated, who, now_rfc3339, api_version, type);
  }

  std::vector<Entry> entries;
  const json* incoming = managedFieldsOf(updated);
  if (incoming && incoming->is_array() && incoming->size() == 1 && incoming->at(0).is_object() &&
      incoming->at(0).empty()) {
    // `[{}]` is the documented way to drop all ownership.
    writeManagedFields(updated, {});
    return;
  }
  bool have = false;
  if (incoming && incoming->is_array() && !incoming->empty()) {
    auto d = decodeManagedFields(*incoming);
    if (d.isOk()) {
      entries = std::move(d).value();
      have = true;
    }
  }
  if (!have) {
    if (const json* mf = managedFieldsOf(old)) {
      auto d = decodeManagedFields(*mf);
      if (d.isOk()) entries = std::move(d).value();
    }
  }

  // The comparison skips managedFields (stripIgnored drops them from the result anyway);
  // copy an object only when it carries them.
  static const json kEmpty = json::object();
  json old_copy, updated_copy;
  const json* before = &kEmpty;
  if (old) before = managedFieldsOf(old) ? &(old_copy = withoutManagedFields(*old)) : old;
  const json* after = updated;
  if (managedFieldsOf(updated)) after = &(updated_copy = withoutManagedFields(*updated));
  Comparison cmp = compareObjects(*before, *after, type);
  for (FieldSet* s : {&cmp.added, &cmp.modified, &cmp.removed}) {
    stripIgnored(s, status_only);
    pruneEmpty(s);
  }
  bool same = cmp.same();
  FieldSet changed = std::move(cmp.added);
  unionInto(&changed, cmp.modified);

  Entry self{who, "Update", api_version, now_rfc3339, subresource, {}, true};
  disown(&entries, self, changed, cmp.removed);
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const Entry& e) { return e.sameIdentity(self); });
  if (it == entries.end()) {
    entries.push_back(self);
    it = entries.end() - 1;
  }
  if (it->set.empty()) {
    // A first write by this manager (every create): its set is what changed, no copy needed.
    if (!changed.empty() || !same) it->time = now_rfc3339;
    it->set = std::move(changed);
  } else {
    FieldSet mine = it->set;
    subtract(&mine, cmp.removed);
    unionInto(&mine, changed);
    pruneEmpty(&mine);
    if (!(mine == it->set) || !same) it->time = now_rfc3339;
    it->set = std::move(mine);
  }
  writeManagedFields(updated, entries);
}

}  // namespace berth::apiserver::patch
