#!/usr/bin/env bash
# The README's first command (root): installs dependencies, builds, and brings up a local
# three-zone cluster with `berth cluster create -f manifests/cluster-local.yaml` (or the
# eksctl ClusterConfig given as $1): a VPC with public and private subnets per zone and a NAT
# gateway on this machine's kernel, `berth server` on the embedded store, and a managed node
# group of runc nodes, one per zone. A registry on localhost:5000 (started here with Berth's
# busybox test images when nothing listens there yet) is reachable from every node.
# The cluster keeps running; `berth cluster delete NAME` removes it.
# BERTH_NODE_RUNTIME=simulated makes the nodes simulated. (scripts/run-host-cluster.sh runs
# the server and three agents as plain processes on the host, without root.)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "run-cluster.sh needs root (network namespaces, nftables, runc);" >&2
  echo "scripts/run-host-cluster.sh runs a cluster without them" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build.sh
berth=$(realpath "${BUILD_DIR:-build}/cmd/berth")
config=${1:-manifests/cluster-local.yaml}

if ! curl -fs -o /dev/null http://127.0.0.1:5000/v2/; then
  registry_dir=/var/lib/berth/registry
  mkdir -p "$registry_dir"
  echo "starting a registry on localhost:5000 with berth/busybox:1 and :2 ($registry_dir)"
  scripts/test-registry.sh start "$registry_dir" 5000 >/dev/null
fi

"$berth" cluster create -f "$config" --node-runtime "${BERTH_NODE_RUNTIME:-runc}"
name=$(awk '/^metadata:/{m=1;next} m && /name:/{print $2; exit}' "$config")
kubeconfig=${BERTH_STATE_DIR:-/var/lib/berth/clusters}/$name/kubeconfig
KUBECONFIG=$kubeconfig kubectl get nodes -L topology.kubernetes.io/zone,eks.amazonaws.com/nodegroup
cat <<EOM

Berth cluster "$name" is running. kubectl's current context is "$name" (also in $kubeconfig):
  kubectl apply -f manifests/examples/web-local.yaml     # image from localhost:5000
  kubectl get pods -o wide
  kubectl get nodegroups,vpcs,subnets,natgateways
  $berth cluster get; $berth cluster delete $name
EOM
