// What `berth server` wires into its controller manager beyond controllers/: the node-group,
// Fargate and CSR controllers and the cloud driver they use. Each module adds its controllers
// in server_extras.cc, so cmd/main.cc stays a flag parser.
#pragma once

#include <string>

#include "controllers/controller_manager.h"

namespace berth::cmd {

struct ServerExtrasOptions {
  std::string data_dir;      // the server's --data-dir (PKI lives in <data_dir>/pki)
  std::string kubeconfig;    // admin kubeconfig the controllers use
  std::string server_url;    // https URL nodes use to reach this server
  // Cloud the node-group controllers launch instances in: "" (none: node groups only count
  // nodes that join by themselves), "local" or "simulated" (agents as processes, for tests).
  std::string cloud_provider;
  std::string cluster_name;     // --cluster-name: names and tags everything of this cluster
  std::string cloud_state_dir;  // --cloud-state-dir: the local driver's state for this cluster
  std::string service_cidr = "10.96.0.0/12";  // --service-cluster-ip-range (node user-data)
};

// Appends the extra controllers (ControllerManagerOptions::extra).
void addServerExtras(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o);

}  // namespace berth::cmd
