#!/usr/bin/env bash
# Builds the project's container images with no image registry, and loads them into the real
# node's containerd (hack/real-node.sh):
#
#   base-node   Debian 12 minbase (debootstrap) + Node 20 (the host's nodejs: Debian 12 ships 18)
#   base-torch  base-node + Debian's python3-torch / python3-numpy (CPU torch 1.13)
#   operator    images/operator/Dockerfile, NODE_IMAGE and RUNTIME_IMAGE = base-node
#   trainer     images/trainer/Dockerfile, NODE_IMAGE = base-node, CUDA_IMAGE = base-torch, no weights
#   trainer-tfjs  the same file's tfjs target (the tfjs engine on the CPU, no torch), NODE_IMAGE =
#               base-node; the tensorflow-cpu wheel comes from the host's cache (hack/tfjs.sh's).
#               Not built by default: only what asks for it (the real-node tfjs test, or by name).
#   pause       the pod sandbox: a static C pause (hack/real-node/pause.c), FROM scratch
#   nats        nats-server at the chart's version, built by hack/control-plane/build.sh, FROM scratch
#   coredns     the CoreDNS built by hack/control-plane/build.sh, FROM scratch
#
# The same Dockerfiles build the CUDA images where registries are reachable; only build
# arguments differ. buildah runs with --pull=never (nothing is pulled), --isolation chroot and
# --network host (the default isolation leaves a cni-podman0 bridge and iptables chains behind;
# host networking lets `npm ci` reach the npm registry).
#
# Cached by content: each image's tag is a hash of everything it is built from (the base's
# recipe, the Dockerfile, the sources it copies), and a base's rootfs tarball is kept under
# $AUTOCLINT_CACHE/images/. An image whose tag already exists in buildah's storage is not
# rebuilt; one already in containerd is not re-imported.
#
# Usage: hack/images.sh [--no-import] [IMAGE...]   (default: all of them)
#        hack/images.sh --print-tags                (NAME=REF lines, nothing built)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${AUTOCLINT_CACHE:-$HOME/.cache/autoclint}"
images_cache="$cache/images"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
repo=localhost/autoclint

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

import=1
print_tags=0
wanted=()
for arg in "$@"; do
  case "$arg" in
    --no-import) import=0 ;;
    --print-tags) print_tags=1 ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
    base-node | base-torch | operator | trainer | trainer-tfjs | pause | nats | coredns) wanted+=("$arg") ;;
    *) die "unknown argument '$arg' (images: base-node base-torch operator trainer trainer-tfjs pause nats coredns)" ;;
  esac
