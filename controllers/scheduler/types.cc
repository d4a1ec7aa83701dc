#include "controllers/scheduler/types.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "apiserver/kinds/quantity.h"

namespace berth::controllers::scheduler {

namespace {

constexpr int64_t kDefaultMilliCpu = 100;
constexpr int64_t kDefaultMemory = 200LL * 1024 * 1024;

const json& kNullJson() {
  static const json n;
  return n;
}

const json& at(const json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object()) return kNullJson();
  auto it = obj.find(a);
  if (it == obj.end()) return kNullJson();
  if (!b) return *it;
  if (!it->is_object()) return kNullJson();
  auto jt = it->find(b);
  return jt == it->end() ? kNullJson() : *jt;
}

std::string str(const json& obj, const char* key, const std::string& def = "") {
  const json& v = at(obj, key);
  return v.is_string() ? v.get<std::string>() : def;
}

int64_t quantity(const json& v, bool milli) {
  std::optional<long double> q;
  if (v.is_string()) q = apiserver::parseQuantity(v.get<std::string>());
  else if (v.is_number()) q = v.get<long double>();
  if (!q || *q < 0) return 0;
  return static_cast<int64_t>(std::ceil(milli ? *q * 1000 : *q));
}

// Per-container requests: requests, or limits where a request is missing.
Resources containerRequests(const json& c, bool non_zero) {
  const json& res = at(c, "resources");
  json merged = at(res, "limits").is_object() ? at(res, "limits") : json::object();
  if (at(res, "requests").is_object())
    for (auto it = res["requests"].begin(); it != res["requests"].end(); ++it)
      merged[it.key()] = it.value();
  Resources r = parseResourceList(merged);
  if (non_zero) {
    if (!merged.contains("cpu")) r.milli_cpu = kDefaultMilliCpu;
    if (!merged.contains("memory")) r.memory = kDefaultMemory;
  }
  return r;
}

void maxInto(Resources* a, const Resources& b) {
  a->milli_cpu = std::max(a->milli_cpu, b.milli_cpu);
  a->memory = std::max(a->memory, b.memory);
  a->ephemeral_storage = std::max(a->ephemeral_storage, b.ephemeral_storage);
  for (const auto& [k, v] : b.scalar) a->scalar[k] = std::max(a->scalar[k], v);
}

std::vector<HostPort> hostPorts(const json& spec) {
  std::vector<HostPort> out;
  for (const char* list : {"initContainers", "containers"}) {
    const json& cs = at(spec, list);
    if (!cs.is_array()) continue;
    for (const auto& c : cs) {
      const json& ports = at(c, "ports");
      if (!ports.is_array()) continue;
      for (const auto& p : ports) {
        const json& hp = at(p, "hostPort");
        if (!hp.is_number_integer() || hp.get<int>() <= 0) continue;
        out.push_back({str(p, "hostIP", "0.0.0.0"), str(p, "protocol", "TCP"), hp.get<int>()});
        if (out.back().ip.empty()) out.back().ip = "0.0.0.0";
      }
    }
  }
  return out;
}

}  // namespace

void Resources::add(const Resources& o) {
  milli_cpu += o.milli_cpu;
  memory += o.memory;
  ephemeral_storage += o.ephemeral_storage;
  pods += o.pods;
  for (const auto& [k, v] : o.scalar) scalar[k] += v;
}

void Resources::sub(const Resources& o) {
  milli_cpu -= o.milli_cpu;
  memory -= o.memory;
  ephemeral_storage -= o.ephemeral_storage;
  pods -= o.pods;
  for (const auto& [k, v] : o.scalar) scalar[k] -= v;
}

Resources parseResourceList(const json& list) {
  Resources r;
  if (!list.is_object()) return r;
  for (auto it = list.begin(); it != list.end(); ++it) {
    const std::string& k = it.key();
    if (k == "cpu") r.milli_cpu = quantity(it.value(), true);
    else if (k == "memory") r.memory = quantity(it.value(), false);
    else if (k == "ephemeral-storage") r.ephemeral_storage = quantity(it.value(), false);
    else if (k == "pods") r.pods = quantity(it.value(), false);
    else if (k.find('/') != std::string::npos || k.rfind("hugepages-", 0) == 0)
      r.scalar[k] = quantity(it.value(), false);
  }
  return r;
}

bool Toleration::tolerates(const Taint& t) const {
  if (!effect.empty() && effect != t.effect) return false;
  if (!key.empty() && key != t.key) return false;
  if (op == "Exists") return true;
  return op == "Equal" && value == t.value;
}

bool HostPort::conflicts(const HostPort& o) const {
  if (port != o.port || protocol != o.protocol) return false;
  return ip == o.ip || ip == "0.0.0.0" || o.ip == "0.0.0.0";
}

