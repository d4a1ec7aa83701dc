// ApiServer: the Kubernetes API over HTTPS, backed by a Store through a WatchCache.
//
// Owns the store, the watch cache, the HTTP server and the per-request machinery. Handlers are
// generic over KindSpecs (apiserver/kinds); nothing here is specific to one kind except the
// few admission steps upstream also has (Service IP allocation, namespace lifecycle).
//
// Start-up is a flat sequence of steps, each returning a Status with context: open store,
// bootstrap namespaces, start watch cache, PKI, serve, write admin kubeconfig.
//
// Thread-safety: start/stop from one thread; request handling is concurrent.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::apiserver {

struct ServerOptions {
  std::string data_dir = "./berth-data";
  std::string bind_address = "127.0.0.1";
  int secure_port = 6443;  // 0 = pick a free port
  std::string datastore_endpoint;  // default sqlite://DATA_DIR/state.db
  std::string token_auth_file;     // CSV: token,user,uid,"group1,group2"
  std::string service_cidr = "10.96.0.0/12";
  std::string node_port_range = "30000-32767";
  std::vector<std::string> extra_sans;
  int io_threads = 2;
  int worker_threads = 16;
  std::string advertise_url;  // server URL written into kubeconfigs; default from bind/port
  // DefaultTolerationSeconds admission: how long new pods tolerate a not-ready / unreachable node.
  int64_t default_not_ready_toleration_seconds = 300;
  int64_t default_unreachable_toleration_seconds = 300;
};

class ApiServer {
 public:
  explicit ApiServer(ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status start();
  void stop();
  int port() const;
  std::string url() const;
  std::string adminKubeconfigPath() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::apiserver
