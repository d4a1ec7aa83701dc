// Internal: walking a schema::Type tree without linking the schema library, and JSON text.
//
// A null Type means "unknown": maps merge, lists are atomic. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

// Compact JSON text that never throws: invalid UTF-8 in strings becomes U+FFFD.
inline std::string dumpJson(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// obj[key] when it is a string, else "" (json::value() would throw on a wrong type).
inline std::string stringField(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace berth::apiserver::patch::internal
