#include "kubelet-lite/pod_worker.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/log.h"
#include "common/strings.h"
#include "kubelet-lite/network/pod_dns.h"
#include "kubelet-lite/node_status.h"

namespace berth::kubelet {
namespace {

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}
std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : ""; }

int restartCountOf(const ContainerStatus& s) {
  auto it = s.labels.find(kLabelRestartCount);
  return it == s.labels.end() ? 0 : std::atoi(it->second.c_str());
}

ImagePullPolicy pullPolicy(const json& c) {
  std::string p = str(at(c, "imagePullPolicy"));
  if (p == "Always") return ImagePullPolicy::kAlways;
  if (p == "Never") return ImagePullPolicy::kNever;
  if (p == "IfNotPresent") return ImagePullPolicy::kIfNotPresent;
  std::string image = str(at(c, "image"));
  auto slash = image.rfind('/');
  std::string last = slash == std::string::npos ? image : image.substr(slash + 1);
  bool tagged = last.find(':') != std::string::npos || image.find('@') != std::string::npos;
  return !tagged || endsWith(image, ":latest") ? ImagePullPolicy::kAlways : ImagePullPolicy::kIfNotPresent;
}

std::optional<int64_t> securityField(const json& pod, const json& c, const char* field) {
  for (const json* sc : {&at(c, "securityContext"), &at(at(pod, "spec"), "securityContext")})
    if (at(*sc, field).is_number_integer()) return (*sc)[field].get<int64_t>();
  return std::nullopt;
}

int64_t quantity(const json& c, const char* group, const char* res, bool cpu) {
  std::string q = str(at(at(at(c, "resources"), group), res));
  if (q.empty()) return 0;
  auto r = cpu ? parseCpuMillis(q) : parseBytes(q);
  return r.isOk() ? *r : 0;
}

std::chrono::seconds gracePeriod(const json& pod) {
  const json& md = at(pod, "metadata");
  if (at(md, "deletionGracePeriodSeconds").is_number_integer())
    return std::chrono::seconds(md["deletionGracePeriodSeconds"].get<int64_t>());
  const json& spec = at(pod, "spec");
  if (at(spec, "terminationGracePeriodSeconds").is_number_integer())
    return std::chrono::seconds(spec["terminationGracePeriodSeconds"].get<int64_t>());
  return std::chrono::seconds(30);
}

void minRequeue(std::optional<std::chrono::milliseconds>* r, std::chrono::milliseconds d) {
  if (d.count() < 1) d = std::chrono::milliseconds(1);
  if (!*r || d < **r) *r = d;
}

// Milliseconds since `t`, for the per-step timings logged at -v 3.
int64_t msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

// A duration as Go prints a time.Duration truncated to milliseconds: "0s", "250ms", "1.5s",
// "2m3.004s" (the kubelet's "Successfully pulled image ... in 1.5s").
std::string goDuration(std::chrono::nanoseconds d) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms <= 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  if (ms >= 3600000) out += std::to_string(ms / 3600000) + "h";
  if (ms >= 60000) out += std::to_string(ms / 60000 % 60) + "m";
  std::string frac = std::to_string(1000 + ms % 1000).substr(1);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return out + std::to_string(ms / 1000 % 60) + (frac.empty() ? "" : "." + frac) + "s";
}

PodRef podRef(const json& pod) {
  const json& md = at(pod, "metadata");
  return {str(at(md, "uid")), str(at(md, "name")), str(at(md, "namespace"))};
}

}  // namespace

struct PodWorker::Instances {
  std::map<std::string, std::vector<ContainerStatus>> by_name;  // newest first
};

PodWorker::PodWorker(ContainerRuntime* runtime, const Clock* clock, PodConfigResolver resolver,
                     Options opts)
    : rt_(runtime), clock_(clock), resolver_(std::move(resolver)), opts_(std::move(opts)) {}

