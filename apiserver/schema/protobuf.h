// Kubernetes protobuf wire format ("application/vnd.kubernetes.protobuf") to and from the JSON
// form of an object, driven by the schema registry's field numbers.
//
// The envelope is the magic "k8s\0" followed by a runtime.Unknown message: 1 typeMeta
// {1 apiVersion, 2 kind}, 2 raw (the object), 3 contentEncoding, 4 contentType. Decoding gives
// exactly what the JSON wire form of the same object would be: apiVersion and kind set, zero
// scalars that upstream would omit left out, Time as RFC 3339, IntOrString as int or string.
// Unknown field numbers are skipped (as upstream's decoder does). Malformed input of any kind
// is a kBadRequest naming the problem; the decoder never reads out of bounds and bounds its
// nesting depth.
//
// Thread-safety: pure functions; the Registry is immutable.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace berth::apiserver::schema {

class Registry;

inline constexpr std::string_view kProtobufMagic{"k8s\0", 4};

Result<nlohmann::json> decodeKubernetesProtobuf(std::string_view body);
Result<nlohmann::json> decodeKubernetesProtobuf(std::string_view body, const Registry& registry);

// The reverse: `obj` must carry apiVersion and kind of a kind in the registry (lists too:
// "DeploymentList"). JSON fields not in the schema are dropped (protobuf cannot carry them).
Result<std::string> encodeKubernetesProtobuf(const nlohmann::json& obj);
Result<std::string> encodeKubernetesProtobuf(const nlohmann::json& obj, const Registry& registry);

}  // namespace berth::apiserver::schema
