// Helpers the workload controllers (endpoints, endpointslice, daemonset, job) share: the
// resources they address, null-safe reads of nested JSON fields, and node eligibility as the
// DaemonSet controller judges it (nodeSelector, required node affinity, taints against
// tolerations). Everything here is a pure function of its arguments.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "client/client.h"

namespace berth::client {
class EventRecorder;
}  // namespace berth::client

namespace berth::controllers {

using client::json;

// Records an Event about `obj` when `recorder` is set (controllers run without one in tests).
void recordEvent(client::EventRecorder* recorder, const json& obj, bool warning,
                 const std::string& reason, const std::string& message);

namespace res {
const client::Resource& services();
const client::Resource& endpoints();
const client::Resource& endpointSlices();
const client::Resource& nodes();
const client::Resource& daemonSets();
const client::Resource& controllerRevisions();
const client::Resource& jobs();
const client::Resource& statefulSets();
}  // namespace res

// obj[path[0]][path[1]]...; a shared null when any step is missing or not an object.
const json& jsonAt(const json& obj, std::initializer_list<const char*> path);
std::string strAt(const json& obj, std::initializer_list<const char*> path,
                  const std::string& def = "");
int64_t intAt(const json& obj, std::initializer_list<const char*> path, int64_t def);

std::string nameOf(const json& obj);
std::string namespaceOf(const json& obj);
std::string uidOf(const json& obj);

// A controlling ownerReference to `owner` (blockOwnerDeletion, as upstream controllers write).
json controllerRefTo(const std::string& api_version, const std::string& kind, const json& owner);
// The controlling ownerReference of `obj` if it is of `kind`, else nullptr.
const json* controllerRefOfKind(const json& obj, const std::string& kind);

// An intOrString (int or "N%") resolved against `total`; `def` when absent or malformed.
int64_t resolveIntOrPercent(const json& v, int64_t total, bool round_up, int64_t def);

// Whether `tolerations` (a pod's spec.tolerations) tolerate `taint` (key, value, effect).
bool toleratesTaint(const json& tolerations, const json& taint);
// The node's labels and name satisfy the pod spec's nodeSelector and required node affinity
// (matchExpressions on labels, matchFields on metadata.name).
bool nodeMatchesPodSpec(const json& pod_spec, const json& node);

}  // namespace berth::controllers