void PodWorker::record(const json& pod, const std::string& field_path, bool warning,
                       const std::string& reason, const std::string& message) const {
  if (opts_.event) opts_.event(podRef(pod), field_path, warning, reason, message);
}

PodSandboxConfig PodWorker::sandboxConfig(const json& pod) const {
  const json& md = at(pod, "metadata");
  PodSandboxConfig c;
  c.uid = str(at(md, "uid"));
  c.name = str(at(md, "name"));
  c.ns = str(at(md, "namespace"));
  c.hostname = str(at(at(pod, "spec"), "hostname"));
  if (c.hostname.empty()) c.hostname = c.name.substr(0, 63);
  c.host_network = at(at(pod, "spec"), "hostNetwork").is_boolean() && pod["spec"]["hostNetwork"].get<bool>();
  c.log_directory = podLogDir(opts_.root_dir, opts_.node_name, c.ns, c.name, c.uid);
  c.labels = {{kLabelPodUid, c.uid}, {kLabelPodName, c.name}, {kLabelPodNamespace, c.ns}};
  c.dns = net::podDnsConfig(pod, opts_.cluster_dns, opts_.cluster_domain, opts_.host_resolv_conf);
  return c;
}

Result<PodWorker::Outcome> PodWorker::sync(const json& pod) {
  TimePoint now = clock_->now();
  const json& md = at(pod, "metadata");
  std::string uid = str(at(md, "uid"));
  Outcome out;
  if (md.contains("deletionTimestamp")) {
    BERTH_RETURN_IF_ERROR(terminate(pod, uid));
    out.delete_pod = true;
    return out;
  }
  BERTH_ASSIGN_OR_RETURN(auto all, rt_->listContainers());
  Instances inst;
  for (auto& c : all)
    if (c.labels[kLabelPodUid] == uid) inst.by_name[c.name].push_back(std::move(c));
  for (auto& [n, v] : inst.by_name)
    std::sort(v.begin(), v.end(), [](const ContainerStatus& a, const ContainerStatus& b) {
      int ra = restartCountOf(a), rb = restartCountOf(b);
      return ra != rb ? ra > rb : a.created_at > b.created_at;
    });

  PodSandboxConfig sb = sandboxConfig(pod);
  auto sandbox_started = std::chrono::steady_clock::now();
  BERTH_ASSIGN_OR_RETURN(SandboxStatus sandbox, rt_->runPodSandbox(sb));
  BLOG(3, "timing: sandbox").kv("pod", sb.ns + "/" + sb.name).kv("ms", msSince(sandbox_started));
  std::string pod_ip = sandbox.ip.empty() ? opts_.host_ip : sandbox.ip;
  std::string old_phase = str(at(at(pod, "status"), "phase"));
  bool terminal = old_phase == "Succeeded" || old_phase == "Failed";
  std::string policy = str(at(at(pod, "spec"), "restartPolicy"));
  if (policy.empty()) policy = "Always";

  std::string config_error;
  std::vector<std::pair<std::string, std::string>> volumes;
  if (!terminal) {
    auto v = resolver_.prepareVolumes(pod, podVolumesDir(opts_.root_dir, opts_.node_name, uid),
                                      pod_ip, opts_.host_ip);
    if (v.isOk()) volumes = std::move(v).value();
    else config_error = v.status().message();
  }

  PodStatusInput in;
  in.restart_policy = policy;
  in.sandbox_ready = sandbox.state == SandboxState::kReady;
  in.pod_ip = pod_ip;
  in.host_ip = opts_.host_ip;
  in.runtime_name = rt_->name();
  auto view = [&](const json& spec) {
    ContainerView v;
    v.name = str(at(spec, "name"));
    v.image = str(at(spec, "image"));
    auto it = inst.by_name.find(v.name);
    if (it != inst.by_name.end()) {
      if (!it->second.empty()) v.current = it->second[0];
      if (it->second.size() > 1) v.previous = it->second[1];
      if (v.current) v.restart_count = restartCountOf(*v.current);
    }
    return v;
  };
  // Only the instance before the newest is kept (for lastState and `logs --previous`).
  auto pruneOlder = [&](const std::string& name) {
    auto it = inst.by_name.find(name);
    if (it == inst.by_name.end()) return;
    for (size_t i = 1; i < it->second.size(); ++i) {
      Status st = rt_->removeContainer(it->second[i].id);
      if (!st.isOk()) BLOG(2, "removing old container failed").kv("id", it->second[i].id).kv("err", st.toString());
    }
  };
  // Runs, restarts or explains one container; returns true when it is running or done.
  auto drive = [&](const json& spec, bool init, ContainerView* v) {
    if (terminal) return false;
    if (!config_error.empty()) {
      if (!v->current || v->current->state != ContainerState::kRunning) {
        v->waiting_reason = "CreateContainerConfigError";
        v->waiting_message = config_error;
        record(pod, containerFieldPath(v->name, init), true, "Failed", "Error: " + config_error);
        minRequeue(&out.requeue_after, std::chrono::seconds(10));
      }
      return false;
    }
    if (!v->current) {
      startInstance(pod, spec, init, 0, sandbox.id, sb, pod_ip, volumes, v);
      return false;
    }
    if (v->current->state == ContainerState::kRunning) return true;
    if (v->current->state == ContainerState::kCreated) {
      // Left by a start that did not finish: replace it.
      (void)rt_->removeContainer(v->current->id);
      int rc = v->restart_count;
      v->current.reset();
      startInstance(pod, spec, init, rc, sandbox.id, sb, pod_ip, volumes, v);
      return false;
    }
    bool ok = v->current->exit_code == 0;
    bool restart = init ? (!ok && policy != "Never")
                        : (policy == "Always" || (policy == "OnFailure" && !ok));
    if (!restart) return init && ok;
    std::string key = uid + "/" + v->name;
    if (!mayRestart(key, *v->current, pod, init, v, &out.requeue_after)) return false;
    pruneOlder(v->name);
    ContainerStatus ended = *v->current;
    v->previous = ended;
    v->current.reset();
    startInstance(pod, spec, init, restartCountOf(ended) + 1, sandbox.id, sb, pod_ip, volumes, v);
    if (!v->current) {
      // The new instance did not start: keep reporting the one that ended.
      v->current = ended;
      v->restart_count = restartCountOf(ended);
    }
    return false;
  };

  const json& inits = at(at(pod, "spec"), "initContainers");
  bool init_done = true;
  if (inits.is_array()) {
    for (const json& spec : inits) {
      ContainerView v = view(spec);
      bool done = init_done && v.current && v.current->state == ContainerState::kExited &&
                  v.current->exit_code == 0;
      if (init_done && !done) {
        drive(spec, true, &v);
        init_done = false;
      } else if (!init_done && !v.current) {
        v.waiting_reason = "PodInitializing";
      }
      in.init_containers.push_back(std::move(v));
    }
  }
  const json& containers = at(at(pod, "spec"), "containers");
  for (const json& spec : containers) {
    ContainerView v = view(spec);
    if (init_done) drive(spec, false, &v);
    else if (!v.current) v.waiting_reason = "PodInitializing";
    in.containers.push_back(std::move(v));
  }
  applyProbes(pod, sandbox.id, pod_ip, &in.containers,
              [&](size_t i) { drive(containers[i], false, &in.containers[i]); });
  for (auto& v : in.init_containers)
    if (v.current && v.current->state == ContainerState::kRunning) v.started = true;

  out.status = computePodStatus(pod, in, now);
  std::string phase = out.status.value("phase", "");
  if (phase == "Running" || phase == "Pending") minRequeue(&out.requeue_after, opts_.resync);
  return out;
}

