#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: system packages, npm deps, the bundled CLI.
# Re-running it is cheap: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-torch python3-numpy        # the torch engine on CPU (torch 1.13)
  python3-pip g++ make               # the tfjs engine (hack/tfjs.sh): the TensorFlow wheel, the addon build
  dataset-fashion-mnist              # the fashion-mnist builder's source
  nats-server prometheus             # real servers for tests: JetStream, Prometheus and promtool
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-noto-color-emoji unicode-data # rendered datasets
  # The local cluster's real node (hack/real-node.sh) and its images (hack/images.sh): no Docker,
  # no registry. gcc/libc6-dev build the static pause binary.
  containerd runc containernetworking-plugins iptables conntrack buildah debootstrap gcc libc6-dev
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.autoclint-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: installing npm dependencies"
  npm ci --no-fund --no-audit --loglevel=error
  cp package-lock.json "$stamp"
fi

# The tfjs engine: tfjs-node over the C library of PyPI's TensorFlow wheel, in its own prefix
# under the cache (cached; the first time downloads 230 MB and builds the addon in about a minute).
hack/tfjs.sh >/dev/null

node hack/build.mjs
echo "setup: ok"
