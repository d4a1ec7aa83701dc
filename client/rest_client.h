// RestClient: Client over HTTPS on libcurl. Keeps a pool of easy handles so connections are
// reused (keep-alive) and several threads can call at once: a call takes an idle handle, or
// makes one, and returns it when done. Watches use a handle of their own, cancelled through
// libcurl's progress callback (checked at least once a second).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "client/client.h"
#include "client/kubeconfig.h"

namespace berth::client {

class RestClient : public Client {
 public:
  struct Options {
    std::chrono::milliseconds request_timeout{30000};
    std::chrono::milliseconds connect_timeout{10000};
    std::string user_agent = "berth-controller-manager";
  };
  explicit RestClient(KubeConfig config, Options opts);
  explicit RestClient(KubeConfig config) : RestClient(std::move(config), Options()) {}
  ~RestClient() override;
  static Result<std::unique_ptr<RestClient>> fromKubeconfig(const std::string& path);

  Result<json> get(const Resource& r, const std::string& ns, const std::string& name) override;
  Result<json> list(const Resource& r, const std::string& ns, const ListOptions& opts = {}) override;
  Result<json> create(const Resource& r, const std::string& ns, const json& obj) override;
  Result<json> update(const Resource& r, const std::string& ns, const std::string& name,
                      const json& obj, const std::string& subresource = "") override;
  Result<json> patch(const Resource& r, const std::string& ns, const std::string& name,
                     PatchType type, const json& patch) override;
  Result<json> remove(const Resource& r, const std::string& ns, const std::string& name,
                      const json& options = json::object()) override;
  Result<json> removeCollection(const Resource& r, const std::string& ns,
                                const json& options = json::object()) override;
  Result<json> request(const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::string& content_type = "application/json") override;
  Status watch(const Resource& r, const std::string& ns, const WatchOptions& opts,
               const WatchHandler& handler, CancelToken* cancel) override;

  const KubeConfig& config() const { return config_; }

 private:
  void* takeHandle();             // CURL*
  void giveBack(void* handle);
  void configure(void* handle, const std::string& url);

  KubeConfig config_;
  Options opts_;
  std::mutex mu_;
  std::vector<void*> idle_;
};

}  // namespace berth::client