namespace {

bool runningNow(const ContainerView& v) {
  return v.current && v.current->state == ContainerState::kRunning && v.waiting_reason.empty();
}

}  // namespace

std::vector<ProbeManager::Container> PodWorker::probeTargets(const json& pod,
                                                             const std::string& sandbox_id,
                                                             const std::string& pod_ip,
                                                             const std::vector<ContainerView>& views) {
  std::vector<ProbeManager::Container> out;
  const json& specs = at(at(pod, "spec"), "containers");
  for (size_t i = 0; i < views.size() && i < specs.size(); ++i) {
    if (!runningNow(views[i])) continue;
    ProbeManager::Container c;
    c.name = views[i].name;
    c.target = {views[i].current->id, sandbox_id, pod_ip};
    c.started_at = views[i].current->started_at;
    for (auto [kind, slot] : {std::pair{ProbeKind::kLiveness, &c.liveness},
                              std::pair{ProbeKind::kReadiness, &c.readiness},
                              std::pair{ProbeKind::kStartup, &c.startup}}) {
      auto p = parseProbe(specs[i], kind);
      if (p.isOk()) *slot = std::move(p).value();
      else if (p.status().code() != Code::kNotFound)
        BLOG(1, "ignoring a malformed probe").kv("container", c.name).kv("err", p.status().message());
    }
    out.push_back(std::move(c));
  }
  return out;
}

