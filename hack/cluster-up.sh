#!/usr/bin/env bash
# Brings up a real local Kubernetes control plane for the tests, without Docker: etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler, and kwok, which fakes two GPU
# nodes and plays their kubelet (their pods go Running). All are built from pinned Go modules
# by hack/control-plane/build.sh and cached outside the repo (the first build takes minutes).
#
# Everything listens on 127.0.0.1 only. State lives in .cluster/ at the repository root
# (git-ignored): pki/, etcd/, logs/, pids/, env (the ports) and kubeconfig (cluster-admin).
#
# REAL_NODE=1 adds the machine's one real node (hack/real-node.sh: containerd, kubelet,
# kube-proxy, CoreDNS, a fake GPU device plugin; needs root), where pods really run. The API
# server then also listens on the node's address (10.254.0.1), which pods reach; the kwok nodes
# stay, for scale tests. Default REAL_NODE=0 (`make cluster-up` and `make e2e` set 1).
#
# Idempotent: a running, healthy cluster is left alone; a half-dead one is torn down and
# started afresh. hack/cluster-down.sh stops everything and removes .cluster/.
#
# Environment: AUTOCLINT_CACHE (binary cache, default ~/.cache/autoclint),
# CLUSTER_UP_TIMEOUT (seconds to wait for each readiness step, default 120), REAL_NODE (0 or 1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.cluster"
pki="$state/pki"
logs="$state/logs"
pids="$state/pids"
timeout="${CLUSTER_UP_TIMEOUT:-120}"
started_at=$SECONDS
real_node="${REAL_NODE:-0}"
[[ "$real_node" == 0 || "$real_node" == 1 ]] || { echo "cluster-up: REAL_NODE must be 0 or 1, got '$real_node'" >&2; exit 1; }
# The real node's address (hack/real-node.sh puts it on lo): the API server's second address.
node_ip=10.254.0.1

# The service network: the API server's serving cert carries its first address.
service_cidr="10.96.0.0/16"
service_ip="10.96.0.1"
# The pod network kwok hands addresses out of (nothing routes it; it only fills status).
pod_cidr="10.244.0.1/16"

log() { printf 'cluster-up: %s\n' "$*"; }
die() { printf 'cluster-up: %s\n' "$*" >&2; exit 1; }

# One cluster-up/down at a time per working tree: several engineers share this tree. The lock
# lives outside .cluster/, which cluster-down deletes.
lock="${TMPDIR:-/tmp}/autoclint-cluster-$(printf '%s' "$root" | md5sum | cut -c1-12).lock"
exec 9>"$lock"
if ! flock -w 600 9; then die "another cluster-up/down holds $lock"; fi

# --- what to run ---------------------------------------------------------------------------

# etcd is built too, not Debian's etcd-server: that one (3.4.23) lacks RequestWatchProgress,
# which Kubernetes 1.34's watch-list streams need; kwok's informers then kept losing their
# watches and left pods unprocessed.
command -v kubectl >/dev/null 2>&1 || die "kubectl is not on PATH"
command -v openssl >/dev/null 2>&1 || die "openssl is not on PATH"

bin="$("$root/hack/control-plane/build.sh" --print)"
if [[ ! -x "$bin/etcd" || ! -x "$bin/kube-apiserver" || ! -x "$bin/kube-controller-manager" \
   || ! -x "$bin/kube-scheduler" || ! -x "$bin/kwok" ]] \
   || { [[ "$real_node" == 1 ]] && [[ ! -x "$bin/kubelet" || ! -x "$bin/kube-proxy" || ! -x "$bin/coredns" || ! -x "$bin/fake-gpu-plugin" ]]; }; then
  log "control-plane binaries not cached in $bin; building them (a first build takes 20-40 min)"
  "$root/hack/control-plane/build.sh" | sed 's/^/  /'
fi

# --- process bookkeeping -------------------------------------------------------------------

components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# A pid file names a live component only when that pid still runs the expected binary, so a
# recycled pid is never mistaken for (or killed as) ours.
alive() { # component
  local pid_file="$pids/$1.pid" pid exe
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  [[ "$(basename "${exe% (deleted)}")" == "$1" ]]
}

