// FakeRuntime: an in-memory ContainerRuntime for pod worker tests. Containers start "running"
// at once; tests end them with exitContainer() and inspect what the worker asked for (creates,
// stops with their grace periods). FakeClock: a Clock tests move by hand.
// Thread-safety: a mutex guards everything (the worker stops containers from several threads).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::testing {

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  TimePoint now_ = TimePoint(std::chrono::seconds(1700000000));
};

class FakeRuntime : public ContainerRuntime {
 public:
  explicit FakeRuntime(const Clock* clock) : clock_(clock) {}

  std::string name() const override { return "fake"; }
  std::string version() const override { return "1"; }

  Result<SandboxStatus> runPodSandbox(const PodSandboxConfig& c) override {
    std::lock_guard<std::mutex> l(mu_);
    std::string id = "sb-" + c.uid;
    auto& s = sandboxes_[id];
    if (s.id.empty()) {
      s.id = id;
      s.state = SandboxState::kReady;
      s.ip = "10.244.0." + std::to_string(2 + sandboxes_.size());
      s.labels = c.labels;
    }
    return s;
  }
  Status stopPodSandbox(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    sandboxes_[id].state = SandboxState::kNotReady;
    return Status::ok();
  }
  Status removePodSandbox(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    sandboxes_.erase(id);
    return Status::ok();
  }
  Result<SandboxStatus> sandboxStatus(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return notFound(id);
    return it->second;
  }
  Result<std::vector<SandboxStatus>> listSandboxes() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<SandboxStatus> out;
    for (const auto& [k, v] : sandboxes_) out.push_back(v);
    return out;
  }
  // Policy Never only looks (NotFound unless pulled before); others pull (images whose name has
  // "missing" fail like a registry without them).
  Result<std::string> ensureImage(const ImageSpec& image) override {
    std::lock_guard<std::mutex> l(mu_);
    if (image.policy == ImagePullPolicy::kNever) {
      if (present_.count(image.reference)) return "sha256:" + image.reference;
      return notFound("Container image \"" + image.reference + "\" is not present with pull policy of Never");
    }
    ++pulls_;
    if (image.reference.find("missing") != std::string::npos)
      return Status(Code::kInternal, "manifest unknown: " + image.reference);
    present_.insert(image.reference);
    return "sha256:" + image.reference;
  }
  Result<std::string> createContainer(const std::string& sandbox_id, const ContainerConfig& c,
                                      const PodSandboxConfig&) override {
    std::lock_guard<std::mutex> l(mu_);
    std::string id = "c" + std::to_string(++next_id_);
    ContainerStatus s;
    s.id = id;
    s.sandbox_id = sandbox_id;
    s.name = c.name;
    s.state = ContainerState::kCreated;
    s.created_at = clock_->now() + std::chrono::nanoseconds(next_id_);
    s.image = c.image;
    s.image_id = c.image_id;
    s.log_path = c.log_path;
    s.labels = c.labels;
    containers_[id] = s;
    configs_[id] = c;
    created_.push_back(c.name);
    return id;
  }
  Status startContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto& s = containers_.at(id);
    s.state = ContainerState::kRunning;
    s.started_at = clock_->now();
    return Status::ok();
  }
  Status stopContainer(const std::string& id, std::chrono::seconds grace) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return notFound(id);
    stops_.push_back({id, grace});
    if (it->second.state == ContainerState::kRunning) endLocked(&it->second, 143);
    return Status::ok();
  }
  Status removeContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    containers_.erase(id);
    return Status::ok();
  }
  Result<ContainerStatus> containerStatus(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return notFound(id);
    return it->second;
  }
  Result<std::vector<ContainerStatus>> listContainers() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<ContainerStatus> out;
    for (const auto& [k, v] : containers_) out.push_back(v);
    return out;
  }
  Result<std::unique_ptr<ExecProcess>> exec(const ExecRequest&) override {
    return badRequest("not in the fake");
  }
  Result<ExecSyncResult> execSync(const std::string& id, const std::vector<std::string>& cmd,
                                  std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> l(mu_);
    execs_.push_back(id);
    auto it = containers_.find(id);
    if (it != containers_.end()) {
      auto r = exec_results_.find(it->second.name);
      if (r != exec_results_.end()) return r->second;
    }
    return ExecSyncResult{0, "", false};
  }
  Result<int> portForward(const std::string&, int) override { return badRequest("no"); }

  // ---- test helpers ----
  // What execSync (exec probes, hooks) in container `name` returns from now on.
  void setExecResult(const std::string& name, int code, const std::string& output = "") {
    std::lock_guard<std::mutex> l(mu_);
    exec_results_[name] = ExecSyncResult{code, output, false};
  }
  // Ends the running instance of container `name` with `code`.
  void exitContainer(const std::string& name, int code) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, s] : containers_)
      if (s.name == name && s.state == ContainerState::kRunning) endLocked(&s, code);
  }
  std::vector<std::string> created() {
    std::lock_guard<std::mutex> l(mu_);
    return created_;
  }
  std::vector<std::pair<std::string, std::chrono::seconds>> stops() {
    std::lock_guard<std::mutex> l(mu_);
    return stops_;
  }
  std::vector<std::string> execs() {
    std::lock_guard<std::mutex> l(mu_);
    return execs_;
  }
  ContainerConfig configOf(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    ContainerConfig last;
    for (const auto& [id, c] : configs_)
      if (c.name == name) last = c;
    return last;
  }
  int pulls() {
    std::lock_guard<std::mutex> l(mu_);
    return pulls_;
  }
  // Adds a running container as if an earlier agent had started it.
  void adopt(ContainerStatus s) {
    std::lock_guard<std::mutex> l(mu_);
    containers_[s.id] = s;
  }

 private:
  void endLocked(ContainerStatus* s, int code) {
    s->state = ContainerState::kExited;
    s->exit_code = code;
    s->reason = code == 0 ? "Completed" : "Error";
    s->finished_at = clock_->now();
  }

  const Clock* clock_;
  std::mutex mu_;
  std::map<std::string, SandboxStatus> sandboxes_;
  std::map<std::string, ContainerStatus> containers_;
  std::map<std::string, ContainerConfig> configs_;
  std::vector<std::string> created_;
  std::vector<std::pair<std::string, std::chrono::seconds>> stops_;
  std::vector<std::string> execs_;
  std::map<std::string, ExecSyncResult> exec_results_;
  std::set<std::string> present_;  // images pulled
  int next_id_ = 0;
  int pulls_ = 0;
};

}  // namespace berth::kubelet::testing
