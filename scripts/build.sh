#!/usr/bin/env bash
# Configures and builds Berth into ./build (or $BUILD_DIR). Extra args go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" "$@"
fi
ninja -C "$BUILD_DIR" -j"$(nproc)"
