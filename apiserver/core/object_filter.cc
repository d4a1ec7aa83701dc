#include "apiserver/core/object_filter.h"

#include <nlohmann/json.hpp>

namespace berth::apiserver {

Result<ObjectFilter> ObjectFilter::fromRequest(const KindSpec& k, const http::Request& req) {
  ObjectFilter f;
  f.k_ = &k;
  std::string ls = req.param("labelSelector");
  if (!ls.empty()) {
    auto sel = patch::LabelSelector::parse(ls);
    if (!sel.isOk()) return badRequest(sel.status().message());
    f.labels_ = std::move(sel).value();
  }
  std::string fs = req.param("fieldSelector");
  if (!fs.empty()) {
    auto sel = patch::FieldSelector::parse(fs);
    if (!sel.isOk()) return badRequest(sel.status().message());
    for (const auto& r : sel->requirements()) {
      bool known = r.field == "metadata.name" || r.field == "metadata.namespace" ||
                   std::find(k.selectable_fields.begin(), k.selectable_fields.end(), r.field) !=
                       k.selectable_fields.end();
      if (!known)
        return badRequest("field label not supported: " + r.field);
      f.fields_.push_back(r);
    }
  }
  return f;
}

void ObjectFilter::addNameRequirement(const std::string& name) {
  patch::FieldSelector::Requirement r;
  r.field = "metadata.name";
  r.op = patch::FieldSelector::Op::kEquals;
  r.value = name;
  fields_.push_back(r);
}

bool ObjectFilter::matches(const nlohmann::json& obj) const {
  if (!labels_.empty()) {
    static const nlohmann::json kNull;
    const auto& meta = obj.contains("metadata") ? obj["metadata"] : kNull;
    if (!labels_.matches(meta.is_object() && meta.contains("labels") ? meta["labels"] : kNull))
      return false;
  }
  for (const auto& r : fields_) {
    std::string v;
    if (r.field == "metadata.name") v = obj["metadata"].value("name", "");
    else if (r.field == "metadata.namespace") v = obj["metadata"].value("namespace", "");
    else if (k_->field_value) v = k_->field_value(obj, r.field);
    bool eq = v == r.value;
    if ((r.op == patch::FieldSelector::Op::kNotEquals) == eq) return false;
  }
  return true;
}

std::string scaleSelector(const KindSpec& k, const nlohmann::json& obj) {
  if (k.scale_selector) return k.scale_selector(obj);
  nlohmann::json::json_pointer ptr(k.scale_label_selector);
  if (!obj.contains(ptr)) return "";
  const auto& sel = obj.at(ptr);
  if (sel.is_string()) return sel.get<std::string>();
  auto parsed = patch::LabelSelector::fromObject(sel);
  return parsed.isOk() ? parsed->toString() : "";
}

}  // namespace berth::apiserver
