#!/usr/bin/env bash
# The whole recipe for bench/pool-startup.ts's table (issue 13): warm pool vs cold start on the
# real node. Brings up this checkout's cluster with the real node (REAL_NODE=1; taken down after),
# builds and imports the images, installs the chart, puts 600 MNIST on a local PV, then runs the
# bench: RUNS cold runs, then RUNS warm runs (pool minWarm 1), one after the other, at T = BUDGET.
# Writes bench/results/$NAME.md. Needs root on the node's machine. Meant to run under the bench
# lock in the protected CPU cgroup; about RUNS x 2 x (BUDGET + ~30 s) plus ~5 min of set-up.
#
#   BUDGET=300 RUNS=2 bench/pool-startup.sh
#
# The kubelet's pods live outside the caller's cgroup (under the kubelet's kubepods cgroup), so
# for the duration their cgroup's cpu.shares is raised to 262144 (the bench cgroup's) and restored
# after; the table's text says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUDGET="${BUDGET:-300}"
RUNS="${RUNS:-2}"
NAME="${NAME:-pool-startup-real-node-cpu-t$BUDGET}"
NS=bench-pool
RELEASE=bench-pool
KC="$PWD/.cluster/kubeconfig"
TAINT=autoclint.io/real-node
kubepods=""
old_shares=""
keeper=""
cleanup() {
  [[ -n "$keeper" ]] && kill "$keeper" 2>/dev/null || true
  [[ -n "$kubepods" && -n "$old_shares" ]] && echo "$old_shares" > "$kubepods/cpu.shares" || true
  hack/cluster-down.sh || true
}
trap cleanup EXIT

REAL_NODE=1 hack/cluster-up.sh
refs="$(hack/images.sh operator trainer nats)"
ref() { sed -n "s/^$1=//p" <<<"$refs"; }
op="$(ref operator)"; tr="$(ref trainer)"; nats="$(ref nats)"

hack/real-node.sh pv "$NS-nats" 1Gi >/dev/null
data="$(hack/real-node.sh pv "$NS-datasets" 1Gi)"
node trainer/bin/autoclint.mjs datasets build mnist --limit 600 --out "$data/mnist"
k() { kubectl --kubeconfig "$KC" "$@"; }
k create namespace "$NS"
k patch pv "$NS-datasets" --type=merge -p "{\"spec\":{\"claimRef\":{\"namespace\":\"$NS\",\"name\":\"datasets\"}}}"
k patch pv "$NS-nats" --type=merge -p "{\"spec\":{\"claimRef\":{\"namespace\":\"$NS\",\"name\":\"data-$RELEASE-nats-0\"}}}"
k apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: datasets, namespace: $NS }
spec: { accessModes: [ReadWriteOnce], storageClassName: autoclint-local, volumeName: $NS-datasets, resources: { requests: { storage: 1Gi } } }
YAML
values="$(mktemp --suffix=.json)"
cat > "$values" <<JSON
{
  "image": { "repository": "${op%:*}", "tag": "${op##*:}", "pullPolicy": "Never" },
  "trainer": { "image": { "repository": "${tr%:*}", "tag": "${tr##*:}", "pullPolicy": "IfNotPresent" } },
  "watchNamespace": "$NS",
  "activeRequeueSeconds": 5,
  "admission": { "allowedTolerationKeys": ["nvidia.com/gpu", "$TAINT"] },
  "nodeSelector": { "$TAINT": "true" },
  "tolerations": [{ "key": "$TAINT", "operator": "Exists", "effect": "NoSchedule" }],
  "nats": {
    "image": { "repository": "${nats%:*}", "tag": "${nats##*:}", "pullPolicy": "Never" },
    "jetstream": { "storageClassName": "autoclint-local", "storageSize": "1Gi" },
    "nodeSelector": { "$TAINT": "true" },
    "tolerations": [{ "key": "$TAINT", "operator": "Exists", "effect": "NoSchedule" }]
  }
}
JSON
"$(hack/helm.sh)" --kubeconfig "$KC" install "$RELEASE" charts/autoclint --namespace "$NS" --values "$values"
k -n "$NS" wait deployment "$RELEASE-operator" --for=condition=Available --timeout=300s
k -n "$NS" rollout status statefulset "$RELEASE-nats" --timeout=300s

# The kubelet's pod cgroup (cgroup v1, cgroupfs driver): as much CPU share as the bench cgroup.
kubepods="$(ls -d /sys/fs/cgroup/cpu/kubepods* 2>/dev/null | head -n 1)"
[[ -n "$kubepods" ]] || { echo "pool.sh: no kubepods cgroup under /sys/fs/cgroup/cpu" >&2; exit 1; }
old_shares="$(cat "$kubepods/cpu.shares")"
echo 262144 > "$kubepods/cpu.shares"
# The kubelet may write its own value back: keep ours while the bench runs.
( while sleep 10; do echo 262144 > "$kubepods/cpu.shares"; done ) &
keeper=$!
echo "pool.sh: $kubepods/cpu.shares $old_shares -> 262144 for the bench" >&2

KUBECONFIG="$KC" timeout $(( (RUNS * 2 * (BUDGET + 240)) + 600 )) node --import tsx bench/pool-startup.ts --namespace "$NS" --runs "$RUNS" --budget "$BUDGET" \
  --name "$NAME" --note "Pods' CPU share: the kubelet's pod cgroup ($kubepods) had cpu.shares 262144 (was $old_shares) for the bench, the same share as the bench cgroup the command ran in."
