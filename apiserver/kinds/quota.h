// ResourceQuota accounting shared by the API server's quota admission and the quota
// controller: what one object uses of each quota resource, whether a quota's scopes select it,
// and the quota resource names upstream accepts. Pure functions; thread-safe.
//
// Usage follows upstream's evaluators: every object counts 1 of "count/<resource>[.<group>]";
// a pod that has not finished (not Succeeded or Failed) also counts 1 of "pods" and its
// requests and limits (podResources, with overhead) as "requests.cpu"
// (also "cpu"), "limits.cpu", and so on for memory and ephemeral-storage; a service counts
// "services", "services.loadbalancers" and its node ports as "services.nodeports"; a claim
// counts "persistentvolumeclaims" and its storage as "requests.storage"; configmaps, secrets,
// replication controllers and resource quotas count their plural name.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::apiserver::kinds {

using QuotaUsage = std::map<std::string, long double>;

// A pod's requests or limits (`which`) as upstream's PodRequests / PodLimits: its containers
// and sidecars (init containers with restartPolicy Always) summed, and no less than any other
// init container plus the sidecars started before it; with `overhead`, plus spec.overhead
// (quota counts it; LimitRanger, which runs before overhead is set, does not).
std::map<std::string, long double> podResources(const nlohmann::json& spec, const char* which,
                                                bool overhead);

// A pod that has reached Succeeded or Failed: it uses no quota but its count.
bool podFinished(const nlohmann::json& pod);

QuotaUsage quotaUsage(const std::string& group, const std::string& resource,
                      const nlohmann::json& obj);

// The quota resource names an object of this kind can use (the count name included): which
// kinds a quota over `hard` needs to look at.
bool quotaTracksKind(const nlohmann::json& hard, const std::string& group,
                     const std::string& resource);

// Whether a quota's spec.scopes and spec.scopeSelector select the object. A quota with scopes
// only ever selects pods.
bool quotaSelects(const nlohmann::json& quota, const std::string& group,
                  const std::string& resource, const nlohmann::json& obj);

// Upstream's pod Constraints: a quota that limits cpu or memory (requests or limits) needs every
// container to state them. "" when the pod does, else "must specify requests.cpu for: a,b; ...".
std::string quotaPodConstraints(const nlohmann::json& hard, const nlohmann::json& pod);

// Whether `name` is a quota resource whose amounts are whole numbers (object counts).
bool isIntegerQuotaResource(const std::string& name);
// Whether `name` is one of upstream's standard quota resources (or a count/ name).
bool isStandardQuotaResource(const std::string& name);

}  // namespace berth::apiserver::kinds