const json& NodeInfo::labels() const { return labels_json ? *labels_json : kNullJson(); }

namespace {

const std::string* findLabel(const json* labels, const std::string& key) {
  if (!labels || !labels->is_object()) return nullptr;
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

}  // namespace

const std::string* NodeInfo::label(const std::string& key) const {
  std::string_view k = key;  // compares sizes first
  if (k == kLabelHostname) return hostname_label;
  if (k == kLabelZone) return zone_label;
  return findLabel(labels_json, key);
}

bool NodeInfo::schedulingPropertiesEqual(const NodeInfo& o) const {
  return allocatable == o.allocatable && taints == o.taints && unschedulable == o.unschedulable &&
         ready == o.ready && labels() == o.labels();
}

NodeInfo parseNode(std::shared_ptr<const json> node) {
  NodeInfo n;
  n.node = std::move(node);
  const json& obj = *n.node;
  n.name = str(at(obj, "metadata"), "name");
  n.labels_json = &at(at(obj, "metadata"), "labels");
  n.hostname_label = findLabel(n.labels_json, kLabelHostname);
  n.zone_label = findLabel(n.labels_json, kLabelZone);
  const json& status = at(obj, "status");
  n.allocatable = parseResourceList(at(status, "allocatable").is_object() ? at(status, "allocatable")
                                                                           : at(status, "capacity"));
  n.unschedulable = at(obj, "spec", "unschedulable") == true;
  const json& taints = at(obj, "spec", "taints");
  if (taints.is_array())
    for (const auto& t : taints)
      n.taints.push_back({str(t, "key"), str(t, "value"), str(t, "effect")});
  const json& conds = at(status, "conditions");
  if (conds.is_array())
    for (const auto& c : conds)
      if (str(c, "type") == "Ready") n.ready = str(c, "status") == "True";
  return n;
}

const json& PodInfo::labels() const { return at(at(*pod, "metadata"), "labels"); }
const json& PodInfo::spec() const { return at(*pod, "spec"); }

Resources podRequests(const json& spec, bool non_zero) {
  Resources sum;
  const json& cs = at(spec, "containers");
  if (cs.is_array())
    for (const auto& c : cs) sum.add(containerRequests(c, non_zero));
  // Init containers run one after another before the app containers; restartable ones
  // (sidecars) keep running beside them.
  Resources init_max, sidecars;
  const json& ics = at(spec, "initContainers");
  if (ics.is_array()) {
    for (const auto& c : ics) {
      Resources r = containerRequests(c, false);
      if (str(c, "restartPolicy") == "Always") {
        sidecars.add(r);
        continue;
      }
      Resources with_sidecars = r;
      with_sidecars.add(sidecars);
      maxInto(&init_max, with_sidecars);
    }
  }
  sum.add(sidecars);
  maxInto(&sum, init_max);
  sum.add(parseResourceList(at(spec, "overhead")));
  sum.pods = 0;
  return sum;
}

PodInfo parsePod(std::shared_ptr<const json> pod) {
  PodInfo p;
  p.pod = std::move(pod);
  const json& meta = at(*p.pod, "metadata");
  p.ns = str(meta, "namespace");
  p.key = p.ns + "/" + str(meta, "name");
  p.uid = str(meta, "uid");
  const json& refs = at(meta, "ownerReferences");
  if (refs.is_array())
    for (const auto& r : refs)
      if (at(r, "controller") == true) p.owner_uid = str(r, "uid");
  const json& spec = p.spec();
  p.node_name = str(spec, "nodeName");
  p.requests = podRequests(spec, false);
  p.requests.pods = 1;
  p.non_zero_requests = podRequests(spec, true);
  p.non_zero_requests.pods = 1;
  p.host_ports = hostPorts(spec);
  const json& tols = at(spec, "tolerations");
  if (tols.is_array())
    for (const auto& t : tols)
      p.tolerations.push_back(
          {str(t, "key"), str(t, "operator", "Equal"), str(t, "value"), str(t, "effect")});
  const json& anti = at(at(spec, "affinity"), "podAntiAffinity");
  const json& req = at(anti, "requiredDuringSchedulingIgnoredDuringExecution");
  p.has_required_anti_affinity = req.is_array() && !req.empty();
  return p;
}

bool podTerminated(const json& pod) {
  std::string phase = str(at(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool podNeedsScheduling(const json& pod) {
  const json& spec = at(pod, "spec");
  if (!str(spec, "nodeName").empty()) return false;
  std::string sched = str(spec, "schedulerName");
  if (!sched.empty() && sched != kDefaultSchedulerName) return false;
  if (!at(at(pod, "metadata"), "deletionTimestamp").is_null()) return false;
  return !podTerminated(pod);
}

}  // namespace berth::controllers::scheduler
