#!/usr/bin/env bash
# Without root: installs dependencies, builds, and runs a local three-zone cluster on the
# embedded store as plain host processes:
# `berth server` (API server, controllers, scheduler) and one node agent per zone
# (local-1a, local-1b, local-1c) running real OCI containers with runc (as root; the process
# runtime otherwise). Ctrl-C stops everything; state stays in $BERTH_DATA_DIR.
# BERTH_NODE_RUNTIME=simulated|process|runc overrides the runtime; BERTH_NODES_PER_ZONE the count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
berth="${BUILD_DIR:-build}/cmd/berth"
data=$(realpath -m "${BERTH_DATA_DIR:-./berth-data}")
mkdir -p "$data"
runtime=${BERTH_NODE_RUNTIME:-}
if [ -z "$runtime" ]; then
  if [ "$(id -u)" = 0 ] && command -v runc >/dev/null; then runtime=runc; else runtime=process; fi
fi
per_zone=${BERTH_NODES_PER_ZONE:-1}
zones=(local-1a local-1b local-1c)

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

log="$data/server.log"
"$berth" server --data-dir "$data" "$@" >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q "is serving at" "$log" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
grep -q "is serving at" "$log" || { echo "berth server did not start; see $log" >&2; exit 1; }
kubeconfig="$data/admin.kubeconfig"

if [ "$runtime" = simulated ]; then
  "$berth" agent --kubeconfig "$kubeconfig" --runtime simulated --nodes $((3 * per_zone)) \
    --zones "$(IFS=,; echo "${zones[*]}")" --region local-1 >"$data/agent-simulated.log" 2>&1 &
  pids+=($!)
else
  for zone in "${zones[@]}"; do
    for i in $(seq 1 "$per_zone"); do
      node="node-$zone-$i"
      "$berth" agent --kubeconfig "$kubeconfig" --runtime "$runtime" --node-name "$node" \
        --zone "$zone" --region local-1 --kubelet-port 0 --root-dir "$data/agents" \
        >"$data/agent-$node.log" 2>&1 &
      pids+=($!)
    done
  done
fi
export KUBECONFIG="$kubeconfig"
if ! kubectl wait --for=condition=Ready nodes --all --timeout=60s >/dev/null 2>&1; then
  echo "nodes did not become Ready; logs are in $data" >&2
fi
kubectl get nodes -L topology.kubernetes.io/zone
cat <<EOF

Berth is running: $(grep -o 'https://[^ ]*' "$log" | head -1), nodes on the $runtime runtime in ${zones[*]}.
Point kubectl at it:
  export KUBECONFIG=$kubeconfig
  kubectl apply -f manifests/examples/deployment.yaml
Logs: $data/*.log. Ctrl-C stops the cluster.
EOF
wait "${pids[0]}"
