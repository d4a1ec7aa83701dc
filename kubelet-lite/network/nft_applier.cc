#include "kubelet-lite/network/nft_applier.h"

#include <dlfcn.h>

#include <chrono>

#include "common/log.h"
#include "common/subprocess.h"

namespace berth::kubelet::net {

namespace {

class CommandApplier : public NftApplier {
 public:
  Status apply(const std::string& script) override {
    auto r = runCommand({"nft", "-f", "-"}, std::chrono::seconds(30), script);
    if (!r.isOk()) return r.status();
    if (r->exit_code != 0) return internalError("nft -f: " + r->out);
    return Status::ok();
  }
  const char* mode() const override { return "nft-command"; }
};

// The few entry points of libnftables' stable API (libnftables.h), resolved at run time.
struct LibNftables {
  void* handle = nullptr;
  void* (*ctx_new)(uint32_t flags) = nullptr;
  void (*ctx_free)(void* ctx) = nullptr;
  int (*buffer_output)(void* ctx) = nullptr;
  int (*buffer_error)(void* ctx) = nullptr;
  const char* (*error_buffer)(void* ctx) = nullptr;
  int (*run_buffer)(void* ctx, const char* buf) = nullptr;
};

class LibApplier : public NftApplier {
 public:
  LibApplier(LibNftables lib, void* ctx) : lib_(lib), ctx_(ctx) {}
  ~LibApplier() override {
    lib_.ctx_free(ctx_);
    dlclose(lib_.handle);
  }
  Status apply(const std::string& script) override {
    std::lock_guard<std::mutex> l(mu_);
    if (lib_.run_buffer(ctx_, script.c_str()) == 0) return Status::ok();
    // The error buffer is reset by the next command; copy it now.
    const char* err = lib_.error_buffer(ctx_);
    std::string msg = err ? err : "";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return internalError("nft: " + (msg.empty() ? std::string("the transaction was refused") : msg));
  }
  const char* mode() const override { return "libnftables"; }

 private:
  LibNftables lib_;
  void* ctx_;
  std::mutex mu_;
};

template <typename F>
bool resolve(void* handle, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(handle, name));
  return *out != nullptr;
}

}  // namespace

Result<std::unique_ptr<NftApplier>> makeLibNftablesApplier() {
  LibNftables lib;
  lib.handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) return internalError(std::string("loading libnftables.so.1: ") + dlerror());
  if (!resolve(lib.handle, "nft_ctx_new", &lib.ctx_new) || !resolve(lib.handle, "nft_ctx_free", &lib.ctx_free) ||
      !resolve(lib.handle, "nft_ctx_buffer_output", &lib.buffer_output) ||
      !resolve(lib.handle, "nft_ctx_buffer_error", &lib.buffer_error) ||
      !resolve(lib.handle, "nft_ctx_get_error_buffer", &lib.error_buffer) ||
      !resolve(lib.handle, "nft_run_cmd_from_buffer", &lib.run_buffer)) {
    dlclose(lib.handle);
    return internalError("libnftables.so.1 lacks the nft_ctx / nft_run_cmd_from_buffer API");
  }
  void* ctx = lib.ctx_new(0 /* NFT_CTX_DEFAULT */);
  if (!ctx) {
    dlclose(lib.handle);
    return internalError("nft_ctx_new failed");
  }
  // Buffer both streams so nothing is printed on the agent's stdout/stderr.
  lib.buffer_output(ctx);
  lib.buffer_error(ctx);
  return std::unique_ptr<NftApplier>(new LibApplier(lib, ctx));
}

std::unique_ptr<NftApplier> makeNftCommandApplier() { return std::make_unique<CommandApplier>(); }

std::unique_ptr<NftApplier> makeNftApplier() {
  auto lib = makeLibNftablesApplier();
  if (lib.isOk()) return std::move(*lib);
  BLOG(2, "nftables through the nft command").kv("why", lib.status().message());
  return makeNftCommandApplier();
}

}  // namespace berth::kubelet::net