done
((${#wanted[@]})) || wanted=(pause coredns nats operator trainer)

# --- content keys --------------------------------------------------------------------------

hash_files() { # paths... -> 12 hex digits over the paths' names and contents (git-tracked or not)
  local p
  for p in "$@"; do
    if [[ -d "$root/$p" ]]; then
      (cd "$root" && find "$p" -type f -not -path '*/node_modules/*' -not -path '*/dist/*' -not -name '*.pyc' | LC_ALL=C sort |
        while read -r f; do printf '%s\n' "$f"; cat "$f"; done)
    else
      printf '%s\n' "$p"; cat "$root/$p"
    fi
  done | sha256sum | cut -c1-12
}

# The base's recipe: this script's base section, the Debian mirror snapshot it resolves, the host's
# node binary.
node_bin="$(command -v node)" || die "node is not on PATH (the base images copy the host's Node 20)"
npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
npm_dir="$(cd "$npm_dir" && pwd)"
base_recipe=3
base_node_key="$( { echo "$base_recipe $suite $mirror"; sha256sum "$node_bin"; cat "$npm_dir/package.json"; } | sha256sum | cut -c1-12)"
base_torch_key="$( { echo "$base_node_key torch"; } | sha256sum | cut -c1-12)"
src_paths=(package.json package-lock.json tsconfig.json hack/build.mjs api/src api/package.json
  operator/src operator/package.json trainer/src trainer/package.json test-e2e/package.json .dockerignore)

declare -A ref
ref[base-node]="$repo/base-node:$base_node_key"
ref[base-torch]="$repo/base-torch:$base_torch_key"
ref[operator]="$repo/operator:$(echo "$base_node_key $(hash_files images/operator "${src_paths[@]}")" | sha256sum | cut -c1-12)"
ref[trainer]="$repo/trainer:$(echo "$base_torch_key $(hash_files images/trainer trainer/engines/torch "${src_paths[@]}")" | sha256sum | cut -c1-12)"
ref[trainer-tfjs]="$repo/trainer-tfjs:$(echo "$base_node_key $(hash_files images/trainer hack/tfjs.sh hack/tfjs hack/tfjs-gpu "${src_paths[@]}")" | sha256sum | cut -c1-12)"
ref[pause]="$repo/pause:$(hash_files hack/real-node/pause.c)"
go_bin_dir="$("$root/hack/control-plane/build.sh" --print)"
nats_bin="$go_bin_dir/nats-server"
coredns_bin="$go_bin_dir/coredns"
# The binaries' cached names carry a hash of their sources (build.sh); absent, the image is built
# after them and the ref printed here is the placeholder "none" until then.
ref[nats]="$repo/nats:$( { sha256sum "$nats_bin" 2>/dev/null || echo none; } | cut -c1-12)"
ref[coredns]="$repo/coredns:$( { sha256sum "$coredns_bin" 2>/dev/null || echo none; } | cut -c1-12)"

if ((print_tags)); then
  for name in base-node base-torch operator trainer trainer-tfjs pause nats coredns; do echo "$name=${ref[$name]}"; done
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "run as root (buildah's storage and containerd are machine-wide)"
command -v buildah >/dev/null || die "buildah is not installed: run make setup"
command -v debootstrap >/dev/null || die "debootstrap is not installed: run make setup"

# One image build at a time on the machine: buildah's storage is shared.
exec 8>/run/autoclint-images.lock
flock -w 1800 8 || die "another hack/images.sh holds /run/autoclint-images.lock"

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }
bud() { # ref dockerfile target build-args...
  local out="$1" file="$2" target="$3"
  shift 3
  local args=() a
  [[ -n "$target" ]] && args+=(--target "$target")
  for a in "$@"; do args+=(--build-arg "$a"); done
  # --layers: unchanged steps (npm ci over an unchanged lock file) come from buildah's cache.
  # Build-time volumes, never part of an image: ~/.npm (npm reuses the host's package cache),
  # and the host's CA bundle with an npmrc pointing at it, so that RUN steps trust the TLS
  # the host trusts (on our machines a proxy's own CA sits between us and the registries);
  # hack/tfjs.sh's wheel cache, so that the tfjs targets find the wheel instead of downloading it.
  mkdir -p "$HOME/.npm" "$images_cache" "$cache/tfjs/wheels"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' >"$images_cache/npmrc"
  nice -n 10 buildah bud --pull=never --isolation chroot --network host --layers \
    --volume "$HOME/.npm:/root/.npm" \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --volume "$images_cache/npmrc:/root/.npmrc:ro" \
    --volume "$cache/tfjs/wheels:/cache/tfjs/wheels" \
    -f "$file" "${args[@]}" -t "$out" "$root" >&2
}

# --- bases ---------------------------------------------------------------------------------

build_base_node() {
  local tarball="$images_cache/base-node-$base_node_key.tar"
  if [[ ! -s "$tarball" ]]; then
    log "debootstrap $suite minbase from $mirror (cached afterwards as $tarball)"
    local rootfs start=$SECONDS
    mkdir -p "$images_cache"
    rootfs="$(mktemp -d "$images_cache/rootfs.XXXXXX")"
    # libstdc++6: node needs it; ca-certificates: TLS to registries from the Dockerfiles' RUN steps.
    nice -n 10 debootstrap --variant=minbase --include=ca-certificates,libstdc++6 "$suite" "$rootfs" "$mirror" >&2
    # Node 20: the host's (NodeSource's) build, laid out as the official node images do, plus
    # distroless's path (/nodejs/bin/node), so the operator Dockerfile's ENTRYPOINT works unchanged.
    install -D -m 755 "$node_bin" "$rootfs/usr/local/bin/node"
    mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/nodejs/bin"
    cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
    ln -sf /usr/local/bin/node "$rootfs/nodejs/bin/node"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*
    tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
    mv -f "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
    log "base-node rootfs: $(du -h "$tarball" | cut -f1) in $((SECONDS - start)) s"
  fi
  local c
  c="$(buildah from --pull=never scratch)"
  buildah add --quiet "$c" "$tarball" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash --label "autoclint.io/base=debian-$suite-minbase+node" "$c"
  buildah commit --quiet --rm "$c" "${ref[base-node]}" >/dev/null
}

build_base_torch() {
  local c
  c="$(buildah from --pull=never "${ref[base-node]}")"
  # Debian's CPU torch; the trainer Dockerfile sees `import torch` work and skips its pip step.
  nice -n 10 buildah run --isolation chroot --network host "$c" -- sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-numpy >/dev/null && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb' >&2
  buildah config --label "autoclint.io/base=debian-$suite-minbase+node+python3-torch" "$c"
  buildah commit --quiet --rm "$c" "${ref[base-torch]}" >/dev/null
}

# --- one binary on scratch (static ones) or on base-node --------------------------------------

binary_image() { # from ref file-to-/usr/local/bin entrypoint-args...
  local from="$1" out="$2" file="$3" c
  shift 3
  c="$(buildah from --pull=never "$from")"
  buildah copy --quiet "$c" "$file" "/usr/local/bin/$(basename "$file")" >/dev/null
  buildah config --cmd "" --env PATH=/usr/local/bin:/usr/bin:/bin --entrypoint "$(printf '%s\n' "/usr/local/bin/$(basename "$file")" "$@" | jq -Rsc 'split("\n")[:-1]')" "$c"
  buildah commit --quiet --rm "$c" "$out" >/dev/null
}

build_pause() {
  local out
  out="$(mktemp -d)"
  gcc -Os -static -o "$out/pause" "$root/hack/real-node/pause.c"
  strip "$out/pause"
  binary_image scratch "${ref[pause]}" "$out/pause"
  rm -rf "$out"
}

build_nats() {
  binary_image scratch "${ref[nats]}" "$nats_bin"
}

build_coredns() {
  binary_image scratch "${ref[coredns]}" "$coredns_bin"
}

build_operator() {
  bud "${ref[operator]}" images/operator/Dockerfile "" \
    "NODE_IMAGE=${ref[base-node]}" "RUNTIME_IMAGE=${ref[base-node]}"
}

build_trainer() {
  bud "${ref[trainer]}" images/trainer/Dockerfile torch \
    "NODE_IMAGE=${ref[base-node]}" "CUDA_IMAGE=${ref[base-torch]}" "WEIGHTS_URL="
}

build_trainer_tfjs() {
  bud "${ref[trainer-tfjs]}" images/trainer/Dockerfile tfjs "NODE_IMAGE=${ref[base-node]}"
}

ensure() { # name
  local name="$1" start=$SECONDS
  case "$name" in
    operator) ensure base-node ;;
    trainer) ensure base-node; ensure base-torch ;;
    trainer-tfjs) ensure base-node ;;
    base-torch) ensure base-node ;;
  esac
  if have_image "${ref[$name]}"; then return 0; fi
  log "building $name as ${ref[$name]}"
  "build_${name//-/_}"
  log "built $name in $((SECONDS - start)) s"
}

