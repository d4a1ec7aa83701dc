// ObjectFilter: the label and field selectors of a list or watch request, applied to objects.
// matches(const CachedObject&) reads the labels and the kind's plain fields (KindSpec::
// plain_fields, metadata.name/namespace) from the cached text without parsing the object, so a
// watch fan-out with a selector costs a scan, not a parse, per written object; other fields
// parse it.
// Thread-safety: immutable after construction; matches() is const and thread-safe.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "apiserver/http/server.h"
#include "apiserver/kinds/kind_spec.h"
#include "apiserver/patch/selectors.h"
#include "common/status.h"

namespace berth::apiserver {

struct CachedObject;

class ObjectFilter {
 public:
  // Parses labelSelector / fieldSelector; unsupported fields give 400 as upstream.
  static Result<ObjectFilter> fromRequest(const KindSpec& k, const http::Request& req);
  void addNameRequirement(const std::string& name);
  bool empty() const { return labels_.empty() && fields_.empty(); }
  bool matches(const nlohmann::json& obj) const;
  bool matches(const CachedObject& obj) const;

 private:
  // How a field requirement is read from the object's text: the member path with quoted
  // names, or empty `quoted_path` when the field needs the parsed object.
  struct TextField {
    std::vector<std::string> quoted_path;
    bool flag = false;
  };
  void addField(const patch::FieldSelector::Requirement& r);
  std::string fieldValue(const nlohmann::json& obj, const std::string& field) const;

  const KindSpec* k_ = nullptr;
  patch::LabelSelector labels_;
  std::vector<patch::FieldSelector::Requirement> fields_;
  std::vector<TextField> text_fields_;  // parallel to fields_
};

// The scale subresource's status.selector: the object's label selector as a string.
std::string scaleSelector(const KindSpec& k, const nlohmann::json& obj);
nlohmann::json scaleObject(const KindSpec& k, const nlohmann::json& obj);

}  // namespace berth::apiserver