void PodWorker::applyProbes(const json& pod, const std::string& sandbox_id, const std::string& pod_ip,
                            std::vector<ContainerView>* views,
                            const std::function<void(size_t)>& restart) {
  if (!opts_.prober) {
    for (auto& v : *views) v.ready = v.started = runningNow(v);
    return;
  }
  const json& md = at(pod, "metadata");
  PodRef ref{str(at(md, "uid")), str(at(md, "name")), str(at(md, "namespace"))};
  opts_.prober->syncPod(ref, probeTargets(pod, sandbox_id, pod_ip, *views));
  bool killed = false;
  for (size_t i = 0; i < views->size(); ++i) {
    ContainerView& v = (*views)[i];
    if (!runningNow(v)) continue;
    auto verdict = opts_.prober->verdict(ref.uid, v.name, v.current->id);
    if (!verdict.kill) continue;
    killForProbe(pod, ref, *verdict.kill, &v);
    restart(i);
    killed = true;
  }
  if (killed) opts_.prober->syncPod(ref, probeTargets(pod, sandbox_id, pod_ip, *views));
  for (auto& v : *views) {
    if (!runningNow(v)) continue;
    auto verdict = opts_.prober->verdict(ref.uid, v.name, v.current->id);
    v.started = verdict.started;
    v.ready = verdict.ready;
  }
}

void PodWorker::killForProbe(const json& pod, const PodRef& ref, ProbeKind kind, ContainerView* v) {
  std::string which = kind == ProbeKind::kLiveness ? "liveness" : "startup";
  std::string msg = "Container " + v->name + " failed " + which + " probe, will be restarted";
  BLOG(1, "killing container").kv("pod", ref.ns + "/" + ref.name).kv("container", v->name).kv("why", msg);
  if (opts_.event) opts_.event(ref, containerFieldPath(v->name), false, "Killing", msg);
  std::chrono::seconds grace(30);
  const json& spec_grace = at(at(pod, "spec"), "terminationGracePeriodSeconds");
  if (spec_grace.is_number_integer()) grace = std::chrono::seconds(spec_grace.get<int64_t>());
  for (const json& c : at(at(pod, "spec"), "containers")) {
    if (str(at(c, "name")) != v->name) continue;
    auto p = parseProbe(c, kind);
    if (p.isOk() && p->termination_grace) grace = *p->termination_grace;
  }
  Status st = rt_->stopContainer(v->current->id, grace);
  if (!st.isOk()) BLOG(0, "stopping container failed").kv("container", v->name).kv("err", st.toString());
  auto now = rt_->containerStatus(v->current->id);
  if (now.isOk()) v->current = std::move(now).value();
}

