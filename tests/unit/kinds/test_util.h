// Shared helpers for the kinds tests.
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_spec.h"
#include "common/time_util.h"

namespace berth::apiserver::testing {

inline const KindSpec& spec(const std::string& group, const std::string& version,
                            const std::string& kind) {
  const KindSpec* k = KindRegistry::builtin().byKind(group, version, kind);
  if (!k) throw std::runtime_error("no kind " + kind);
  return *k;
}

inline TimePoint at(const char* rfc3339) {
  TimePoint t;
  if (!parseRfc3339(rfc3339, &t)) throw std::runtime_error("bad time");
  return t;
}

// "field: message" lines, the way kubectl prints an Invalid error's causes.
inline std::vector<std::string> causeLines(const std::vector<Cause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes) out.push_back(c.field + ": " + c.message);
  return out;
}

inline json defaulted(const KindSpec& k, json obj) {
  if (k.defaults) k.defaults(obj);
  return obj;
}

// The cause lines of validating `obj` after defaulting it (`old`: an update's previous object).
inline std::vector<std::string> check(const KindSpec& k, json obj, const json* old = nullptr) {
  obj = defaulted(k, obj);
  return causeLines(k.validate(obj, old));
}

}  // namespace berth::apiserver::testing
