// ObjectFilter: the label and field selectors of a list or watch request, applied to objects.
// Thread-safety: immutable after construction; matches() is const and thread-safe.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "apiserver/http/server.h"
#include "apiserver/kinds/kind_spec.h"
#include "apiserver/patch/selectors.h"
#include "common/status.h"

namespace berth::apiserver {

class ObjectFilter {
 public:
  // Parses labelSelector / fieldSelector; unsupported fields give 400 as upstream.
  static Result<ObjectFilter> fromRequest(const KindSpec& k, const http::Request& req);
  void addNameRequirement(const std::string& name);
  bool empty() const { return labels_.empty() && fields_.empty(); }
  bool matches(const nlohmann::json& obj) const;

 private:
  const KindSpec* k_ = nullptr;
  patch::LabelSelector labels_;
  std::vector<patch::FieldSelector::Requirement> fields_;
};

// The scale subresource's status.selector: the object's label selector as a string.
std::string scaleSelector(const KindSpec& k, const nlohmann::json& obj);
nlohmann::json scaleObject(const KindSpec& k, const nlohmann::json& obj);

}  // namespace berth::apiserver
