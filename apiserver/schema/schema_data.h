// The schema YAML files, embedded at build time (see embed_schemas.py). Only registry.cc reads
// these; everyone else uses Registry::get(). Immutable data, thread-safe.
#pragma once

namespace berth::apiserver::schema {

struct EmbeddedSchemaFile {
  const char* name;  // e.g. "types_core.yaml"
  const char* text;
};

extern const EmbeddedSchemaFile kSchemaFiles[];
extern const int kSchemaFileCount;

}  // namespace berth::apiserver::schema
