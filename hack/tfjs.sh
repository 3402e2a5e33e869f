#!/usr/bin/env bash
# Installs the tfjs engine: @tensorflow/tfjs-node 4.22.0 over the TensorFlow 2.18.1 C library taken
# from PyPI's tensorflow-cpu wheel, with its native addon built here by node-gyp. Idempotent and
# cached; called from hack/setup.sh. Prints the install prefix on its last line.
#
#   hack/tfjs.sh            install (a no-op plus a 2 s smoke test when already installed)
#   hack/tfjs.sh --print    print the prefix the trainer loads tfjs-node from, install nothing
#   hack/tfjs.sh --gpu      @tensorflow/tfjs-node-gpu over the CUDA build of the same TensorFlow (PyPI's
#                           tensorflow wheel, 616 MB) instead: what the trainer image's tfjs-gpu target
#                           runs. It builds and passes its smoke test on a CPU (TensorFlow loads its CUDA
#                           libraries only when it finds a GPU); on a GPU it is untested here.
#
# Why a prefix of its own under the cache, not a workspace dependency: tfjs-node's install script
# downloads libtensorflow and a prebuilt addon from storage.googleapis.com, which our machines
# cannot reach, so as a dependency it would break `npm ci`. Here its scripts are skipped, the
# library is laid out in deps/ from the wheel (the install script then skips its download), and the
# addon is built from source against the node headers. The trainer loads it by path
# (trainer/src/engines/tfjs-node.ts; AUTOCLINT_TFJS_NODE overrides the path).
#
# Footprint: the wheel is downloaded once (230 MB, kept in $CACHE/tfjs/wheels so a rebuild does not
# fetch it again); the prefix holds its two shared libraries (680 MB), the C API headers and the npm
# packages (300 MB).
set -euo pipefail
cd "$(dirname "$0")/.."

TFJS_NODE_VERSION=4.22.0   # must match hack/tfjs/package.json and hack/tfjs-gpu/package.json
TF_VERSION=2.18.1
VARIANT=cpu
PRINT=0
for arg in "$@"; do
  case "$arg" in
    --print) PRINT=1 ;;
    --cpu) VARIANT=cpu ;;
    --gpu) VARIANT=gpu ;;
    *) echo "tfjs: unknown argument '$arg' (usage: hack/tfjs.sh [--cpu|--gpu] [--print])" >&2; exit 2 ;;
  esac