api_get() { # path: GET on the API server as cluster-admin (client cert)
  curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$API_PORT$1"
}

# What the running cluster was started from: a cluster started by an older version of this
# script or of kwok's stages is not "healthy", it is restarted with the current ones.
fingerprint="$(cat "${BASH_SOURCE[0]}" "$root/hack/control-plane/kwok/stages.yaml" "$root/hack/real-node.sh" | md5sum | cut -c1-12)-$(basename "$bin")-real$real_node"

healthy() {
  [[ -f "$state/env" && -f "$state/kubeconfig" ]] || return 1
  [[ "$(cat "$state/fingerprint" 2>/dev/null)" == "$fingerprint" ]] || return 1
  # shellcheck source=/dev/null
  source "$state/env"
  local c
  for c in "${components[@]}"; do alive "$c" || return 1; done
  if [[ "$real_node" == 1 ]]; then
    for c in containerd kubelet kube-proxy; do alive "$c" || return 1; done
  fi
  [[ "$(api_get /readyz 2>/dev/null)" == "ok" ]]
}

usage() {
  cat <<EOF
cluster-up: the local control plane is up (k8s $("$bin/kube-apiserver" --version 2>/dev/null | awk '{print $2}'), kwok nodes with nvidia.com/gpu).
  export KUBECONFIG=$state/kubeconfig
  kubectl get nodes -L nvidia.com/gpu.product
  API server https://127.0.0.1:$API_PORT, logs in .cluster/logs/, stop with hack/cluster-down.sh
  A ServiceAccount's kubeconfig: hack/cluster-sa-kubeconfig.sh NAMESPACE SA OUT
EOF
}

if healthy; then
  log "already running and healthy; leaving it alone"
  usage
  exit 0
fi
if [[ -d "$state" ]]; then
  log "found a stale or half-started cluster in .cluster/; tearing it down first"
  flock -u 9
  "$root/hack/cluster-down.sh"
  flock -w 600 9 || die "lost the lock to another cluster-up/down"
fi

mkdir -p "$pki" "$logs" "$pids" "$state/etcd" "$state/kubeconfigs"
chmod 700 "$state" "$pki"

# --- ports: free ones on loopback ----------------------------------------------------------

taken=" "
free_port() { # variable first-candidate -> sets the variable to a port nobody listens on and we
  # have not taken (a variable, not $(...): `taken` must outlive the call, a subshell loses it)
  local p
  for ((p = $2; p < $2 + 500; p++)); do
    [[ "$taken" == *" $p "* ]] && continue
    if [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]]; then
      taken+="$p "
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  die "no free port in $2..$(($2 + 499))"
}
# Uncommon starting points, so a second cluster or a developer's own never collides.
free_port ETCD_PORT 23790
free_port ETCD_PEER_PORT 23890
free_port API_PORT 26443
free_port KCM_PORT 20257
free_port SCHED_PORT 20259
cat >"$state/env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
EOF
echo "$fingerprint" >"$state/fingerprint"

# --- PKI -----------------------------------------------------------------------------------

