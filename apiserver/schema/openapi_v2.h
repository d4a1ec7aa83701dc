// The OpenAPI v2 (Swagger 2.0) document at `/openapi/v2`, built from the v3 documents' schemas.
//
// kubectl still reads it: a `kind: List` manifest (what `kubectl get a b -o yaml` writes) is
// validated on the client against v2's definitions, because fieldValidation is not a List's to
// check on the server. Its `definitions` hold every component schema of the v3 documents, with
// the v3-only forms rewritten (an allOf-wrapped $ref becomes the $ref, int-or-string a string,
// nullable / anyOf / oneOf dropped). kubectl asks for it as gnostic's OpenAPIv2 protobuf.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::apiserver::schema {

// The v2 document of the schemas in `v3_docs` (each an OpenAPI 3.0 document with
// components.schemas); `version` is the API's version for info.version.
nlohmann::json openApiV2Document(const std::vector<nlohmann::json>& v3_docs,
                                 const std::string& version);

// `doc` as gnostic's openapi.v2.Document message (the
// application/com.github.proto-openapi.spec.v2.v1.0+protobuf body).
std::string encodeOpenApiV2(const nlohmann::json& doc);

}  // namespace berth::apiserver::schema
