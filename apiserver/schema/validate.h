// Strict decoding helpers for request bodies: unknown and duplicate fields (fieldValidation
// Strict/Warn), JSON type mismatches, and YAML to JSON as Kubernetes converts it.
//
// Type mismatches (a string where an integer is required...) are what upstream reports as a
// 400 BadRequest decode error, before validation; typeErrors returns them as causes with
// reason "FieldValueTypeInvalid" and callers answer 400 (not 422) with the first message.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "apiserver/schema/schema.h"
#include "common/status.h"

namespace berth::apiserver::schema {

// Paths of fields in `obj` the schema does not declare, e.g. "spec.replicaz",
// "spec.template.spec.containers[0].imagee". Objects marked preserve-unknown and kAny values
// are not looked into. Order: document order of a depth-first walk.
std::vector<std::string> unknownFields(const nlohmann::json& obj, const Type& type);

// Values whose JSON type does not fit the schema (null is always accepted, as upstream).
// message like: `spec.replicas: expected integer, got string "3"`.
std::vector<Cause> typeErrors(const nlohmann::json& obj, const Type& type);

// Parses JSON; keys repeated within one object are reported as paths ("metadata.name") in
// `duplicate_fields` (when not null; the last value wins, as upstream). Syntax errors are
// kBadRequest with the parser's position message. Nesting deeper than 1000 is rejected.
Result<nlohmann::json> parseJsonStrict(std::string_view body,
                                       std::vector<std::string>* duplicate_fields);

// One YAML document to JSON with YAML 1.1 scalars, as sigs.k8s.io/yaml does: unquoted
// true/false/yes/no/on/off (any case form go-yaml accepts) are booleans, integers (decimal,
// 0x hex, 0o/leading-0 octal, 0b binary) and floats are numbers, null/~/empty are null; quoted
// scalars stay strings; .inf/.nan and timestamps stay strings. Errors are kBadRequest with the
// line and column. Anchors are expanded with a bound on the output size.
Result<nlohmann::json> yamlToJson(std::string_view yaml);

}  // namespace berth::apiserver::schema