bool PodWorker::mayRestart(const std::string& key, const ContainerStatus& exited, const json& pod,
                           bool init, ContainerView* view,
                           std::optional<std::chrono::milliseconds>* requeue) {
  TimePoint now = clock_->now();
  TimePoint until;
  if (backoff_.inBackoff(key, exited.finished_at, now, &until)) {
    const json& md = at(pod, "metadata");
    view->waiting_reason = "CrashLoopBackOff";
    view->waiting_message = "back-off " + humanDuration(backoff_.currentDelay(key)) +
                            " restarting failed container=" + view->name + " pod=" +
                            str(at(md, "name")) + "_" + str(at(md, "namespace")) + "(" +
                            str(at(md, "uid")) + ")";
    record(pod, containerFieldPath(view->name, init), true, "BackOff",
           "Back-off restarting failed container " + view->name + " in pod " +
               str(at(md, "name")) + "_" + str(at(md, "namespace")) + "(" + str(at(md, "uid")) + ")");
    minRequeue(requeue, std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
    return false;
  }
  backoff_.recordRestart(key, exited.started_at, exited.finished_at, now);
  return true;
}

void PodWorker::startInstance(const json& pod, const json& spec, bool init, int restart_count,
                              const std::string& sandbox_id, const PodSandboxConfig& sandbox,
                              const std::string& pod_ip,
                              const std::vector<std::pair<std::string, std::string>>& volumes,
                              ContainerView* view) {
  std::string name = str(at(spec, "name"));
  std::string key = sandbox.uid + "/" + name;
  std::string field_path = containerFieldPath(name, init);
  view->waiting_reason = "ContainerCreating";
  std::string image_id = pullImage(pod, spec, key, field_path, view);
  if (image_id.empty()) return;
  auto configError = [&](const Status& st) {
    view->waiting_reason = "CreateContainerConfigError";
    view->waiting_message = st.message();
    record(pod, field_path, true, "Failed", "Error: " + st.message());
  };
  auto env = resolver_.env(pod, spec, pod_ip, opts_.host_ip);
  if (!env.isOk()) return configError(env.status());
  auto mounts = PodConfigResolver::mounts(spec, volumes);
  if (!mounts.isOk()) return configError(mounts.status());
  ContainerConfig c;
  c.name = name;
  c.image = view->image;
  c.image_id = image_id;
  for (const auto& a : at(spec, "command")) c.command.push_back(PodConfigResolver::expand(str(a), *env));
  for (const auto& a : at(spec, "args")) c.args.push_back(PodConfigResolver::expand(str(a), *env));
  c.env = *env;
  c.working_dir = str(at(spec, "workingDir"));
  c.mounts = *mounts;
  c.cpu_limit_millis = quantity(spec, "limits", "cpu", true);
  c.cpu_request_millis = quantity(spec, "requests", "cpu", true);
  c.memory_limit_bytes = quantity(spec, "limits", "memory", false);
  c.run_as_user = securityField(pod, spec, "runAsUser");
  c.run_as_group = securityField(pod, spec, "runAsGroup");
  c.tty = at(spec, "tty").is_boolean() && spec["tty"].get<bool>();
  c.stdin = at(spec, "stdin").is_boolean() && spec["stdin"].get<bool>();
  c.stdin_once = at(spec, "stdinOnce").is_boolean() && spec["stdinOnce"].get<bool>();
  c.log_path = containerLogPath(sandbox.log_directory, name, restart_count);
  c.labels = sandbox.labels;
  c.labels[kLabelContainerName] = name;
  c.labels[kLabelRestartCount] = std::to_string(restart_count);
  if (init) c.labels[kLabelInitContainer] = "true";
  std::error_code ec;
  std::filesystem::create_directories(sandbox.log_directory + "/" + name, ec);
  auto create_started = std::chrono::steady_clock::now();
  auto id = rt_->createContainer(sandbox_id, c, sandbox);
  BLOG(3, "timing: createContainer").kv("pod", sandbox.ns + "/" + sandbox.name).kv("container", name)
      .kv("ms", msSince(create_started));
  if (!id.isOk()) {
    view->waiting_reason = "CreateContainerError";
    view->waiting_message = id.status().message();
    record(pod, field_path, true, "Failed", "Error: " + id.status().message());
    return;
  }
  record(pod, field_path, false, "Created", "Created container: " + name);
  auto start_started = std::chrono::steady_clock::now();
  Status st = rt_->startContainer(*id);
  BLOG(3, "timing: startContainer").kv("pod", sandbox.ns + "/" + sandbox.name).kv("container", name)
      .kv("ms", msSince(start_started));
  if (!st.isOk()) {
    (void)rt_->removeContainer(*id);
    view->waiting_reason = "RunContainerError";
    view->waiting_message = st.message();
    record(pod, field_path, true, "Failed", "Error: " + st.message());
    return;
  }
  record(pod, field_path, false, "Started", "Started container " + name);
  BLOG(2, "container started").kv("pod", sandbox.ns + "/" + sandbox.name).kv("container", name)
      .kv("restartCount", restart_count);
  auto status = rt_->containerStatus(*id);
  if (status.isOk()) view->current = std::move(status).value();
  view->restart_count = restart_count;
  view->waiting_reason.clear();
  view->waiting_message.clear();
}

std::string PodWorker::pullImage(const json& pod, const json& spec, const std::string& key,
                                 const std::string& field_path, ContainerView* view) {
  const std::string quoted = "\"" + view->image + "\"";
  TimePoint now = clock_->now();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pull_failed_at_.find(key);
    TimePoint until;
    if (it != pull_failed_at_.end() && pull_backoff_.inBackoff(key, it->second, now, &until)) {
      view->waiting_reason = "ImagePullBackOff";
      view->waiting_message = "Back-off pulling image " + quoted;
      record(pod, field_path, false, "BackOff", view->waiting_message);
      record(pod, field_path, true, "Failed", "Error: ImagePullBackOff");
      return "";
    }
  }
  auto failed = [&](const std::string& reason, const std::string& message) {
    std::lock_guard<std::mutex> l(mu_);
    view->waiting_reason = reason;
    view->waiting_message = message;
    pull_backoff_.recordRestart(key, now, now, now);
    pull_failed_at_[key] = now;
    return std::string();
  };
  ImageSpec image{view->image, pullPolicy(spec), resolver_.dockerConfigs(pod)};
  // What is on the node already (a lookup: policy Never never pulls).
  if (image.policy != ImagePullPolicy::kAlways) {
    auto present = rt_->ensureImage({image.reference, ImagePullPolicy::kNever, image.docker_config_jsons});
    if (present.isOk()) {
      record(pod, field_path, false, "Pulled", "Container image " + quoted + " already present on machine");
      std::lock_guard<std::mutex> l(mu_);
      pull_failed_at_.erase(key);
      return *present;
    }
    if (image.policy == ImagePullPolicy::kNever) {
      std::string msg = "Container image " + quoted + " is not present with pull policy of Never";
      record(pod, field_path, true, "ErrImageNeverPull", msg);
      record(pod, field_path, true, "Failed", "Error: ErrImageNeverPull");
      return failed("ErrImageNeverPull", present.status().code() == Code::kNotFound ? msg : present.status().message());
    }
  }
  record(pod, field_path, false, "Pulling", "Pulling image " + quoted);
  auto started = std::chrono::steady_clock::now();
  auto image_id = rt_->ensureImage(image);
  if (!image_id.isOk()) {
    std::string why = image_id.status().message();
    // Runtimes may already say which image failed; the event names it once.
    const std::string prefix = "failed to pull image " + quoted + ": ";
    record(pod, field_path, true, "Failed",
           "Failed to pull image " + quoted + ": " +
               (why.rfind(prefix, 0) == 0 ? why.substr(prefix.size()) : why));
    record(pod, field_path, true, "Failed", "Error: ErrImagePull");
    return failed("ErrImagePull", why);
  }
  std::string took = goDuration(std::chrono::steady_clock::now() - started);
  record(pod, field_path, false, "Pulled",
         "Successfully pulled image " + quoted + " in " + took + " (" + took + " including waiting)");
  std::lock_guard<std::mutex> l(mu_);
  pull_failed_at_.erase(key);
  return *image_id;
}

