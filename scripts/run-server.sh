#!/usr/bin/env bash
# Installs dependencies, builds, and runs `berth server` on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/cmd/berth server --data-dir "${BERTH_DATA_DIR:-./berth-data}" "$@"
