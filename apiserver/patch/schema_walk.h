// Internal: walking a schema::Type tree without linking the schema library.
//
// A null Type means "unknown": maps merge, lists are atomic. Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "apiserver/schema/schema.h"

namespace berth::apiserver::patch::internal {

// What the schema says about one key of an object.
struct Child {
  const schema::Field* field = nullptr;  // null for map entries and unknown keys
  const schema::Type* type = nullptr;    // null when unknown
};

inline Child childOf(const schema::Type* t, std::string_view key) {
  if (t == nullptr) return {};
  if (t->kind == schema::TypeKind::kObject) {
    for (const auto& f : t->fields) {
      if (f.name == key) return {&f, f.type.get()};
    }
    return {};
  }
  if (t->kind == schema::TypeKind::kMap) return {nullptr, t->elem.get()};
  return {};
}

inline const schema::Type* elemOf(const schema::Type* t) {
  if (t == nullptr || t->kind != schema::TypeKind::kArray) return nullptr;
  return t->elem.get();
}

}  // namespace berth::apiserver::patch::internal