Status PodWorker::terminate(const json& pod, const std::string& uid) {
  BERTH_ASSIGN_OR_RETURN(auto all, rt_->listContainers());
  std::chrono::seconds grace = gracePeriod(pod);
  std::vector<std::thread> stoppers;
  std::mutex err_mu;
  Status first;
  std::map<std::string, const json*> specs;
  for (const char* list : {"initContainers", "containers"})
    for (const json& c : at(at(pod, "spec"), list)) specs[str(at(c, "name"))] = &c;
  for (const auto& c : all) {
    auto it = c.labels.find(kLabelPodUid);
    if (it == c.labels.end() || it->second != uid || c.state != ContainerState::kRunning) continue;
    const json* spec = specs.count(c.name) ? specs[c.name] : nullptr;
    bool init = c.labels.count(kLabelInitContainer) && c.labels.at(kLabelInitContainer) == "true";
    record(pod, containerFieldPath(c.name, init), false, "Killing", "Stopping container " + c.name);
    stoppers.emplace_back([&, c, spec] {
      auto start = clock_->now();
      const json& pre = spec ? at(at(at(*spec, "lifecycle"), "preStop"), "exec") : at(json(), "");
      if (pre.is_object() && at(pre, "command").is_array()) {
        std::vector<std::string> cmd;
        for (const auto& a : pre["command"]) cmd.push_back(str(a));
        auto r = rt_->execSync(c.id, cmd, std::chrono::duration_cast<std::chrono::milliseconds>(grace));
        if (!r.isOk()) BLOG(2, "preStop hook failed").kv("container", c.name).kv("err", r.status().toString());
      }
      auto spent = std::chrono::duration_cast<std::chrono::seconds>(clock_->now() - start);
      Status st = rt_->stopContainer(c.id, std::max(std::chrono::seconds(0), grace - spent));
      if (!st.isOk()) {
        std::lock_guard<std::mutex> l(err_mu);
        if (first.isOk()) first = st;
      }
    });
  }
  for (auto& t : stoppers) t.join();
  BERTH_RETURN_IF_ERROR(first);
  return cleanup(uid);
}

