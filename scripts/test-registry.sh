#!/usr/bin/env bash
# A throw-away OCI registry on loopback for the container tests.
#
#   scripts/test-registry.sh start DIR [PORT]   starts Debian's docker-registry on 127.0.0.1:PORT
#                                                (a free port when omitted) with its config and
#                                                storage under DIR, builds the test images and
#                                                pushes them; prints "127.0.0.1:PORT" on success.
#   scripts/test-registry.sh stop DIR           stops that registry (DIR stays; remove it yourself).
#
# Images pushed (built from busybox-static with umoci, pushed with skopeo over plain HTTP):
#   berth/busybox:1  one layer: /bin/busybox with applet symlinks (sh, cat, echo, sleep, httpd,
#                    ...), /etc/hostname placeholder, /etc/berth-version containing "1",
#                    /tmp; Entrypoint [] and Cmd ["sh"]; Env PATH; WorkingDir /.
#   berth/busybox:2  tag 1 plus a second layer: /etc/berth-version becomes "2", /bin/echo is
#                    deleted (a whiteout) and /data gets a file; tests layering and whiteouts.
# Nothing leaves the machine: the registry listens on 127.0.0.1 only.
set -euo pipefail

die() { echo "test-registry: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {
  local addr=$1 pid=$2
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fs -o /dev/null "http://$addr/v2/"; then return 0; fi
    sleep 0.1
  done
  return 1
}

build_images() {
  local dir=$1 layout=$1/oci bundle=$1/bundle
  rm -rf "$layout" "$bundle"
  umoci init --layout "$layout"
  umoci new --image "$layout:1"
  umoci unpack --image "$layout:1" "$bundle" >/dev/null
  local root=$bundle/rootfs
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  install -m 0755 "$(command -v busybox)" "$root/bin/busybox"
  local a
  for a in sh ash cat echo sleep httpd ls ps kill true false env id hostname mkdir rm touch \
      wget nc head tail grep sed date dd printf test uname whoami yes seq stat; do
    ln -s busybox "$root/bin/$a"
  done
  echo "berth-test" >"$root/etc/hostname"
  echo "1" >"$root/etc/berth-version"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
  umoci repack --image "$layout:1" "$bundle"
  umoci config --image "$layout:1" --config.cmd sh --config.workingdir / \
    --config.env PATH=/bin:/usr/bin:/sbin:/usr/sbin --author berth-tests
  rm -rf "$bundle"

  umoci tag --image "$layout:1" 2
  umoci unpack --image "$layout:2" "$bundle" >/dev/null
  echo "2" >"$bundle/rootfs/etc/berth-version"
  rm "$bundle/rootfs/bin/echo"
  mkdir -p "$bundle/rootfs/data"
  echo "layer two" >"$bundle/rootfs/data/file"
  umoci repack --image "$layout:2" "$bundle"
  rm -rf "$bundle"
}

push() {
  local dir=$1 addr=$2 tag=$3
  skopeo copy --quiet --dest-tls-verify=false "oci:$dir/oci:$tag" \
    "docker://$addr/berth/busybox:$tag" >/dev/null
}

start() {
  local dir=$1 port=${2:-}
  command -v docker-registry >/dev/null || die "docker-registry is not installed (scripts/install-deps.sh)"
  mkdir -p "$dir/storage"
  [ -n "$port" ] || port=$(free_port)
  local addr=127.0.0.1:$port
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr
EOF
  setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/registry.pid"
  if ! wait_ready "$addr" "$pid"; then
    kill "$pid" 2>/dev/null || true
    die "registry did not come up on $addr: $(tail -5 "$dir/registry.log")"
  fi
  build_images "$dir" >"$dir/build.log" 2>&1 || die "building the test image failed: $(tail -5 "$dir/build.log")"
  push "$dir" "$addr" 1 || die "pushing berth/busybox:1 failed"
  push "$dir" "$addr" 2 || die "pushing berth/busybox:2 failed"
  echo "$addr"
}

stop() {
  local dir=$1 pid
  [ -f "$dir/registry.pid" ] || return 0
  pid=$(cat "$dir/registry.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/registry.pid"
}

case "${1:-}" in
  start) [ $# -ge 2 ] || die "usage: $0 start DIR [PORT]"; start "$2" "${3:-}" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR [PORT] | stop DIR" ;;
esac
