// The project's own type schemas: one source for every kind's fields.
//
// Schemas are written as data (apiserver/schema/types_*.yaml, embedded at build time) in the
// project's own compact format, and loaded once into a Registry of Types. Everything that needs
// to know a kind's shape reads it from here: OpenAPI v3 documents (and so `kubectl explain` and
// kubectl's patch metadata), strict field validation (unknown fields), strategic merge patch
// (patch strategies and merge keys), server-side apply list types, and protobuf decoding
// (field numbers).
//
// Thread-safety: the Registry is immutable after load; Types are shared read-only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth::apiserver::schema {

enum class TypeKind {
  kString,
  kBytes,        // JSON: base64 string; protobuf: bytes
  kBool,
  kInt32,
  kInt64,
  kDouble,
  kObject,       // a struct with named fields
  kArray,        // elem
  kMap,          // map[string]elem
  kTime,         // metav1.Time: JSON RFC 3339 string; protobuf {1: seconds, 2: nanos}
  kMicroTime,    // metav1.MicroTime: as kTime with microseconds
  kDuration,     // metav1.Duration: JSON string "1m0s"; protobuf {1: int64 nanoseconds}
  kQuantity,     // resource.Quantity: JSON string or number; protobuf {1: string}
  kIntOrString,  // intstr.IntOrString: JSON int or string; protobuf {1 type, 2 intVal, 3 strVal}
  kAny,          // free-form JSON (RawExtension, JSON); protobuf: runtime.RawExtension {1: raw}
};

struct Field;

struct Type {
  std::string name;  // e.g. "io.k8s.api.core.v1.PodSpec"; primitives have their kind's name
  TypeKind kind = TypeKind::kAny;
  std::string description;
  std::vector<Field> fields;                // kObject, declaration order
  std::shared_ptr<const Type> elem;         // kArray, kMap
  bool preserve_unknown_fields = false;     // kObject: extra fields allowed (not all written out)
  std::vector<std::string> enum_values;     // kString: allowed values, if closed

  const Field* field(std::string_view name) const;
  // A field on the wire at this level (proto_inline == 0); inline_parent selects a field of the
  // embedded message with that number instead.
  const Field* fieldByProto(int number, int inline_parent = 0) const;
  bool isScalar() const { return kind != TypeKind::kObject && kind != TypeKind::kArray &&
                                 kind != TypeKind::kMap; }
};

using TypePtr = std::shared_ptr<const Type>;

struct Field {
  std::string name;
  TypePtr type;
  int proto = 0;                   // protobuf field number (0 = not on the wire)
  std::string description;
  bool required = false;
  // Strategic merge patch, as upstream's `patchStrategy` / `patchMergeKey` tags.
  bool patch_merge = false;        // patchStrategy contains "merge"
  bool patch_retain_keys = false;  // patchStrategy contains "retainKeys"
  std::string patch_merge_key;     // for lists of objects with patch_merge
  // Server-side apply, as `+listType` / `+listMapKey` / `+mapType`.
  std::string list_type;           // "", "atomic", "set", "map"
  std::vector<std::string> list_map_keys;
  std::string map_type;            // "", "atomic", "granular"
  // Go pointer to a scalar (`*int32`): protobuf decoding keeps an explicit zero; for the other
  // scalars a zero value is left out of the JSON, as upstream's omitempty does.
  bool pointer = false;
  // Nonzero when the field comes from an embedded struct (`json:",inline"`, e.g. Volume's
  // VolumeSource): it appears flat in JSON and in `fields`, but in protobuf it lives inside the
  // nested message with this number (and `proto` is its number inside that message).
  int proto_inline = 0;
};

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
};

class Registry {
 public:
  // The registry built from the embedded schema data; loaded on first use.
  static const Registry& get();
  // Builds a registry from YAML text in the schema format (for tests).
  static Result<std::unique_ptr<Registry>> load(const std::vector<std::string>& yaml_documents);

  TypePtr find(std::string_view type_name) const;
  // The top-level type of a kind, e.g. ("apps", "v1", "Deployment").
  TypePtr forKind(const GroupVersionKind& gvk) const;
  const std::map<std::string, TypePtr>& types() const { return types_; }
  // Every kind declared in the schema files (not the synthesized <Kind>List types).
  const std::vector<std::pair<GroupVersionKind, std::string>>& kinds() const { return kinds_; }
  // The kind a top-level type is for, or nullptr.
  const GroupVersionKind* kindOf(std::string_view type_name) const;

 private:
  std::map<std::string, TypePtr> types_;
  std::vector<std::pair<GroupVersionKind, std::string>> kinds_;  // gvk -> type name
  // "group/version/Kind" -> type name, including the synthesized <Kind>List types.
  std::map<std::string, std::string, std::less<>> kind_index_;
  std::map<std::string, GroupVersionKind, std::less<>> kind_of_;
  friend class Loader;
};

}  // namespace berth::apiserver::schema
