// Loopback endpoints: a host service that listens only on loopback (a registry on
// localhost:5000, the way people use kind with a local registry) made reachable from inside a
// local cluster's VPC at the host's control-plane address, like an ECR VPC endpoint, without
// opening it to anything else.
//
// In the kernel, no proxy process: an nftables table "berth-<cluster>-vpce" on the host DNATs
// TCP to <control-plane IP>:<port> arriving on the host's VPC leg to 127.0.0.1:<port>, and
// route_localnet on that leg lets the kernel deliver it. Only packets that come in on the VPC
// leg match; the address is not routed anywhere but into the cluster's namespaces.
// Thread-safety: free functions; the kernel serialises.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace berth::networking {

// Makes 127.0.0.1:<port> of the host reachable at control_plane_ip:<port> from the VPC, for
// each port (replacing the previous set). Idempotent.
Status ensureLoopbackEndpoints(const std::string& cluster, const std::string& control_plane_ip,
                               const std::vector<int>& ports);
// Removes the table; ok when absent.
Status deleteLoopbackEndpoints(const std::string& cluster);
// The nft table's name.
std::string loopbackEndpointTable(const std::string& cluster);

}  // namespace berth::networking
