#include "kubelet-lite/network/service_proxy.h"

#include <time.h>

#include "common/log.h"
#include "kubelet-lite/network/proxy_rules.h"

namespace berth::kubelet::net {

namespace {

const client::Resource& servicesResource() {
  static const client::Resource r{"", "v1", "services", "Service", true, {}};
  return r;
}
const client::Resource& sliceResource() {
  static const client::Resource r{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}};
  return r;
}

}  // namespace

ServiceInformers serviceInformers(client::Client* client) {
  ServiceInformers si;
  client::Informer::Options so;
  so.transform = stripService;
  si.services = std::make_unique<client::Informer>(client, servicesResource(), so);
  client::Informer::Options eo;
  eo.transform = stripEndpointSlice;
  si.slices = std::make_unique<client::Informer>(client, sliceResource(), eo);
  return si;
}

ServiceProxy::ServiceProxy(client::Informer* services, client::Informer* slices, Options opts)
    : services_(services), slices_(slices), opts_(std::move(opts)),
      table_(proxyTableName(opts_.node_name)) {
  if (!opts_.nft) opts_.nft = makeNftApplier();
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr&) { markDirty(); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { markDirty(); };
  h.on_delete = [this](const client::ObjectPtr&) { markDirty(); };
  services_->addEventHandlers(h);
  slices_->addEventHandlers(std::move(h));
}

ServiceProxy::~ServiceProxy() { stop(); }

void ServiceProxy::start() { thread_ = std::thread([this] { syncLoop(); }); }

void ServiceProxy::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // Idempotent: creating the table first makes the delete succeed when it is already gone.
  Status st = opts_.nft->apply("table ip " + table_ + " {}\ndelete table ip " + table_ + "\n");
  BLOG(2, "service proxy stopped").kv("table", table_).kv("removed", st.isOk());
}

std::string ServiceProxy::lastRuleset() const {
  std::lock_guard<std::mutex> l(mu_);
  return applied_ ? renderRuleset(*applied_) : "";
}

std::string ServiceProxy::lastScript() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_script_;
}

void ServiceProxy::markDirty() {
  {
    std::lock_guard<std::mutex> l(mu_);
    dirty_ = true;
    if (!since_) {
      since_ = std::chrono::steady_clock::now();
      since_wall_ = std::chrono::system_clock::now();
    }
  }
  cv_.notify_all();
}

void ServiceProxy::syncLoop() {
  // Nothing is written before both caches hold the full state: a half-listed cache would
  // reject Services whose slices have not arrived yet.
  while (!services_->waitForSync(std::chrono::milliseconds(500)) ||
         !slices_->waitForSync(std::chrono::milliseconds(500))) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
  }
  markDirty();
  std::chrono::milliseconds retry{0};
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (retry.count() > 0) cv_.wait_for(l, retry, [&] { return stopping_; });
      cv_.wait(l, [&] { return stopping_ || dirty_; });
      if (stopping_) return;
      dirty_ = false;
    }
    // A failed apply keeps the change pending and is retried with back-off.
    retry = syncOnce() ? std::chrono::milliseconds(0)
                       : std::min(std::max(retry * 2, std::chrono::milliseconds(100)),
                                  std::chrono::milliseconds(5000));
  }
}

namespace {

int64_t unixMicros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::chrono::microseconds micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

// CPU time of the calling thread (user and system: libnftables and the kernel's netlink work).
std::chrono::microseconds threadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::microseconds(int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000);
}

}  // namespace

bool ServiceProxy::syncOnce() {
  std::chrono::steady_clock::time_point since;
  std::chrono::system_clock::time_point since_wall;
  {
    std::lock_guard<std::mutex> l(mu_);
    since = since_.value_or(std::chrono::steady_clock::now());
    since_wall = since_ ? since_wall_ : std::chrono::system_clock::now();
    since_.reset();
  }
  auto t_render = std::chrono::steady_clock::now();
  std::vector<nlohmann::json> services, slices;
  for (const auto& s : services_->list()) services.push_back(*s);
  for (const auto& s : slices_->list()) slices.push_back(*s);
  auto model = buildProxyModel(services, slices);
  ProxyTable next = buildProxyTable(model, RenderOptions{table_, opts_.pod_bridge, opts_.skip_ips});
  // Only the sync thread writes applied_, so reading it here without the lock is safe.
  // The first sync (or one after the kernel refused an update, e.g. the table was changed
  // behind our back) replaces the table whole; later ones change only what differs.
  bool replace = !applied_;
  std::string script = replace ? renderRuleset(next) : renderRulesetUpdate(*applied_, next);
  if (script.empty()) {
    BLOG(4, "service proxy rules unchanged").kv("table", table_);
    return true;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto cpu0 = threadCpu();
  Status st = opts_.nft->apply(script);
  if (!st.isOk() && !replace) {
    BLOG(2, "service proxy: update refused, replacing the table").kv("table", table_).kv("err", st.toString());
    replace = true;
    script = renderRuleset(next);
    st = opts_.nft->apply(script);
  }
  auto now = std::chrono::steady_clock::now();
  auto cpu = threadCpu() - cpu0;
  if (!st.isOk()) {
    BLOG_WARN("service proxy: applying rules failed").kv("table", table_).kv("err", st.toString());
    std::lock_guard<std::mutex> l(mu_);
    applied_.reset();  // the kernel's table is unknown: the next try replaces it
    dirty_ = true;
    if (!since_ || since < *since_) {
      since_ = since;
      since_wall_ = since_wall;
    }
    return false;
  }
  ProxySync sync;
  sync.applied_at = now;
  sync.latency = micros(now - since);
  sync.render = micros(t0 - t_render);
  sync.apply = micros(now - t0);
  sync.apply_cpu = cpu;
  sync.service_ports = model.size();
  sync.replaced = replace;
  {
    std::lock_guard<std::mutex> l(mu_);
    applied_ = std::move(next);
    last_script_ = std::move(script);
  }
  BLOG(2, "service proxy rules applied").kv("table", table_).kv("ports", sync.service_ports)
      .kv("replace", replace).kv("latencyMs", sync.latency.count() / 1000.0)
      .kv("renderMs", sync.render.count() / 1000.0).kv("nftMs", sync.apply.count() / 1000.0)
      .kv("nftCpuMs", sync.apply_cpu.count() / 1000.0).kv("via", opts_.nft->mode())
      .kv("eventUnixUs", unixMicros(since_wall))
      .kv("appliedUnixUs", unixMicros(since_wall + (now - since)));
  if (opts_.on_sync) opts_.on_sync(sync);
  return true;
}

}  // namespace berth::kubelet::net
