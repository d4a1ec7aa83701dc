// Server-side printing: meta.k8s.io/v1 Tables from a KindSpec's columns and cells.
#include <nlohmann/json.hpp>

#include "apiserver/core/api_context.h"
#include "apiserver/core/json_text.h"

namespace berth::apiserver {

json tableColumns(const KindSpec& k) {
  json cols = json::array();
  if (k.columns.empty() || !k.cells) {
    cols.push_back({{"name", "Name"}, {"type", "string"}, {"format", "name"},
                    {"description", "Name must be unique within a namespace."}, {"priority", 0}});
    cols.push_back({{"name", "Created At"}, {"type", "date"}, {"format", ""},
                    {"description", "CreationTimestamp is the time the object was created."},
                    {"priority", 0}});
    return cols;
  }
  for (const auto& c : k.columns)
    cols.push_back({{"name", c.name}, {"type", c.type}, {"format", c.format},
                    {"description", c.description}, {"priority", c.priority}});
  return cols;
}

json tableRow(const KindSpec& k, const json& obj, const std::string& include_object, TimePoint now) {
  json cells = json::array();
  const json& meta = obj["metadata"];
  if (k.columns.empty() || !k.cells) {
    cells.push_back(meta.value("name", ""));
    cells.push_back(meta.value("creationTimestamp", ""));
  } else {
    for (auto& c : k.cells(obj, now)) cells.push_back(std::move(c));
  }
  json row = {{"cells", cells}};
  if (include_object == "Object") {
    row["object"] = obj;
  } else if (include_object != "None") {
    // Managed fields are large and no printer reads them; leave them out of the rows.
    json m = json::object();
    for (auto it = meta.begin(); it != meta.end(); ++it)
      if (it.key() != "managedFields") m[it.key()] = it.value();
    row["object"] = {{"kind", "PartialObjectMetadata"},
                     {"apiVersion", "meta.k8s.io/v1"},
                     {"metadata", std::move(m)}};
  }
  // e.g. finished pods are marked Completed, so `kubectl get` can tell them apart.
  if (k.row_conditions) {
    json conditions = k.row_conditions(obj);
    if (conditions.is_array() && !conditions.empty()) row["conditions"] = std::move(conditions);
  }
  return row;
}

json buildTable(const KindSpec& k, const std::vector<const json*>& objs,
                const std::string& include_object, bool with_columns) {
  TimePoint now = std::chrono::system_clock::now();
  json rows = json::array();
  rows.get_ref<json::array_t&>().reserve(objs.size());
  for (const json* o : objs) rows.push_back(tableRow(k, *o, include_object, now));
  json t = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", json::object()},
            {"columnDefinitions", with_columns ? tableColumns(k) : json(nullptr)}};
  t["rows"] = std::move(rows);
  return t;
}

void appendTableRow(std::string& out, const KindSpec& k, const CachedObject& o,
                    const std::string& include_object, TimePoint now) {
  std::shared_ptr<const json> tree = o.sharedTree(k.table_projection.get());
  const json& obj = *tree;
  json cells = json::array();
  if (k.columns.empty() || !k.cells) {
    const json& meta = obj["metadata"];
    cells.push_back(meta.value("name", ""));
    cells.push_back(meta.value("creationTimestamp", ""));
  } else {
    for (auto& c : k.cells(obj, now)) cells.push_back(std::move(c));
  }
  // Members in the order a json object would print them: cells, conditions, object.
  out += "{\"cells\":";
  out += cells.dump();
  if (k.row_conditions) {
    json conditions = k.row_conditions(obj);
    if (conditions.is_array() && !conditions.empty()) {
      out += ",\"conditions\":";
      out += conditions.dump();
    }
  }
  if (include_object == "Object") {
    out += ",\"object\":";
    o.appendRaw(&out);
  } else if (include_object != "None") {
    // The cached metadata bytes without managedFields (large, and no printer reads them).
    std::string_view meta = jsontext::memberValue(o.rawWithoutManagedFields(), "\"metadata\"");
    out += ",\"object\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"PartialObjectMetadata\",\"metadata\":";
    if (meta.empty() || meta.front() != '{') out += "{}";
    else out += jsontext::withoutMember(meta, "\"managedFields\"");
    out += '}';
  }
  out += '}';
}

std::string tableListBody(const KindSpec& k, const std::vector<ObjPtr>& objs,
                          const std::string& include_object, const json& metadata) {
  TimePoint now = std::chrono::system_clock::now();
  std::string out = "{\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":";
  out += tableColumns(k).dump();
  out += ",\"kind\":\"Table\",\"metadata\":";
  out += metadata.dump();
  out += ",\"rows\":[";
  for (size_t i = 0; i < objs.size(); ++i) {
    if (i) out += ',';
    appendTableRow(out, k, *objs[i], include_object, now);
  }
  out += "]}";
  return out;
}

}  // namespace berth::apiserver