log "generating the CA, serving and client certificates, and the service-account key pair"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
    -subj "/CN=autoclint-local-ca" 2>/dev/null

  sign() { # name subject extended-key-usage [subject-alt-names]
    local name="$1" subj="$2" eku="$3" san="${4:-}"
    {
      echo "basicConstraints=critical,CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      echo "extendedKeyUsage=$eku"
      if [[ -n "$san" ]]; then echo "subjectAltName=$san"; fi
    } >"$name.ext"
    openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
      -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
  }

  sign apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$service_ip,IP:$node_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # Client identities. The scheduler's and controller-manager's names are the ones the RBAC
  # bootstrap policy grants their permissions to.
  sign admin "/O=system:masters/CN=autoclint-admin" clientAuth
  sign kube-scheduler "/CN=system:kube-scheduler" clientAuth
  sign kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
  # kwok plays the kubelet of every fake node at once; the Node authorizer would confine a
  # real kubelet identity (system:node:NAME) to its one node, so kwok runs as an admin.
  sign kwok "/O=system:masters/CN=kwok" clientAuth
  if [[ "$real_node" == 1 ]]; then
    # The real node: the kubelet's identity (the Node authorizer confines it to its node), its
    # serving certificate for the node address, kube-proxy's (bound to system:node-proxier by
    # the bootstrap policy) and the API server's towards kubelets (logs, exec).
    sign kubelet "/O=system:nodes/CN=system:node:autoclint-real-0" clientAuth
    sign kubelet-serving "/CN=autoclint-real-0" serverAuth "IP:$node_ip,DNS:autoclint-real-0"
    sign kube-proxy "/CN=system:kube-proxy" clientAuth
    sign kube-apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
  fi

  # Service-account tokens: the API server signs them with sa.key and checks them with sa.pub.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)

kubeconfig() { # out user
  local out="$1" user="$2"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: autoclint-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$pki/$user.crt")
    client-key-data: $(base64 -w0 "$pki/$user.key")
contexts:
- name: autoclint-local
  context:
    cluster: autoclint-local
    user: $user
current-context: autoclint-local
EOF
  chmod 600 "$out"
}
kubeconfig "$state/kubeconfigs/kube-scheduler" kube-scheduler
kubeconfig "$state/kubeconfigs/kube-controller-manager" kube-controller-manager
kubeconfig "$state/kubeconfigs/kwok" kwok
# The admin kubeconfig is written last (below), once the cluster answers: its presence is
# part of what "healthy" means.

# --- start ---------------------------------------------------------------------------------

start() { # name binary args...
  local name="$1"
  shift
  # setsid: the component outlives this script and the test run that called it, and a
  # Ctrl-C in the caller's terminal does not reach it; cluster-down.sh stops it by pid.
  # 9>&-: the lock's descriptor must not be inherited, or the daemons would hold the lock
  # for their whole life and every later cluster-up/down would wait on it.
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$pids/$name.pid"
}

wait_for() { # what command... : retries until the command succeeds or the timeout passes
  local what="$1" deadline=$((SECONDS + timeout))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${timeout}s waiting for $what (see .cluster/logs/)"
    fi
    sleep 0.5
  done
}

