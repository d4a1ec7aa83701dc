// PodSpec defaulting and validation, shared by Pod and every pod template. Follows upstream's
// core/v1 SetDefaults_PodSpec / SetDefaults_Container and ValidatePodSpec (the subset Berth's
// clients exercise).
#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/kinds/name_validation.h"
#include "apiserver/kinds/quantity.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

void defaultProbe(json& probe) {
  if (!probe.is_object()) return;
  setDefault(probe, "timeoutSeconds", 1);
  setDefault(probe, "periodSeconds", 10);
  setDefault(probe, "successThreshold", 1);
  setDefault(probe, "failureThreshold", 3);
  if (auto it = probe.find("httpGet"); it != probe.end() && it->is_object()) {
    setDefault(*it, "path", "/");
    setDefault(*it, "scheme", "HTTP");
  }
  if (auto it = probe.find("grpc"); it != probe.end() && it->is_object()) {
    setDefault(*it, "service", "");
  }
}

void defaultLifecycleHandler(json& h) {
  if (!h.is_object()) return;
  if (auto it = h.find("httpGet"); it != h.end() && it->is_object()) {
    setDefault(*it, "path", "/");
    setDefault(*it, "scheme", "HTTP");
  }
}

// The image's tag: "" when none (a digest counts as a tag for the pull policy).
bool hasLatestOrNoTag(const std::string& image) {
  if (image.find('@') != std::string::npos) return false;
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return true;
  return image.substr(colon + 1) == "latest";
}

