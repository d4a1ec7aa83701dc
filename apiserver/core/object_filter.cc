#include "apiserver/core/object_filter.h"

#include <nlohmann/json.hpp>

#include "apiserver/core/json_text.h"
#include "apiserver/core/watch_cache.h"
#include "common/json_parse.h"

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
    for (auto r : sel->requirements()) {
      // Old v1 clients select a pod's node as spec.host.
      if (k.group.empty() && k.resource == "pods" && r.field == "spec.host")
        r.field = "spec.nodeName";
      bool known = r.field == "metadata.name" || r.field == "metadata.namespace" ||
                   std::find(k.selectable_fields.begin(), k.selectable_fields.end(), r.field) !=
                       k.selectable_fields.end();
      if (!known)
        return badRequest("field label not supported: " + r.field);
      f.addField(r);
    }
  }
  return f;
}

void ObjectFilter::addNameRequirement(const std::string& name) {
  patch::FieldSelector::Requirement r;
  r.field = "metadata.name";
  r.op = patch::FieldSelector::Op::kEquals;
  r.value = name;
  addField(r);
}

void ObjectFilter::addField(const patch::FieldSelector::Requirement& r) {
  TextField t;
  auto quoted = [](const std::vector<std::string>& path) {
    std::vector<std::string> out;
    for (const auto& p : path) out.push_back("\"" + p + "\"");
    return out;
  };
  if (r.field == "metadata.name") {
    t.quoted_path = quoted({"metadata", "name"});
  } else if (r.field == "metadata.namespace") {
    t.quoted_path = quoted({"metadata", "namespace"});
  } else if (k_) {
    for (const auto& p : k_->plain_fields) {
      if (p.field != r.field) continue;
      t.quoted_path = quoted(p.path);
      t.flag = p.flag;
      break;
    }
  }
  fields_.push_back(r);
  text_fields_.push_back(std::move(t));
}

std::string ObjectFilter::fieldValue(const nlohmann::json& obj, const std::string& field) const {
  if (field == "metadata.name") return obj["metadata"].value("name", "");
  if (field == "metadata.namespace") return obj["metadata"].value("namespace", "");
  if (k_ && k_->field_value) return k_->field_value(obj, field);
  return "";
}

bool ObjectFilter::matches(const nlohmann::json& obj) const {
  if (!labels_.empty()) {
    static const nlohmann::json kNull;
    const auto& meta = obj.contains("metadata") ? obj["metadata"] : kNull;
    if (!labels_.matches(meta.is_object() && meta.contains("labels") ? meta["labels"] : kNull))
      return false;
  }
  for (const auto& r : fields_) {
    bool eq = fieldValue(obj, r.field) == r.value;
    if ((r.op == patch::FieldSelector::Op::kNotEquals) == eq) return false;
  }
  return true;
}

bool ObjectFilter::matches(const CachedObject& obj) const {
  // managedFields are never selected on.
  std::string_view raw = obj.rawWithoutManagedFields();
  // Fields first: they are the common watch filter (a node's pods) and usually decide alone.
  for (size_t i = 0; i < fields_.size(); ++i) {
    const auto& r = fields_[i];
    const auto& t = text_fields_[i];
    std::string v;
    if (t.quoted_path.empty()) {
      v = fieldValue(obj.obj.get(), r.field);
    } else {
      std::string_view text = jsontext::valueAt(raw, t.quoted_path);
      if (t.flag) v = text == "true" ? "true" : "false";
      else v = jsontext::stringValue(text).value_or("");
    }
    bool eq = v == r.value;
    if ((r.op == patch::FieldSelector::Op::kNotEquals) == eq) return false;
  }
  if (!labels_.empty()) {
    // Only the labels object is parsed; absent (or not an object) reads as no labels.
    static const std::vector<std::string> kLabels = {"\"metadata\"", "\"labels\""};
    std::string_view text = jsontext::valueAt(raw, kLabels);
    nlohmann::json labels;  // null
    if (!text.empty()) {
      labels = parseJson(text);
      if (labels.is_discarded()) labels = nullptr;
    }
    if (!labels_.matches(labels)) return false;
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
