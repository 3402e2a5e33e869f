#!/usr/bin/env bash
# Builds the local control plane's binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler from k8s.io/kubernetes, etcd, and kwok) and the real node's (kubelet and
# kube-proxy from k8s.io/kubernetes, CoreDNS, the fake GPU device plugin in fake-gpu-plugin/) and
# nats-server (for the NATS image) from
# the Go modules pinned next to this script, into a cache OUTSIDE the repository keyed by version,
# so a second run is free.
#
# Usage: hack/control-plane/build.sh          # builds what is missing, prints the bin folder last
#        hack/control-plane/build.sh --print  # only prints the bin folder (no build)
#
# Environment: AUTOCLINT_CACHE (default ~/.cache/autoclint), GO (default: go on PATH, else
# /usr/local/go/bin/go).
set -euo pipefail
shopt -s nullglob # the Go-source globs below may match nothing

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${AUTOCLINT_CACHE:-$HOME/.cache/autoclint}"

# The versions are read from the go.mod files, so the pins live in one place.
k8s_version="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/go.mod")"
[[ -n "$k8s_version" ]] || k8s_version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")"
kwok_version="$(awk '($1 == "require" && $2 == "sigs.k8s.io/kwok") {print $3} $1 == "sigs.k8s.io/kwok" {print $2}' "$here/kwok/go.mod" | head -n1)"
etcd_version="$(awk '($1 == "require" && $2 == "go.etcd.io/etcd/server/v3") {print $3} $1 == "go.etcd.io/etcd/server/v3" {print $2}' "$here/etcd/go.mod" | head -n1)"
if [[ -z "$k8s_version" || -z "$kwok_version" || -z "$etcd_version" ]]; then
  echo "build.sh: cannot read the pinned versions from the go.mod files in $here" >&2
  exit 1
fi

# Bump when the build recipe below changes (flags, stamped variables), so cached binaries
# built the old way are not reused.
recipe=2
# One folder per version pair and recipe: changing a pin builds afresh, never mixes binaries.
bin="$cache/bin/k8s-$k8s_version-etcd-$etcd_version-kwok-$kwok_version-r$recipe"

if [[ "${1:-}" == "--print" ]]; then
  echo "$bin"
  exit 0
fi

go_bin="${GO:-}"
if [[ -z "$go_bin" ]]; then
  if command -v go >/dev/null 2>&1; then go_bin="$(command -v go)"; else go_bin=/usr/local/go/bin/go; fi
fi
[[ -x "$go_bin" ]] || { echo "build.sh: no Go toolchain (looked for go on PATH and $go_bin)" >&2; exit 1; }

mkdir -p "$bin"

# go.sum is committed, so every module's hash is already pinned; the checksum database is not
# reachable from here, and a lookup would only hang. Never let go switch toolchains (that is a
# download). -mod=mod is not needed: the go.sum files are complete.
export GOSUMDB=off GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# cgo off: static binaries, and no C toolchain needed.
export CGO_ENABLED=0

# Build from a copy of the module files outside the repository: the working tree is shared,
# and a checkout or stash there must not pull the directory out from under a 20-minute build.
stage_module() { # module-dir -> prints the copy's path
  local copy
  copy="$cache/modules/$(basename "$1")-$(cat "$1/go.mod" "$1/go.sum" "$1"/*.go "$1"/*/*.go | md5sum | cut -c1-12)"
  mkdir -p "$copy"
  cp "$1/go.mod" "$1/go.sum" "$copy/"
  # The module's own Go sources (a main package at its root, or in a folder that is not a
  # module of its own), for the binaries built from this repository's code.
  local f d
  for f in "$1"/*.go "$1"/*/*.go; do
    [[ -e "$f" ]] || continue
    d="$(dirname "$f")"
    [[ "$d" != "$1" && -e "$d/go.mod" ]] && continue # a nested module, built on its own
    mkdir -p "$copy/${d#"$1"}"
    cp "$f" "$copy/${f#"$1"/}"
  done
  echo "$copy"
}

# Stamp the versions, as Kubernetes' own build (hack/lib/version.sh) does: unstamped, the API
# server reports v0.0.0-master, which breaks kubectl's skew check and Helm's kubeVersion.
k8s_minor="${k8s_version#v1.}"
k8s_minor="${k8s_minor%%.*}"
k8s_stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_stamp+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build_one() { # module-dir package output-name stamp-ldflags
  local dir name="$3" pkg="$2" out="$bin/$3" stamp="$4"
  if [[ -x "$out" ]]; then
    echo "build.sh: $name cached ($out)"
    return 0
  fi
  dir="$(stage_module "$1")"
  echo "build.sh: building $name from $pkg ($(date +%T)) ..."
  local start=$SECONDS
  # nice: the machine's two cores are shared with other work. One binary at a time, all
  # sharing GOCACHE, so the second and third reuse most of the first's compiled packages.
  # Build to a temporary name and rename, so an interrupted build never leaves a half binary
  # that looks cached.
  # -v names each package as it compiles: count them as progress, pass anything else (errors,
  # which contain spaces, unlike package paths) through as is.
  (cd "$dir" && nice -n 10 "$go_bin" build -v -trimpath -ldflags="-s -w$stamp" -o "$out.partial" "$pkg" 2>&1) |
    awk -v name="$name" '/ / { print; next } { if (++n % 100 == 0) { printf "build.sh:   %s: %d packages compiled (%s)\n", name, n, strftime("%T"); fflush() } }'
  mv -f "$out.partial" "$out"
  echo "build.sh: built $name in $((SECONDS - start)) s, $(du -h "$out" | cut -f1)"
}

# Binaries built from this repository's own code, or pinned in a module of their own, are keyed
# by their sources: the cached file carries a hash, and a stable name links to it.
build_keyed() { # module-dir package name
  local key
  key="$(cat "$1/go.mod" "$1/go.sum" "$1"/*.go "$1"/*/*.go | md5sum | cut -c1-12)"
  build_one "$1" "$2" "$3-$key" ""
  ln -sfn "$3-$key" "$bin/$3"
}

echo "build.sh: k8s.io/kubernetes $k8s_version, etcd $etcd_version, sigs.k8s.io/kwok $kwok_version -> $bin"
build_one "$here" k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$k8s_stamp"
build_one "$here" k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$k8s_stamp"
build_one "$here" k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler "$k8s_stamp"
build_one "$here/etcd" go.etcd.io/etcd/server/v3 etcd ""  # etcd's version is a constant
build_one "$here/kwok" sigs.k8s.io/kwok/cmd/kwok kwok ""  # kwok stamps its own version
# The real node (hack/real-node.sh): kubelet and kube-proxy from the same Kubernetes module,
# CoreDNS (its own module, only the plugins the cluster DNS uses) and the fake GPU device plugin.
build_one "$here" k8s.io/kubernetes/cmd/kubelet kubelet "$k8s_stamp"
build_one "$here" k8s.io/kubernetes/cmd/kube-proxy kube-proxy "$k8s_stamp"
build_keyed "$here" autoclint.local/control-plane/fake-gpu-plugin fake-gpu-plugin
build_keyed "$here/coredns" autoclint.local/coredns coredns
# The NATS image's server (hack/images.sh), at the chart's version.
build_keyed "$here/nats" github.com/nats-io/nats-server/v2 nats-server
echo "$bin"
