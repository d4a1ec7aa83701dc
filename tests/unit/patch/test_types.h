// A hand-built slice of the Deployment / Pod schema for the patch tests, so they do not depend
// on the real schema registry. Merge keys and list types mirror the upstream struct tags.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apiserver/schema/schema.h"

namespace berth::apiserver::patch::testing {

using schema::Field;
using schema::Type;
using schema::TypeKind;
using schema::TypePtr;

inline TypePtr scalar(TypeKind k) {
  auto t = std::make_shared<Type>();
  t->kind = k;
  return t;
}
inline TypePtr str() { return scalar(TypeKind::kString); }
inline TypePtr i32() { return scalar(TypeKind::kInt32); }
inline TypePtr obj(std::string name, std::vector<Field> fields) {
  auto t = std::make_shared<Type>();
  t->name = std::move(name);
  t->kind = TypeKind::kObject;
  t->fields = std::move(fields);
  return t;
}
inline TypePtr arr(TypePtr elem) {
  auto t = std::make_shared<Type>();
  t->kind = TypeKind::kArray;
  t->elem = std::move(elem);
  return t;
}
inline TypePtr mapOf(TypePtr elem) {
  auto t = std::make_shared<Type>();
  t->kind = TypeKind::kMap;
  t->elem = std::move(elem);
  return t;
}
inline Field f(std::string name, TypePtr t) {
  Field x;
  x.name = std::move(name);
  x.type = std::move(t);
  return x;
}
// A list merged by key: patchStrategy=merge, patchMergeKey, listType=map.
inline Field keyed(std::string name, TypePtr elem, std::string key,
                   std::vector<std::string> map_keys = {}) {
  Field x = f(std::move(name), arr(std::move(elem)));
  x.patch_merge = true;
  x.patch_merge_key = key;
  x.list_type = "map";
  x.list_map_keys = map_keys.empty() ? std::vector<std::string>{key} : map_keys;
  return x;
}
inline Field atomicList(std::string name, TypePtr elem) {
  Field x = f(std::move(name), arr(std::move(elem)));
  x.list_type = "atomic";
  return x;
}

inline TypePtr objectMeta() {
  Field finalizers = f("finalizers", arr(str()));
  finalizers.patch_merge = true;
  finalizers.list_type = "set";
  return obj("ObjectMeta", {f("name", str()), f("namespace", str()), f("labels", mapOf(str())),
                            f("annotations", mapOf(str())), finalizers,
                            keyed("ownerReferences",
                                  obj("OwnerReference", {f("uid", str()), f("name", str()),
                                                         f("kind", str())}),
                                  "uid"),
                            f("resourceVersion", str()), f("uid", str()),
                            f("managedFields", arr(obj("ManagedFieldsEntry", {})))});
}

inline TypePtr podSpec() {
  auto env = obj("EnvVar", {f("name", str()), f("value", str())});
  auto port = obj("ContainerPort", {f("containerPort", i32()), f("protocol", str()),
                                    f("name", str())});
  auto container =
      obj("Container", {f("name", str()), f("image", str()), keyed("env", env, "name"),
                        keyed("ports", port, "containerPort", {"containerPort", "protocol"}),
                        atomicList("command", str()), atomicList("args", str())});
  auto toleration = obj("Toleration", {f("key", str()), f("operator", str()),
                                       f("effect", str()), f("value", str())});
  auto volume = obj("Volume", {f("name", str()), f("emptyDir", obj("EmptyDir", {})),
                               f("hostPath", obj("HostPath", {f("path", str())})),
                               f("configMap", obj("ConfigMap", {f("name", str())}))});
  Field volumes = keyed("volumes", volume, "name");
  volumes.patch_retain_keys = true;
  return obj("PodSpec", {keyed("containers", container, "name"),
                         keyed("initContainers", container, "name"),
                         atomicList("tolerations", toleration), volumes,
                         f("nodeName", str()), f("nodeSelector", mapOf(str()))});
}

inline TypePtr deployment() {
  auto rolling = obj("RollingUpdateDeployment", {f("maxSurge", scalar(TypeKind::kIntOrString)),
                                                 f("maxUnavailable",
                                                   scalar(TypeKind::kIntOrString))});
  Field strategy = f("strategy", obj("DeploymentStrategy", {f("type", str()),
                                                            f("rollingUpdate", rolling)}));
  strategy.patch_retain_keys = true;
  auto templ = obj("PodTemplateSpec", {f("metadata", objectMeta()), f("spec", podSpec())});
  auto spec = obj("DeploymentSpec", {f("replicas", i32()), strategy, f("template", templ),
                                     f("paused", scalar(TypeKind::kBool))});
  auto condition = obj("DeploymentCondition", {f("type", str()), f("status", str())});
  auto status = obj("DeploymentStatus", {f("replicas", i32()),
                                         keyed("conditions", condition, "type")});
  return obj("Deployment", {f("apiVersion", str()), f("kind", str()), f("metadata", objectMeta()),
                            f("spec", spec), f("status", status)});
}

}  // namespace berth::apiserver::patch::testing