void defaultContainer(json& c) {
  if (!c.is_object()) return;
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  std::string image = str(c, {"image"});
  setDefault(c, "imagePullPolicy", hasLatestOrNoTag(image) ? "Always" : "IfNotPresent");
  setDefault(c, "resources", json::object());
  if (auto it = c.find("ports"); it != c.end() && it->is_array()) {
    for (json& p : *it) {
      if (p.is_object()) setDefault(p, "protocol", "TCP");
    }
  }
  if (auto it = c.find("env"); it != c.end() && it->is_array()) {
    for (json& e : *it) {
      json* fr = nullptr;
      if (e.is_object() && e.contains("valueFrom") && e["valueFrom"].is_object() &&
          e["valueFrom"].contains("fieldRef") && e["valueFrom"]["fieldRef"].is_object()) {
        fr = &e["valueFrom"]["fieldRef"];
        setDefault(*fr, "apiVersion", "v1");
      }
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (auto it = c.find(probe); it != c.end()) defaultProbe(*it);
  }
  if (auto it = c.find("lifecycle"); it != c.end() && it->is_object()) {
    for (const char* h : {"postStart", "preStop"}) {
      if (auto h2 = it->find(h); h2 != it->end()) defaultLifecycleHandler(*h2);
    }
  }
}

// The volume sources, in the order upstream's validateVolumeSource looks at them.
constexpr std::array<const char*, 30> kVolumeSources = {"hostPath",
                                                        "emptyDir",
                                                        "gitRepo",
                                                        "gcePersistentDisk",
                                                        "awsElasticBlockStore",
                                                        "secret",
                                                        "nfs",
                                                        "iscsi",
                                                        "glusterfs",
                                                        "persistentVolumeClaim",
                                                        "rbd",
                                                        "quobyte",
                                                        "flexVolume",
                                                        "cinder",
                                                        "cephfs",
                                                        "flocker",
                                                        "downwardAPI",
                                                        "fc",
                                                        "azureFile",
                                                        "configMap",
                                                        "vsphereVolume",
                                                        "azureDisk",
                                                        "photonPersistentDisk",
                                                        "portworxVolume",
                                                        "scaleIO",
                                                        "projected",
                                                        "storageos",
                                                        "csi",
                                                        "ephemeral",
                                                        "image"};

bool hasSource(const json& v, const char* src) {
  auto it = v.find(src);
  return it != v.end() && !it->is_null();
}

void defaultVolume(json& v) {
  if (!v.is_object()) return;
  // SetDefaults_Volume: a volume that names no source is an emptyDir.
  if (std::none_of(kVolumeSources.begin(), kVolumeSources.end(),
                   [&](const char* src) { return hasSource(v, src); }))
    v["emptyDir"] = json::object();
  for (const char* src : {"secret", "configMap", "downwardAPI", "projected"}) {
    if (auto it = v.find(src); it != v.end() && it->is_object()) setDefault(*it, "defaultMode", 420);
  }
  if (auto it = v.find("hostPath"); it != v.end() && it->is_object()) setDefault(*it, "type", "");
  if (auto it = v.find("emptyDir"); it != v.end() && it->is_null()) *it = json::object();
}

const std::vector<std::string> kProtocols = {"SCTP", "TCP", "UDP"};
const std::vector<std::string> kPullPolicies = {"Always", "IfNotPresent", "Never"};
const std::vector<std::string> kRestartPolicies = {"Always", "OnFailure", "Never"};
const std::vector<std::string> kDnsPolicies = {"ClusterFirst", "ClusterFirstWithHostNet",
                                               "Default", "None"};

void validatePortNumber(const json* v, const std::string& path, Errors& errs, bool required) {
  if (!v || v->is_null()) {
    if (required) errs.required(path);
    return;
  }
  if (!v->is_number_integer() || v->get<int64_t>() < 1 || v->get<int64_t>() > 65535) {
    errs.invalid(path, *v, "must be between 1 and 65535, inclusive");
  }
}

void validateQuantities(const json& c, const std::string& path, Errors& errs) {
  const json* res = find(c, {"resources"});
  if (!res || !res->is_object()) return;
  std::map<std::string, long double> limits;
  for (const char* which : {"limits", "requests"}) {
    const json* m = find(*res, {which});
    if (!m || !m->is_object()) continue;
    for (auto it = m->begin(); it != m->end(); ++it) {
      std::string p = keyed(at(path, which), it.key());
      std::string text = it.value().is_string() ? it.value().get<std::string>()
                                                : (it.value().is_number() ? it.value().dump() : "");
      auto q = parseQuantity(text);
      if (!q) {
        errs.invalid(p, it.value(), std::string(kQuantityFormatError));
        continue;
      }
      if (*q < 0) {
        errs.invalid(p, text, "must be greater than or equal to 0");
        continue;
      }
      if (std::string(which) == "limits") {
        limits[it.key()] = *q;
      } else if (auto l = limits.find(it.key()); l != limits.end() && *q > l->second) {
        const json& lv = (*res)["limits"][it.key()];
        std::string ltext = lv.is_string() ? lv.get<std::string>() : lv.dump();
        errs.invalid(p, text, "must be less than or equal to " + it.key() + " limit of " + ltext);
      }
    }
  }
}

// A probe port: a number in 1..65535 or an IANA service name (upstream ValidatePortNumOrName).
void validateProbePort(const json* v, const std::string& path, Errors& errs) {
  if (v && v->is_string()) {
    std::string n = v->get<std::string>();
    for (const auto& msg : validateIanaSvcName(n)) errs.invalid(path, n, msg);
    return;
  }
  validatePortNumber(v, path, errs, true);
}

// Upstream's validateProbe beyond the numeric bounds: exactly one handler, handler fields,
// successThreshold 1 for liveness/startup, terminationGracePeriodSeconds only there.
void validateProbe(const json& pr, const std::string& pp, bool restarts, Errors& errs) {
  int handlers = 0;
  for (const char* h : {"exec", "httpGet", "tcpSocket", "grpc"}) {
    const json* hv = find(pr, {h});
    if (!hv || hv->is_null()) continue;
    if (++handlers > 1) errs.forbidden(at(pp, h), "may not specify more than 1 handler type");
  }
  if (handlers == 0) errs.required(pp, "must specify a handler type");
  if (const json* e = find(pr, {"exec", "command"}); find(pr, {"exec"}) && (!e || !e->is_array() || e->empty()))
    errs.required(at(at(pp, "exec"), "command"));
  if (const json* h = find(pr, {"httpGet"}); h && h->is_object()) {
    validateProbePort(find(*h, {"port"}), at(at(pp, "httpGet"), "port"), errs);
    std::string scheme = str(*h, {"scheme"});
    if (!scheme.empty() && scheme != "HTTP" && scheme != "HTTPS")
      errs.notSupported(at(at(pp, "httpGet"), "scheme"), scheme, {"HTTP", "HTTPS"});
  }
  if (const json* t = find(pr, {"tcpSocket"}); t && t->is_object())
    validateProbePort(find(*t, {"port"}), at(at(pp, "tcpSocket"), "port"), errs);
  if (const json* g = find(pr, {"grpc"}); g && g->is_object())
    validatePortNumber(find(*g, {"port"}), at(at(pp, "grpc"), "port"), errs, true);
  if (const json* st = find(pr, {"successThreshold"}); restarts && st && st->is_number_integer() &&
                                                        st->get<int64_t>() != 1)
    errs.invalid(at(pp, "successThreshold"), *st, "must be 1");
  if (const json* g = find(pr, {"terminationGracePeriodSeconds"}); g && !g->is_null()) {
    if (!restarts) errs.invalid(at(pp, "terminationGracePeriodSeconds"), *g, "must not be set for readinessProbes");
    else errs.positive(at(pp, "terminationGracePeriodSeconds"), g);
  }
}

void validateContainer(const json& c, const std::string& path, Errors& errs,
                       std::set<std::string>& names, const std::set<std::string>& volumes) {
  if (!c.is_object()) {
    errs.invalid(path, c, "must be an object");
    return;
  }
  const json* name = find(c, {"name"});
  if (!name || !name->is_string() || name->get<std::string>().empty()) {
    errs.required(at(path, "name"));
  } else {
    std::string n = name->get<std::string>();
    for (const auto& msg : validateDns1123Label(n)) errs.invalid(at(path, "name"), n, msg);
    if (!names.insert(n).second) errs.duplicate(at(path, "name"), n);
  }
  std::string image = str(c, {"image"});
  if (image.empty()) {
    errs.required(at(path, "image"));
  } else if (std::string(trim(image)) != image) {
    errs.invalid(at(path, "image"), image, "must not have leading or trailing whitespace");
  }
  if (const json* pp = find(c, {"imagePullPolicy"}); pp && pp->is_string()) {
    std::string v = pp->get<std::string>();
    if (std::find(kPullPolicies.begin(), kPullPolicies.end(), v) == kPullPolicies.end()) {
      errs.notSupported(at(path, "imagePullPolicy"), v, kPullPolicies);
    }
  }
  if (const json* tmp = find(c, {"terminationMessagePolicy"}); tmp && tmp->is_string()) {
    std::string v = tmp->get<std::string>();
    if (v != "File" && v != "FallbackToLogsOnError") {
      errs.notSupported(at(path, "terminationMessagePolicy"), v, {"File", "FallbackToLogsOnError"});
    }
  }
  if (const json* ports = find(c, {"ports"}); ports && ports->is_array()) {
    std::set<std::string> portNames;
    for (size_t i = 0; i < ports->size(); ++i) {
      const json& p = (*ports)[i];
      std::string pp = at(path, "ports", i);
      if (const json* pn = find(p, {"name"}); pn && pn->is_string() && !pn->get<std::string>().empty()) {
        std::string n = pn->get<std::string>();
        for (const auto& msg : validateIanaSvcName(n)) errs.invalid(at(pp, "name"), n, msg);
        if (!portNames.insert(n).second) errs.duplicate(at(pp, "name"), n);
      }
      validatePortNumber(find(p, {"containerPort"}), at(pp, "containerPort"), errs, true);
      if (const json* hp = find(p, {"hostPort"}); hp && !(hp->is_number() && hp->get<double>() == 0)) {
        validatePortNumber(hp, at(pp, "hostPort"), errs, false);
      }
      std::string proto = str(p, {"protocol"});
      if (proto.empty()) {
        errs.required(at(pp, "protocol"));
      } else if (std::find(kProtocols.begin(), kProtocols.end(), proto) == kProtocols.end()) {
        errs.notSupported(at(pp, "protocol"), proto, kProtocols);
      }
    }
  }
  if (const json* env = find(c, {"env"}); env && env->is_array()) {
    for (size_t i = 0; i < env->size(); ++i) {
      std::string name = str((*env)[i], {"name"});
      if (name.empty()) {
        errs.required(at(at(path, "env", i), "name"));
      } else if (std::any_of(name.begin(), name.end(),
                             [](char ch) { return ch == '=' || ch < ' ' || ch > '~'; })) {
        errs.invalid(at(at(path, "env", i), "name"), name,
                     "a valid environment variable name must consist only of printable ASCII "
                     "characters other than '='");
      }
    }
  }
  if (const json* mounts = find(c, {"volumeMounts"}); mounts && mounts->is_array()) {
    std::set<std::string> paths;
    for (size_t i = 0; i < mounts->size(); ++i) {
      const json& m = (*mounts)[i];
      std::string mp = at(path, "volumeMounts", i);
      std::string vname = str(m, {"name"});
      if (vname.empty()) {
        errs.required(at(mp, "name"));
      } else if (!volumes.count(vname)) {
        errs.notFound(at(mp, "name"), vname);
      }
      std::string mountPath = str(m, {"mountPath"});
      if (mountPath.empty()) {
        errs.required(at(mp, "mountPath"));
      } else if (!paths.insert(mountPath).second) {
        errs.invalid(at(mp, "mountPath"), mountPath, "must be unique");
      }
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    const json* pr = find(c, {probe});
    if (!pr || !pr->is_object()) continue;
    std::string pp = at(path, probe);
    for (const char* f : {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                          "successThreshold", "failureThreshold"}) {
      errs.nonNegative(at(pp, f), find(*pr, {f}));
    }
    validateProbe(*pr, pp, std::string(probe) != "readinessProbe", errs);
  }
  validateQuantities(c, at(path, "resources"), errs);
}

}  // namespace

void defaultPodRequests(json& spec) {
  for (const char* list : {"initContainers", "containers"}) {
    auto it = spec.find(list);
    if (it == spec.end() || !it->is_array()) continue;
    for (json& c : *it) {
      if (!c.is_object() || !c.contains("resources") || !c["resources"].is_object()) continue;
      json& res = c["resources"];
      if (!res.contains("limits") || !res["limits"].is_object()) continue;
      json& requests = child(res, "requests");
      for (auto l = res["limits"].begin(); l != res["limits"].end(); ++l)
        if (!requests.contains(l.key())) requests[l.key()] = l.value();
    }
  }
}

void defaultPodSpec(json& spec) {
  if (!spec.is_object()) return;
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "securityContext", json::object());
  // serviceAccount is the deprecated alias of serviceAccountName; the v1 conversion mirrors them.
  if (!str(spec, {"serviceAccountName"}).empty()) {
    setDefault(spec, "serviceAccount", spec["serviceAccountName"]);
  } else if (!str(spec, {"serviceAccount"}).empty()) {
    spec["serviceAccountName"] = spec["serviceAccount"];
  }
  if (flag(spec, {"hostNetwork"})) {
    if (auto it = spec.find("containers"); it != spec.end() && it->is_array()) {
      for (json& c : *it) {
        if (auto ps = c.find("ports"); ps != c.end() && ps->is_array()) {
          for (json& p : *ps) {
            if (p.is_object() && p.contains("containerPort")) setDefault(p, "hostPort", p["containerPort"]);
          }
        }
      }
    }
  }
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (auto it = spec.find(list); it != spec.end() && it->is_array()) {
      for (json& c : *it) defaultContainer(c);
    }
  }
  if (auto it = spec.find("volumes"); it != spec.end() && it->is_array()) {
    for (json& v : *it) defaultVolume(v);
  }
}