check_alive() { alive "$1" || die "$1 exited at start-up; the end of .cluster/logs/$1.log:
$(tail -n 20 "$logs/$1.log")"; }

log "starting etcd on 127.0.0.1:$ETCD_PORT"
# --unsafe-no-fsync: a throwaway test cluster on a disk shared with other work; losing its
# last writes in a machine crash costs nothing, waiting on fsync costs every test.
start etcd "$bin/etcd" \
  --unsafe-no-fsync \
  --name=autoclint \
  --data-dir="$state/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="autoclint=http://127.0.0.1:$ETCD_PEER_PORT" \
  --logger=zap --log-outputs=stderr --log-level=warn
wait_for etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
check_alive etcd

# Kwok only: 127.0.0.1, and --endpoint-reconciler-type=none: the "kubernetes" Service's
# endpoint would be 127.0.0.1, which Endpoints validation rejects as loopback; nothing dials it.
# With the real node, pods reach the API server through that Service (in-cluster config), so it
# advertises the node address, and it listens on every address (pods cannot reach 127.0.0.1);
# it reaches the kubelet at the node's InternalIP with its own client certificate.
if [[ "$real_node" == 1 ]]; then
  api_addresses=(--bind-address=0.0.0.0 --advertise-address="$node_ip"
    --kubelet-preferred-address-types=InternalIP
    --kubelet-client-certificate="$pki/kube-apiserver-kubelet-client.crt"
    --kubelet-client-key="$pki/kube-apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$pki/ca.crt")
  # The advertised address must exist before the API server starts; real-node.sh owns it and
  # takes it away on down.
  ip -4 address show dev lo | grep -q " $node_ip/" || ip address add "$node_ip/32" dev lo
else
  api_addresses=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
fi
log "starting kube-apiserver on https://127.0.0.1:$API_PORT"
start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --secure-port="$API_PORT" "${api_addresses[@]}" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range="$service_cidr" \
  --profiling=false
wait_for "kube-apiserver /readyz" bash -c "[[ \"\$(curl -fsS --max-time 5 --cacert '$pki/ca.crt' --cert '$pki/admin.crt' --key '$pki/admin.key' https://127.0.0.1:$API_PORT/readyz)\" == ok ]]"
check_alive kube-apiserver

log "starting kube-controller-manager and kube-scheduler"
# Default controller set ("*"): among them the garbage collector (owner references), job,
# namespace, serviceaccount and serviceaccount-token controllers. Each controller uses its own
# service account's credentials, as in a real cluster, so RBAC is exercised for them too.
# --leader-elect=false: a single instance; waiting for a lease would only slow start-up.
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$state/kubeconfigs/kube-controller-manager" \
  --authentication-kubeconfig="$state/kubeconfigs/kube-controller-manager" \
  --authorization-kubeconfig="$state/kubeconfigs/kube-controller-manager" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$pki/kube-controller-manager" \
  --leader-elect=false \
  --controllers='*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --service-cluster-ip-range="$service_cidr" \
  --profiling=false
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig="$state/kubeconfigs/kube-scheduler" \
  --authentication-kubeconfig="$state/kubeconfigs/kube-scheduler" \
  --authorization-kubeconfig="$state/kubeconfigs/kube-scheduler" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
  --leader-elect=false \
  --profiling=false
# Their serving certs are self-signed (in --cert-dir), hence -k; /healthz needs no identity.
wait_for kube-controller-manager curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler curl -fsSk --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz"
check_alive kube-controller-manager
check_alive kube-scheduler

log "starting kwok"
# Only nodes annotated kwok.x-k8s.io/node=fake are kwok's. No --server-address: kwok's
# kubelet-like HTTP server (logs, exec) is not needed, so it opens no port.
# --node-lease-duration-seconds: kwok 0.7's standalone default (0) renews no node Lease and
# posts node status only every 10-20 min, so the node-lifecycle controller would mark the
# nodes NotReady after its 50 s grace period (and taint them). With a lease, kwok renews it
# every 10 s, as a kubelet does.
start kwok "$bin/kwok" \
  --kubeconfig="$state/kubeconfigs/kwok" \
  --config="$root/hack/control-plane/kwok/stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 \
  --cidr="$pod_cidr"
sleep 1
check_alive kwok

# The admin kubeconfig, for us and the tests.
kubeconfig "$state/kubeconfig" admin
export KUBECONFIG="$state/kubeconfig"

log "creating two fake GPU nodes (kwok-gpu-0 with 1 x nvidia.com/gpu, kwok-gpu-1 with 2)"
node() { # name gpus
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: fake-h100-x$2
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.count: "$2"
    nvidia.com/gpu.memory: "81559"
spec: {}
status:
  allocatable:
    cpu: "16"
    memory: 128Gi
    pods: "110"
    ephemeral-storage: 500Gi
    nvidia.com/gpu: "$2"
  capacity:
    cpu: "16"
    memory: 128Gi
    pods: "110"
    ephemeral-storage: 500Gi
    nvidia.com/gpu: "$2"
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
}
{ node kwok-gpu-0 1; echo "---"; node kwok-gpu-1 2; } | kubectl create -f - >/dev/null

wait_for "the kwok nodes to be Ready" kubectl wait --for=condition=Ready node/kwok-gpu-0 node/kwok-gpu-1 --timeout=5s
# Pods in a namespace need its "default" ServiceAccount (the ServiceAccount admission plugin);
# the controller-manager creates it shortly after start.
wait_for "the default ServiceAccount" kubectl -n default get serviceaccount default

if [[ "$real_node" == 1 ]]; then
  "$root/hack/real-node.sh" up "$state"
fi

log "ready in $((SECONDS - started_at)) s"
usage