# The Go-built binaries first: the images' tags are hashes of them.
if [[ " ${wanted[*]} " == *" nats "* || " ${wanted[*]} " == *" coredns "* ]] && [[ ! -x "$nats_bin" || ! -x "$coredns_bin" ]]; then
  "$root/hack/control-plane/build.sh" >&2
  exec "${BASH_SOURCE[0]}" "$@"
fi
for name in "${wanted[@]}"; do ensure "$name"; done

# --- import into the node's containerd -----------------------------------------------------

if ((import)); then
  sock=/run/containerd/containerd.sock
  [[ -S "$sock" ]] || die "containerd is not running ($sock): bring the real node up first (REAL_NODE=1 hack/cluster-up.sh), or pass --no-import"
  for name in "${wanted[@]}"; do
    [[ "$name" == base-* ]] && continue
    if ctr -a "$sock" -n k8s.io images ls -q | grep -qxF "${ref[$name]}"; then continue; fi
    start=$SECONDS
    tmp="$(mktemp "$images_cache/$name.XXXXXX.tar")"
    buildah push --quiet "${ref[$name]}" "docker-archive:$tmp:${ref[$name]}" >/dev/null
    ctr -a "$sock" -n k8s.io images import "$tmp" >/dev/null
    rm -f "$tmp"
    log "imported $name (${ref[$name]}) into containerd in $((SECONDS - start)) s"
  done
fi

for name in "${wanted[@]}"; do echo "$name=${ref[$name]}"; done