void defaultPodTemplate(json& tmpl) {
  if (!tmpl.is_object()) tmpl = json::object();
  defaultPodSpec(child(tmpl, "spec"));
}

void validatePodSpec(const json& spec, const std::string& path, Errors& errs) {
  if (!spec.is_object()) {
    errs.required(path);
    return;
  }
  std::set<std::string> volumes;
  if (const json* vs = find(spec, {"volumes"}); vs && vs->is_array()) {
    for (size_t i = 0; i < vs->size(); ++i) {
      std::string vp = at(path, "volumes", i);
      std::string n = str((*vs)[i], {"name"});
      if (n.empty()) {
        errs.required(at(vp, "name"));
        continue;
      }
      for (const auto& msg : validateDns1123Label(n)) errs.invalid(at(vp, "name"), n, msg);
      if (!volumes.insert(n).second) errs.duplicate(at(vp, "name"), n);
      int sources = 0;
      for (const char* src : kVolumeSources) {
        if (!hasSource((*vs)[i], src)) continue;
        if (++sources > 1) errs.forbidden(at(vp, src), "may not specify more than 1 volume type");
      }
      if (sources == 0) errs.required(vp, "must specify a volume type");
    }
  }
  std::set<std::string> names;
  if (const json* ics = find(spec, {"initContainers"}); ics && ics->is_array()) {
    for (size_t i = 0; i < ics->size(); ++i) {
      validateContainer((*ics)[i], at(path, "initContainers", i), errs, names, volumes);
    }
  }
  const json* cs = find(spec, {"containers"});
  if (!cs || !cs->is_array() || cs->empty()) {
    errs.required(at(path, "containers"));
  } else {
    for (size_t i = 0; i < cs->size(); ++i) {
      validateContainer((*cs)[i], at(path, "containers", i), errs, names, volumes);
    }
  }
  if (const json* rp = find(spec, {"restartPolicy"}); rp && rp->is_string()) {
    std::string v = rp->get<std::string>();
    if (std::find(kRestartPolicies.begin(), kRestartPolicies.end(), v) == kRestartPolicies.end()) {
      errs.notSupported(at(path, "restartPolicy"), v, kRestartPolicies);
    }
  }
  if (const json* dp = find(spec, {"dnsPolicy"}); dp && dp->is_string()) {
    std::string v = dp->get<std::string>();
    if (std::find(kDnsPolicies.begin(), kDnsPolicies.end(), v) == kDnsPolicies.end()) {
      errs.notSupported(at(path, "dnsPolicy"), v, kDnsPolicies);
    } else if (v == "None" && !find(spec, {"dnsConfig"})) {
      errs.required(at(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None");
    }
  }
  // With the host's network a container's port is the host's port.
  if (flag(spec, {"hostNetwork"})) {
    for (const char* list : {"initContainers", "containers"}) {
      const json* l = find(spec, {list});
      if (!l || !l->is_array()) continue;
      for (size_t i = 0; i < l->size(); ++i) {
        const json* ports = find((*l)[i], {"ports"});
        if (!ports || !ports->is_array()) continue;
        for (size_t j = 0; j < ports->size(); ++j) {
          const json* hp = find((*ports)[j], {"hostPort"});
          const json* cp = find((*ports)[j], {"containerPort"});
          if (hp && cp && hp->is_number_integer() && cp->is_number_integer() &&
              hp->get<int64_t>() != 0 && *hp != *cp)
            errs.invalid(at(at(at(path, list, i), "ports", j), "hostPort"), *hp,
                         "must match `containerPort` when `hostNetwork` is true");
        }
      }
    }
  }
  errs.nonNegative(at(path, "terminationGracePeriodSeconds"),
                   find(spec, {"terminationGracePeriodSeconds"}));
  if (const json* ads = find(spec, {"activeDeadlineSeconds"}); ads && !ads->is_null()) {
    if (!ads->is_number_integer() || ads->get<int64_t>() < 1 ||
        ads->get<int64_t>() > 2147483647) {
      errs.invalid(at(path, "activeDeadlineSeconds"), *ads,
                   "must be between 1 and 2147483647, inclusive");
    }
  }
  if (const json* tols = find(spec, {"tolerations"}); tols && tols->is_array()) {
    for (size_t i = 0; i < tols->size(); ++i) {
      const json& t = (*tols)[i];
      std::string tp = at(path, "tolerations", i);
      std::string op = str(t, {"operator"}, "Equal");
      if (op != "Equal" && op != "Exists") {
        errs.notSupported(at(tp, "operator"), op, {"Equal", "Exists"});
      }
      if (op == "Exists" && !str(t, {"value"}).empty()) {
        errs.invalid(at(tp, "operator"), op, "value must be empty when `operator` is 'Exists'");
      }
      std::string effect = str(t, {"effect"});
      if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" &&
          effect != "NoExecute") {
        errs.notSupported(at(tp, "effect"), effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
      }
    }
  }
}

void validatePodTemplate(const json* tmpl, const std::string& path, Errors& errs) {
  const json* spec = tmpl ? find(*tmpl, {"spec"}) : nullptr;
  if (!spec || !spec->is_object()) {
    errs.required(at(path, "spec"));
    return;
  }
  validatePodSpec(*spec, at(path, "spec"), errs);
}

}  // namespace berth::apiserver::kinds
