#!/usr/bin/env bash
# The same end-to-end set-up as `make cluster-up images` + the real-node suite, for users with
# Docker and kind: a kind cluster, the project's images built with `docker build` from the same
# Dockerfiles (their default, registry-pulled bases), loaded into the kind node, the chart
# installed with them, and a fake GPU so that GPU-requesting trainer pods schedule.
#
# UNTESTED HERE: our build machines have no Docker engine and no image registry, so kind's node
# image (kindest/node) and the Dockerfiles' bases cannot be pulled; see README "On a cluster".
#
#   hack/kind.sh up      # create the cluster "autoclint", build and load the images, helm install
#   hack/kind.sh down    # delete the cluster
#
# Environment: KIND_CLUSTER (default autoclint), NAMESPACE (default autoclint-system),
# TRAINER_BUILD_ARGS (extra docker build args for the trainer, e.g. a CPU-only base).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER:-autoclint}"
namespace="${NAMESPACE:-autoclint-system}"
tag="kind-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)"

die() { printf 'kind.sh: %s\n' "$*" >&2; exit 1; }
for tool in docker kind kubectl; do command -v "$tool" >/dev/null || die "$tool is not on PATH"; done
helm="$(command -v helm || "$root/hack/helm.sh")"

case "${1:-}" in
  down)
    kind delete cluster --name "$cluster"
    exit 0
    ;;
  up) ;;
  *) die "usage: hack/kind.sh up|down" ;;
esac

if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
fi
kubectl config use-context "kind-$cluster" >/dev/null

docker build -f "$root/images/operator/Dockerfile" -t "autoclint/operator:$tag" "$root"
# shellcheck disable=SC2086 # TRAINER_BUILD_ARGS is a list of flags
docker build -f "$root/images/trainer/Dockerfile" ${TRAINER_BUILD_ARGS:-} -t "autoclint/trainer:$tag" "$root"
kind load docker-image --name "$cluster" "autoclint/operator:$tag" "autoclint/trainer:$tag"

# kind nodes have no GPU: advertise two fake nvidia.com/gpu on each node through the status
# subresource (the kubelet keeps extended resources it does not manage). A real GPU cluster runs
# NVIDIA's device plugin instead.
for node in $(kubectl get nodes -o name); do
  kubectl patch "$node" --subresource=status --type=json \
    -p '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"2"}]' >/dev/null
done

"$helm" upgrade --install autoclint "$root/charts/autoclint" --namespace "$namespace" --create-namespace \
  --set image.repository=autoclint/operator --set "image.tag=$tag" --set image.pullPolicy=Never \
  --set trainer.image.repository=autoclint/trainer --set "trainer.image.tag=$tag" --set trainer.image.pullPolicy=IfNotPresent \
  --wait --timeout 5m
echo "kind.sh: ready. kubectl apply -f examples/cluster/pvc-dataset-run.yaml; kubectl get acr -w"