Status PodWorker::cleanup(const std::string& uid) {
  BERTH_ASSIGN_OR_RETURN(auto all, rt_->listContainers());
  for (const auto& c : all) {
    auto it = c.labels.find(kLabelPodUid);
    if (it == c.labels.end() || it->second != uid) continue;
    if (c.state == ContainerState::kRunning)
      BERTH_RETURN_IF_ERROR(rt_->stopContainer(c.id, std::chrono::seconds(0)));
    BERTH_RETURN_IF_ERROR(rt_->removeContainer(c.id));
  }
  BERTH_ASSIGN_OR_RETURN(auto sandboxes, rt_->listSandboxes());
  for (const auto& s : sandboxes) {
    auto it = s.labels.find(kLabelPodUid);
    if (it == s.labels.end() || it->second != uid) continue;
    BERTH_RETURN_IF_ERROR(rt_->stopPodSandbox(s.id));
    BERTH_RETURN_IF_ERROR(rt_->removePodSandbox(s.id));
  }
  std::error_code ec;
  std::filesystem::remove_all(podVolumesDir(opts_.root_dir, opts_.node_name, uid), ec);
  backoff_.forgetPrefix(uid + "/");
  if (opts_.prober) opts_.prober->removePod(uid);
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = pull_failed_at_.lower_bound(uid + "/");
       it != pull_failed_at_.end() && it->first.rfind(uid + "/", 0) == 0;)
    it = pull_failed_at_.erase(it);
  return Status::ok();
}

}  // namespace berth::kubelet
