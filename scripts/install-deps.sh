#!/usr/bin/env bash
# Installs what Berth needs to build and test on Debian 12, from Debian's packages.
# Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(
  g++ meson ninja-build ccache pkg-config python3
  libcpp-httplib-dev libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libssl-dev
  libcurl4-openssl-dev zlib1g-dev libgtest-dev libgmock-dev libjemalloc-dev
  clang libclang-rt-14-dev
  openssl curl iproute2 procps
  runc docker-registry umoci skopeo busybox-static
  haproxy nftables dnsmasq-base
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v kubectl >/dev/null; then
  echo "kubectl (v1.32) is needed on the PATH for the end-to-end tests" >&2
  exit 1
fi