done
# The C library does not depend on the Python version: one wheel per variant, pinned by name and
# digest. tensorflow-cpu carries the same libtensorflow_cc.so.2 as the CPU side of the full wheel;
# the full wheel's is built with CUDA.
if [ "$VARIANT" = cpu ]; then
  NPM_NAME=tfjs-node
  LOCK_DIR=hack/tfjs
  WHEEL_PROJECT=tensorflow-cpu
  WHEEL=tensorflow_cpu-${TF_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  WHEEL_SHA256=810c75d7149d2da0cb2092187817b0dcabb80728ca9f9cf3a61f3f42fadd1298
else
  NPM_NAME=tfjs-node-gpu
  LOCK_DIR=hack/tfjs-gpu
  WHEEL_PROJECT=tensorflow
  WHEEL=tensorflow-${TF_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  WHEEL_SHA256=c9f87e5d2a680a4595f5dc30daf6bbaec9d4129b46d7ef1b2af63c46ac7d2828
fi

CACHE=${AUTOCLINT_CACHE:-$HOME/.cache/autoclint}
LAYOUT=1                   # bump when the steps below change what they build
# The prefix is named by what it is built from: a change to the lock, the layout or the node ABI
# builds a new one (and removes the old one of the same variant).
KEY=$( (cat $LOCK_DIR/package-lock.json; echo "$WHEEL $LAYOUT") | sha256sum | cut -c1-12)
PREFIX=$CACHE/tfjs/$NPM_NAME-${TFJS_NODE_VERSION}-tf-${TF_VERSION}-node$(node -p process.versions.modules)-$KEY
PACKAGE=$PREFIX/node_modules/@tensorflow/$NPM_NAME

if [ "$PRINT" = 1 ]; then echo "$PREFIX"; exit 0; fi

say() { echo "tfjs: $*" >&2; }

# The smoke test: the addon loads over the real library, the backend is "tensorflow", and a conv2d's
# gradient with respect to its filter (the kernel plain tfjs-backend-wasm lacks) matches the pure-JS
# CPU backend's.
smoke() {
  node - "$PACKAGE" <<'EOF'
const tf = require(process.argv[2]);
if (tf.getBackend() !== "tensorflow") throw new Error(`backend is ${tf.getBackend()}, not tensorflow`);
const x = tf.randomNormal([2, 9, 9, 3], 0, 1, "float32", 1);
const w = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 2);
const grad = () => tf.grad((f) => tf.conv2d(x, f, 2, "same").square().sum())(w).dataSync();
const native = grad();
tf.setBackend("cpu");
const js = grad();
const diff = Math.max(...native.map((v, i) => Math.abs(v - js[i]) / (1 + Math.abs(js[i]))));
if (!(diff < 1e-4)) throw new Error(`conv2d filter gradient differs from the JS backend by ${diff}`);
console.error(`tfjs: smoke test ok: tfjs-node ${tf.version["tfjs-node"]} over TensorFlow ${tf.engine().findBackend("tensorflow").binding.TF_Version}, conv2d filter gradient within ${diff.toExponential(1)} of the JS backend`);
EOF
}

if [ -f "$PREFIX/.installed" ]; then
  if smoke; then echo "$PREFIX"; exit 0; fi
  say "the installed engine in $PREFIX fails its smoke test: reinstalling"
fi

# The node headers node-gyp compiles the addon against (N-API, so any recent header set works).
NODEDIR=${TFJS_NODEDIR:-/usr}
if [ ! -f "$NODEDIR/include/node/node_api.h" ]; then
  say "no node headers in $NODEDIR/include/node (Debian: apt-get install libnode-dev, or the nodejs package of nodesource); set TFJS_NODEDIR to a node source or headers tree"
  exit 1
fi

WORK=$PREFIX.partial
rm -rf "$WORK"
mkdir -p "$WORK" "$CACHE/tfjs/wheels"

# 1. The npm packages, exactly as locked, without their install scripts (that is the download).
say "installing @tensorflow/$NPM_NAME@$TFJS_NODE_VERSION into $PREFIX (npm, scripts skipped)"
cp $LOCK_DIR/package.json $LOCK_DIR/package-lock.json "$WORK/"
(cd "$WORK" && npm ci --ignore-scripts --no-fund --no-audit --loglevel=error)

# 2. The wheel, once.
if [ ! -f "$CACHE/tfjs/wheels/$WHEEL" ] || ! echo "$WHEEL_SHA256  $CACHE/tfjs/wheels/$WHEEL" | sha256sum -c --status; then
  say "downloading $WHEEL_PROJECT==$TF_VERSION from PyPI (230 MB for the CPU wheel, 616 MB for the GPU one; once)"
  rm -f "$CACHE/tfjs/wheels/$WHEEL"
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 --progress-bar off -d "$CACHE/tfjs/wheels" "$WHEEL_PROJECT==$TF_VERSION" >&2
  echo "$WHEEL_SHA256  $CACHE/tfjs/wheels/$WHEEL" | sha256sum -c --quiet
fi

# 3. deps/: the C library and the C API headers out of the wheel (a zip), named as tfjs-node's
#    install script and binding.gyp look for them.
say "laying out deps/ from the wheel (the C library and headers: 680 MB)"
python3 - "$CACHE/tfjs/wheels/$WHEEL" "$WORK/node_modules/@tensorflow/$NPM_NAME/deps" <<'EOF'
import os, shutil, sys, zipfile
wheel, deps = sys.argv[1:]
libs = {"tensorflow/libtensorflow_cc.so.2": "lib/libtensorflow_cc.so.2",
        "tensorflow/libtensorflow_framework.so.2": "lib/libtensorflow_framework.so.2"}
# The C API's headers and the trees they include from (ctstring*, tsl_status.h ...): 4 MB in all.
headers = tuple(f"tensorflow/include/{tree}/" for tree in ("tensorflow/c", "tensorflow/core/platform", "tsl", "xla/tsl"))
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename in libs:
            target = os.path.join(deps, libs[info.filename])
        elif info.filename.startswith(headers) and not info.is_dir():
            target = os.path.join(deps, "include", info.filename[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
missing = [name for name in libs if not os.path.exists(os.path.join(deps, libs[name]))]
if missing:
    sys.exit(f"tfjs: the wheel lacks {missing}")
EOF
(
  cd "$WORK/node_modules/@tensorflow/$NPM_NAME/deps/lib"
  # the linker's names (-ltensorflow -ltensorflow_framework) and the file whose presence makes
  # tfjs-node's install script skip its download (it was made for libtensorflow 2.9.1)
  ln -sf libtensorflow_cc.so.2 libtensorflow.so
  ln -sf libtensorflow_cc.so.2 libtensorflow.so.2.9.1
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so.2.9.1
)

# 4. The addon, built here (its install script, now with deps/ in place, fetches nothing).
say "building the $NPM_NAME addon with node-gyp (10-60 s)"
if [ "$VARIANT" = cpu ]; then
  (cd "$WORK" && npm_config_build_from_source=true npm_config_nodedir="$NODEDIR" \
    npm rebuild @tensorflow/$NPM_NAME --foreground-scripts --no-fund --no-audit --loglevel=error >&2)
else
  # tfjs-node-gpu's install script is `install.js gpu download`, which downloads whatever deps/ holds:
  # its build step, without "download", builds over the library laid out above.
  (cd "$WORK/node_modules/@tensorflow/$NPM_NAME" && PATH="$WORK/node_modules/.bin:$PATH" \
    npm_config_build_from_source=true npm_config_nodedir="$NODEDIR" node scripts/install.js gpu >&2)
fi

# 5. In place, then the smoke test; only a prefix that passes it is marked installed.
rm -rf "$PREFIX"
mv "$WORK" "$PREFIX"
smoke
touch "$PREFIX/.installed"
# older prefixes of this variant (another lock or script version) are dead weight
find "$CACHE/tfjs" -mindepth 1 -maxdepth 1 -type d -name "$NPM_NAME-[0-9]*" ! -path "$PREFIX" -exec rm -rf {} +
echo "$PREFIX"
